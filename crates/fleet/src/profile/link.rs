//! Link impairments between a device and everybody else, per direction: loss, duplication
//! and reordering (a held-back datagram is delivered after a drawn extra delay, so that
//! later ones overtake it). Applied by [`crate::impaired::ImpairedTransport`].

use std::time::Duration;

/// Impairments of one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkImpairment {
    /// Fraction (0..=1) of datagrams lost.
    pub loss: f64,
    /// Fraction (0..=1) of datagrams delivered twice.
    pub duplicate: f64,
    /// Fraction (0..=1) of datagrams held back so that later ones overtake them.
    pub reorder: f64,
    /// A held-back datagram is delayed uniformly in `(0, reorder_delay]`.
    pub reorder_delay: Duration,
}

impl Default for LinkImpairment {
    fn default() -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(50),
        }
    }
}

impl LinkImpairment {
    /// Whether it changes nothing.
    pub fn is_perfect(&self) -> bool {
        self.loss == 0.0 && self.duplicate == 0.0 && self.reorder == 0.0
    }
}

/// Impairments of a device's link, per direction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkProfile {
    /// Datagrams the device sends.
    pub uplink: LinkImpairment,
    /// Datagrams the device receives.
    pub downlink: LinkImpairment,
}

impl LinkProfile {
    /// Whether neither direction is impaired.
    pub fn is_perfect(&self) -> bool {
        self.uplink.is_perfect() && self.downlink.is_perfect()
    }
}
