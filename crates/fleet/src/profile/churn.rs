//! Churn: devices dropping off the network for a while, and rebooting by themselves.

use std::time::Duration;

use super::DelayDistribution;

/// How often devices go offline or reboot on their own. Events arrive as a Poisson process
/// per device (exponential waiting times), drawn from the device's seed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnProfile {
    /// Offline periods per device and hour (0: never). While offline the socket is silent:
    /// nothing is sent, everything received is lost.
    pub offline_rate_per_hour: f64,
    /// How long an offline period lasts.
    pub offline_duration: DelayDistribution,
    /// Spontaneous reboots per device and hour (0: never), with the profile's reboot downtime.
    pub reboot_rate_per_hour: f64,
}

impl Default for ChurnProfile {
    fn default() -> Self {
        Self {
            offline_rate_per_hour: 0.0,
            offline_duration: DelayDistribution::Fixed(Duration::from_secs(60)),
            reboot_rate_per_hour: 0.0,
        }
    }
}

impl ChurnProfile {
    /// Whether devices never churn.
    pub fn is_none(&self) -> bool {
        self.offline_rate_per_hour == 0.0 && self.reboot_rate_per_hour == 0.0
    }
}
