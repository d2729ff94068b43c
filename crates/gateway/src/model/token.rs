//! Unguessable tokens: registration locations (`rd/<token>`) and file download URIs.
//!
//! They come from the thread-local CSPRNG seeded by the OS, not from the scenario seed:
//! they guard access, and no measured result depends on their value.

use rand::RngExt;

/// 128 random bits as 32 lowercase hex digits.
pub fn unguessable() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_hex_digits_and_differ() {
        let a = unguessable();
        let b = unguessable();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
