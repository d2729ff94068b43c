//! Seed derivation: one independent ChaCha stream per purpose, so changing one random choice
//! never shifts another.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Poisson inter-arrival gaps.
    Arrivals = 1,
    /// Which command of the mix.
    CommandChoice = 2,
    /// Which device of the command's target set.
    TargetChoice = 3,
    /// The seeded subset a `fraction` selects.
    TargetSubset = 4,
    /// Seeds handed to the fleet, per device class.
    Fleet = 5,
    /// The embedded gateway's seed (ids, CoAP message ids and tokens).
    Gateway = 6,
}

/// SplitMix64 finaliser: a bijective mix of 64 bits.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from the scenario seed, a purpose and further indices (phase, worker...).
pub fn derive_seed(seed: u64, purpose: Purpose, indices: &[u64]) -> u64 {
    let mut h = mix64(seed ^ mix64(purpose as u64));
    for i in indices {
        h = mix64(h ^ mix64(i.wrapping_add(0x5851_F42D_4C95_7F2D)));
    }
    h
}

/// A ChaCha8 stream for `purpose` and `indices`.
pub fn stream(seed: u64, purpose: Purpose, indices: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive_seed(seed, purpose, indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_purpose_and_index() {
        let a = derive_seed(1, Purpose::Arrivals, &[0]);
        assert_ne!(a, derive_seed(1, Purpose::CommandChoice, &[0]));
        assert_ne!(a, derive_seed(1, Purpose::Arrivals, &[1]));
        assert_ne!(a, derive_seed(2, Purpose::Arrivals, &[0]));
        assert_eq!(a, derive_seed(1, Purpose::Arrivals, &[0]));
    }
}
