//! A device's life beyond requests: reboots (silent downtime, then a fresh CoAP endpoint and
//! a new registration), churn (offline periods and spontaneous reboots at seeded random
//! times), queue mode (reachable only for an awake window after each uplink) and the
//! graceful stop (De-register).

use std::time::Duration;

use fleetbench_lwm2m::coap::{Endpoint, RequestOptions};
use fleetbench_lwm2m::transport::DatagramTransport;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::DeviceDriver;
use crate::profile::{ChurnProfile, exponential_wait};
use crate::seeds::{self, Purpose};
use crate::stats::FleetCounters;

/// Queue mode (LwM2M 1.1 §6.5): after each datagram the device sends it listens for an
/// awake window, and ignores everything it receives the rest of the time.
#[derive(Debug, Clone, Copy)]
pub(super) struct QueueMode {
    window: Duration,
    awake_until: Option<Instant>,
}

impl QueueMode {
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            awake_until: None,
        }
    }

    /// The device sent something at `now`: it stays reachable for the window.
    pub(super) fn uplink(&mut self, now: Instant) {
        self.awake_until = Some(now + self.window);
    }

    /// Whether the device listens at `now`.
    pub(super) fn is_awake(&self, now: Instant) -> bool {
        self.awake_until.is_some_and(|until| now < until)
    }
}

/// The seeded schedule of offline periods and spontaneous reboots.
#[derive(Debug, Clone)]
pub(super) struct Churn {
    profile: ChurnProfile,
    rng: ChaCha8Rng,
    next_offline: Option<Instant>,
    next_reboot: Option<Instant>,
}

impl Churn {
    pub(super) fn new(profile: &ChurnProfile, seed: u64, now: Instant) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let next_offline =
            exponential_wait(&mut rng, profile.offline_rate_per_hour).map(|wait| now + wait);
        let next_reboot =
            exponential_wait(&mut rng, profile.reboot_rate_per_hour).map(|wait| now + wait);
        Self {
            profile: profile.clone(),
            rng,
            next_offline,
            next_reboot,
        }
    }

    /// The next churn event.
    pub(super) fn next_event(&self) -> Option<Instant> {
        match (self.next_offline, self.next_reboot) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// An offline period starting at `now`, if one is due: its end.
    fn offline_due(&mut self, now: Instant) -> Option<Instant> {
        if self.next_offline.is_none_or(|at| at > now) {
            return None;
        }
        let until = now + self.profile.offline_duration.sample(&mut self.rng);
        self.next_offline = exponential_wait(&mut self.rng, self.profile.offline_rate_per_hour)
            .map(|wait| until + wait);
        Some(until)
    }

    /// Whether a spontaneous reboot is due at `now`.
    fn reboot_due(&mut self, now: Instant) -> bool {
        if self.next_reboot.is_none_or(|at| at > now) {
            return false;
        }
        self.next_reboot = exponential_wait(&mut self.rng, self.profile.reboot_rate_per_hour)
            .map(|wait| now + wait);
        true
    }
}

impl<T: DatagramTransport> DeviceDriver<T> {
    /// Starts the churn events due at `now`.
    pub(super) fn churn_events(&mut self, now: Instant) {
        if self.stopping_deadline.is_some() {
            return;
        }
        if let Some(until) = self.churn.offline_due(now) {
            FleetCounters::bump(&self.shared.counters.offline_periods);
            self.offline_until = Some(self.offline_until.map_or(until, |u| u.max(until)));
        }
        if self.churn.reboot_due(now) && self.silent_until.is_none() {
            self.reboot(now);
        }
    }

    /// Goes silent for the reboot downtime: pending replies, observations, transfers and
    /// downloads are lost, the registration is forgotten, and a Register follows when the
    /// device is back — from a fresh CoAP endpoint (new message IDs and tokens, nothing
    /// remembered).
    pub(super) fn reboot(&mut self, now: Instant) {
        FleetCounters::bump(&self.shared.counters.reboots);
        let until = now + self.behaviour.profile().reboot_downtime;
        self.silent_until = Some(until);
        self.delayed.clear();
        self.observations.clear();
        self.downloads.clear();
        for (_, index) in std::mem::take(&mut self.installs) {
            // A sub-device's install completes while its gateway restarts.
            self.device.finish_firmware_update(Some(index));
        }
        self.device.interrupt_transfers();
        self.registration_request = None;
        self.registration.restart(until);
        if let Some(queue) = &mut self.queue {
            *queue = QueueMode::new(queue.window);
        }
        self.set_registered(false);
    }

    /// Back from a reboot: a fresh CoAP endpoint (the old one only got to send the answer
    /// that caused the reboot), and the new firmware if the reboot installed one.
    pub(super) fn wake(&mut self, _now: Instant) {
        self.silent_until = None;
        self.reboots += 1;
        let seed = seeds::derive(self.endpoint_seed, Purpose::Endpoint, self.reboots);
        self.endpoint = Endpoint::new(self.endpoint_config.clone(), seed);
        self.last_retransmissions = 0;
        let updating = self.device.firmware_state(None)
            == Some(crate::model::firmware::FirmwareState::Updating);
        if updating {
            self.device.finish_firmware_update(None);
            FleetCounters::bump(&self.shared.counters.firmware_updates);
        }
    }

    pub(super) fn begin_stop(&mut self, now: Instant) {
        self.stopping_deadline = Some(now + self.deregister_timeout);
        if let Some(request) = self.registration_request.take() {
            self.endpoint.cancel(now, request);
        }
        if self.silent_until.is_some() || self.offline_until.is_some() {
            // Nobody would hear a De-register.
            self.finished = true;
            return;
        }
        match self.registration.deregister() {
            Some(packet) => {
                let id =
                    self.endpoint
                        .send_request(now, self.server, packet, RequestOptions::default());
                self.registration_request = Some(id);
            }
            None => self.finished = true,
        }
    }

    /// Downloads in progress (for tests and counters).
    pub fn downloads_in_progress(&self) -> usize {
        self.downloads.len()
    }
}
