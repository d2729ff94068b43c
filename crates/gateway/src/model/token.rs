//! Unguessable tokens: registration locations (`rd/<token>`) and file download URIs.
//!
//! They come from the thread-local CSPRNG seeded by the OS, not from the scenario seed:
//! they guard access, and no measured result depends on their value. Reproducible
//! (virtual-time) runs use a [`TokenSource`] seeded from the gateway seed instead
//! ([`GatewayConfig::seeded_tokens`](crate::GatewayConfig::seeded_tokens)).

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// 128 random bits as 32 lowercase hex digits.
pub fn unguessable() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

/// Where tokens come from: the OS-seeded CSPRNG (default), or a generator seeded for
/// reproducible runs (guessable by anyone who knows the seed).
#[derive(Debug, Default)]
pub enum TokenSource {
    /// [`unguessable`].
    #[default]
    Os,
    /// A generator seeded from the gateway seed.
    Seeded(Box<Mutex<StdRng>>),
}

impl TokenSource {
    /// Seeded from `seed` when `seeded`, else from the OS.
    pub fn new(seeded: bool, seed: u64) -> Self {
        if seeded {
            TokenSource::Seeded(Box::new(Mutex::new(StdRng::seed_from_u64(seed))))
        } else {
            TokenSource::Os
        }
    }

    /// The next token: 32 lowercase hex digits.
    pub fn next_token(&self) -> String {
        match self {
            TokenSource::Os => unguessable(),
            TokenSource::Seeded(rng) => {
                let bits: u128 = rng.lock().unwrap_or_else(|e| e.into_inner()).random();
                format!("{bits:032x}")
            }
        }
    }
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

    #[test]
    fn seeded_sources_repeat_and_os_sources_do_not() {
        let a = TokenSource::new(true, 7);
        let b = TokenSource::new(true, 7);
        let first = a.next_token();
        assert_eq!(first, b.next_token());
        assert_eq!(first.len(), 32);
        assert_ne!(first, a.next_token());
        assert_ne!(first, TokenSource::new(true, 8).next_token());
        let os = TokenSource::new(false, 7);
        assert_ne!(os.next_token(), os.next_token());
    }
}
