//! Deriving independent seeds for each purpose and each device from the fleet seed.

/// What a derived seed is for; each purpose gets an independent stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// The device's data model (sensor signals, battery).
    Model = 1,
    /// Response delays and injected failures.
    Behaviour = 2,
    /// Registration jitter and back-off.
    Registration = 3,
    /// The CoAP endpoint (message ids, tokens, retransmission jitter).
    Endpoint = 4,
    /// Firmware package outcomes.
    Firmware = 5,
    /// Churn: offline periods and spontaneous reboots.
    Churn = 6,
    /// Link impairments (loss, duplication, reordering).
    Link = 7,
    /// Per-endpoint sub-devices (index within their parent).
    SubDevice = 8,
}

/// A seed for `purpose` of item `index` (device index, sub-device index...), derived from
/// `seed` with SplitMix64 steps so that neighbouring indices give unrelated streams.
pub fn derive(seed: u64, purpose: Purpose, index: u64) -> u64 {
    let mut state = seed;
    for word in [purpose as u64, index] {
        state = splitmix64(state ^ splitmix64(word));
    }
    state
}

/// A uniform draw in `[0, 1)` for `purpose` number `index` of `seed` (a stateless
/// alternative to keeping a generator).
pub fn unit(seed: u64, purpose: Purpose, index: u64) -> f64 {
    (derive(seed, purpose, index) >> 11) as f64 / (1u64 << 53) as f64
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn distinct_per_purpose_index_and_seed() {
        let a = derive(1, Purpose::Model, 0);
        assert_eq!(a, derive(1, Purpose::Model, 0));
        assert_ne!(a, derive(1, Purpose::Model, 1));
        assert_ne!(a, derive(1, Purpose::Behaviour, 0));
        assert_ne!(a, derive(2, Purpose::Model, 0));
    }
}
