//! Fleet-wide counters, shared by every device task (atomics, no locks).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest delay the histograms hold, in microseconds (the profile's cap: one hour).
const MAX_RECORDED_US: u64 = 3_600_000_000;

/// The reply delays a fleet applied, in microseconds. Every answered request counts, the
/// ones answered at once (delay 0) included; requests dropped or answered 5.03 for overload
/// do not.
#[derive(Debug, Clone)]
pub struct DelayHistograms {
    /// The delay actually applied: from the request's arrival at the device to its reply
    /// being handed to the socket (µs).
    pub applied: Histogram<u64>,
    /// Applied minus intended delay (µs). A reply never leaves before its intended time, so
    /// this is the lateness.
    pub error_us: Histogram<u64>,
}

impl DelayHistograms {
    /// Empty histograms (1 µs to one hour, 3 significant digits).
    #[allow(clippy::expect_used)] // constant bounds that hdrhistogram accepts (1 < 2 * 1, 3 digits)
    pub fn new() -> Self {
        let histogram =
            || Histogram::new_with_bounds(1, MAX_RECORDED_US, 3).expect("valid constant bounds");
        Self {
            applied: histogram(),
            error_us: histogram(),
        }
    }

    /// Records one reply that was meant to leave `intended` after its request arrived and
    /// left `applied` after it.
    pub fn record(&mut self, applied: Duration, intended: Duration) {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.applied.saturating_record(micros(applied));
        self.error_us
            .saturating_record(micros(applied.saturating_sub(intended)));
    }
}

impl Default for DelayHistograms {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters of what the fleet's devices did. Read them with [`FleetCounters::snapshot`].
#[derive(Debug, Default)]
pub struct FleetCounters {
    pub(crate) requests_received: AtomicU64,
    pub(crate) requests_answered: AtomicU64,
    pub(crate) errors_injected: AtomicU64,
    pub(crate) requests_dropped: AtomicU64,
    pub(crate) overload_rejections: AtomicU64,
    pub(crate) retransmissions: AtomicU64,
    pub(crate) registrations: AtomicU64,
    pub(crate) registration_failures: AtomicU64,
    pub(crate) updates: AtomicU64,
    pub(crate) update_failures: AtomicU64,
    pub(crate) deregistrations: AtomicU64,
    pub(crate) reboots: AtomicU64,
    pub(crate) notifications_sent: AtomicU64,
    pub(crate) socket_errors: AtomicU64,
    pub(crate) notifications_confirmable: AtomicU64,
    pub(crate) offline_periods: AtomicU64,
    pub(crate) dropped_while_offline: AtomicU64,
    pub(crate) dropped_while_asleep: AtomicU64,
    pub(crate) firmware_downloads: AtomicU64,
    pub(crate) firmware_download_failures: AtomicU64,
    pub(crate) firmware_updates: AtomicU64,
    pub(crate) datagrams_lost: AtomicU64,
    pub(crate) datagrams_duplicated: AtomicU64,
    pub(crate) datagrams_reordered: AtomicU64,
    pub(crate) unknown_destination: AtomicU64,
    pub(crate) inbox_overflows: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Server requests received (after CoAP deduplication).
    pub requests_received: u64,
    /// Responses handed to the message layer (successes, LwM2M errors and injected 5.00s).
    pub requests_answered: u64,
    /// Requests answered 5.00 because of the profile's `failure_ratio`.
    pub errors_injected: u64,
    /// Requests dropped without an answer because of the profile's `no_reply_ratio`.
    pub requests_dropped: u64,
    /// Requests answered 5.03 because too many delayed replies were pending.
    pub overload_rejections: u64,
    /// CoAP CON retransmissions the devices sent.
    pub retransmissions: u64,
    /// Successful Registers.
    pub registrations: u64,
    /// Failed Registers (error code, timeout or RST).
    pub registration_failures: u64,
    /// Successful Updates.
    pub updates: u64,
    /// Failed Updates.
    pub update_failures: u64,
    /// De-registers answered (or timed out) at shutdown.
    pub deregistrations: u64,
    /// Reboots executed (`/3/0/4`).
    pub reboots: u64,
    /// Observe notifications sent.
    pub notifications_sent: u64,
    /// Datagrams that could not be sent or received.
    pub socket_errors: u64,
    /// Observe notifications sent confirmable.
    pub notifications_confirmable: u64,
    /// Offline periods started (churn).
    pub offline_periods: u64,
    /// Datagrams lost because the device was offline (in and out).
    pub dropped_while_offline: u64,
    /// Downlink datagrams ignored because the device slept (queue mode).
    pub dropped_while_asleep: u64,
    /// Firmware pull downloads completed.
    pub firmware_downloads: u64,
    /// Firmware pull downloads failed (bad URI, 4.xx, timeout...).
    pub firmware_download_failures: u64,
    /// Firmware updates finished (successful or not).
    pub firmware_updates: u64,
    /// Datagrams dropped by the link impairment (both directions).
    pub datagrams_lost: u64,
    /// Datagrams duplicated by the link impairment.
    pub datagrams_duplicated: u64,
    /// Datagrams held back by the link impairment so that later ones overtook them.
    pub datagrams_reordered: u64,
    /// Datagrams a shared (multiplexed) socket received for an address no device has:
    /// dropped.
    pub unknown_destination: u64,
    /// Datagrams dropped because their device's inbox was full (multiplexed mode).
    pub inbox_overflows: u64,
}

impl FleetCounters {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> FleetStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FleetStats {
            requests_received: get(&self.requests_received),
            requests_answered: get(&self.requests_answered),
            errors_injected: get(&self.errors_injected),
            requests_dropped: get(&self.requests_dropped),
            overload_rejections: get(&self.overload_rejections),
            retransmissions: get(&self.retransmissions),
            registrations: get(&self.registrations),
            registration_failures: get(&self.registration_failures),
            updates: get(&self.updates),
            update_failures: get(&self.update_failures),
            deregistrations: get(&self.deregistrations),
            reboots: get(&self.reboots),
            notifications_sent: get(&self.notifications_sent),
            socket_errors: get(&self.socket_errors),
            notifications_confirmable: get(&self.notifications_confirmable),
            offline_periods: get(&self.offline_periods),
            dropped_while_offline: get(&self.dropped_while_offline),
            dropped_while_asleep: get(&self.dropped_while_asleep),
            firmware_downloads: get(&self.firmware_downloads),
            firmware_download_failures: get(&self.firmware_download_failures),
            firmware_updates: get(&self.firmware_updates),
            datagrams_lost: get(&self.datagrams_lost),
            datagrams_duplicated: get(&self.datagrams_duplicated),
            datagrams_reordered: get(&self.datagrams_reordered),
            unknown_destination: get(&self.unknown_destination),
            inbox_overflows: get(&self.inbox_overflows),
        }
    }
}
