//! The address plan of the multiplexed mode: endpoint `n` (devices, then in per-endpoint
//! mode their sub-devices, in start order) gets its own loopback address `127.a.b.c`.
//!
//! `c` runs over 1..=254 (no `.0` or `.255` last octet, to keep addresses unsurprising in
//! captures), `b` over 0..=255 and `a` from 1: 127.0.0.0/24 stays free for servers and for
//! the one-socket-per-device mode. That gives 255 × 256 × 254 = 16,581,120 addresses, far
//! more than [`crate::MAX_DEVICES`].

use std::net::Ipv4Addr;

/// Last octets per /24 (1..=254).
const PER_C: usize = 254;
/// Addresses per /16.
const PER_B: usize = PER_C * 256;
/// How many endpoints the plan can address.
pub const CAPACITY: usize = PER_B * 255;

/// The address of endpoint `index`, or `None` beyond [`CAPACITY`].
pub fn endpoint_ip(index: usize) -> Option<Ipv4Addr> {
    if index >= CAPACITY {
        return None;
    }
    let a = 1 + index / PER_B;
    let b = (index % PER_B) / PER_C;
    let c = 1 + index % PER_C;
    Some(Ipv4Addr::new(
        127,
        u8::try_from(a).ok()?,
        u8::try_from(b).ok()?,
        u8::try_from(c).ok()?,
    ))
}

/// The endpoint index that owns `ip`, or `None` when `ip` is outside the plan.
pub fn endpoint_index(ip: Ipv4Addr) -> Option<usize> {
    let [first, a, b, c] = ip.octets();
    if first != 127 || a == 0 || c == 0 || c == 255 {
        return None;
    }
    Some((usize::from(a) - 1) * PER_B + usize::from(b) * PER_C + usize::from(c) - 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_addresses() {
        assert_eq!(endpoint_ip(0), Some(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(endpoint_ip(253), Some(Ipv4Addr::new(127, 1, 0, 254)));
        assert_eq!(endpoint_ip(254), Some(Ipv4Addr::new(127, 1, 1, 1)));
        assert_eq!(endpoint_ip(PER_B), Some(Ipv4Addr::new(127, 2, 0, 1)));
        assert_eq!(
            endpoint_ip(CAPACITY - 1),
            Some(Ipv4Addr::new(127, 255, 255, 254))
        );
        assert_eq!(endpoint_ip(CAPACITY), None);
        const { assert!(CAPACITY > crate::MAX_DEVICES) };
    }

    #[test]
    fn the_plan_round_trips_and_rejects_foreign_addresses() {
        for index in (0..2_000_000)
            .step_by(997)
            .chain([0, 253, 254, CAPACITY - 1])
        {
            let ip = endpoint_ip(index).unwrap();
            assert_eq!(endpoint_index(ip), Some(index), "{ip}");
        }
        for ip in [
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(127, 1, 0, 0),
            Ipv4Addr::new(127, 1, 0, 255),
            Ipv4Addr::new(10, 1, 0, 1),
        ] {
            assert_eq!(endpoint_index(ip), None, "{ip}");
        }
    }
}
