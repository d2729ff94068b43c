//! Counters for `GET /metrics` (Prometheus text format). All lock-free.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::model::{CommandType, Status};

const TYPES: usize = CommandType::ALL.len();

/// Every counter the gateway keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    created: [AtomicU64; TYPES],
    terminal: [[AtomicU64; 2]; TYPES],
    attempts: [AtomicU64; 4],
    rejected_busy: AtomicU64,
    /// LwM2M Register requests accepted.
    pub registrations: AtomicU64,
    /// LwM2M Update requests accepted.
    pub registration_updates: AtomicU64,
    /// LwM2M De-register requests accepted.
    pub deregistrations: AtomicU64,
    /// Registrations whose lifetime lapsed.
    pub registration_expiries: AtomicU64,
    /// Malformed registrations refused.
    pub registrations_rejected: AtomicU64,
    /// Registrations replaced by a Register of the same endpoint name from another address.
    pub registrations_taken_over: AtomicU64,
    /// Updates and De-registers refused because they came from another address than the
    /// registration's (answered 4.04).
    pub registrations_foreign: AtomicU64,
    /// Registers refused by the per-address rate limit (4.29).
    pub registrations_rate_limited: AtomicU64,
    /// Registers refused because the device registry is full (5.03).
    pub registrations_refused_full: AtomicU64,
    /// CoAP retransmissions by the LwM2M server.
    pub coap_retransmissions: AtomicU64,
    /// Observe notifications received.
    pub notifications: AtomicU64,
    /// Events dropped for lagging SSE subscribers.
    pub events_lagged: AtomicU64,
    /// Block2 blocks of stored files served over CoAP (`GET /files/<id>`).
    pub file_blocks_served: AtomicU64,
    /// `/25` discoveries reading a device now (gauge).
    pub discoveries_running: AtomicU64,
    /// `/25` discoveries waiting for their turn (gauge).
    pub discoveries_waiting: AtomicU64,
    /// Targets currently `sent` (slot 0) or `enqueued` (slot 1), by command type (gauge).
    open: [[AtomicI64; 2]; TYPES],
    /// Attempts' wait from start to first transmission (link queue).
    link_queue: WaitHistogram,
}

/// Upper bounds (µs) of the link-queue histogram's buckets; `+Inf` follows.
const WAIT_BOUNDS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];

/// A lock-free Prometheus histogram of waits: cumulative buckets are summed at render time.
#[derive(Debug, Default)]
struct WaitHistogram {
    /// Per-bucket (not cumulative) counts; the last slot is `+Inf`.
    buckets: [AtomicU64; WAIT_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl WaitHistogram {
    fn record(&self, wait: Duration) {
        let us = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        let slot = WAIT_BOUNDS_US
            .iter()
            .position(|bound| us <= *bound)
            .unwrap_or(WAIT_BOUNDS_US.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, "histogram", help);
        let mut cumulative = 0;
        for (slot, count) in self.buckets.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let bound = WAIT_BOUNDS_US
                .get(slot)
                .map_or_else(|| "+Inf".to_owned(), |us| (*us as f64 / 1e6).to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Values read from elsewhere at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Commands with a non-terminal target.
    pub in_flight: usize,
    /// Devices with a live registration.
    pub active_devices: usize,
    /// Known devices.
    pub devices: usize,
    /// Active observations.
    pub observations: usize,
    /// Stored commands.
    pub stored_commands: usize,
}

impl Metrics {
    /// Counts a created command.
    pub fn created(&self, kind: CommandType) {
        self.created[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Moves one target of a `kind` command from open status `from` (none for a new target)
    /// to `to` (none once terminal); only `sent` and `enqueued` are counted.
    pub fn moved(&self, kind: CommandType, from: Option<Status>, to: Option<Status>) {
        let slot = |status| match status {
            Some(Status::Sent) => Some(0),
            Some(Status::Enqueued) => Some(1),
            _ => None,
        };
        if let Some(slot) = slot(from) {
            self.open[kind.index()][slot].fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(slot) = slot(to) {
            self.open[kind.index()][slot].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a target reaching `status` (success or fail).
    pub fn terminal(&self, kind: CommandType, status: Status) {
        let slot = usize::from(status == Status::Fail);
        self.terminal[kind.index()][slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an attempt by outcome.
    pub fn attempt(&self, outcome: crate::model::AttemptOutcome) {
        use crate::model::AttemptOutcome::*;
        let slot = match outcome {
            Success => 0,
            Fail => 1,
            Timeout => 2,
            NoAnswer => 3,
        };
        self.attempts[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long an attempt waited in the gateway (NSTART queueing, per-device
    /// exclusive sections) before its first datagram went on the wire.
    pub fn link_queue_wait(&self, wait: Duration) {
        self.link_queue.record(wait);
    }

    /// Counts a create refused with 429.
    pub fn busy(&self) {
        self.rejected_busy.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the Prometheus text exposition.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        header(
            &mut out,
            "fleetbench_gateway_commands_created_total",
            "counter",
            "Gateway commands created, by type.",
        );
        for kind in CommandType::ALL {
            let _ = writeln!(
                out,
                "fleetbench_gateway_commands_created_total{{command_type=\"{kind}\"}} {}",
                get(&self.created[kind.index()])
            );
        }
        header(
            &mut out,
            "fleetbench_gateway_command_targets_total",
            "counter",
            "Command targets that reached a terminal status, by type and status.",
        );
        for kind in CommandType::ALL {
            for (slot, status) in ["success", "fail"].iter().enumerate() {
                let _ = writeln!(
                    out,
                    "fleetbench_gateway_command_targets_total{{command_type=\"{kind}\",status=\"{status}\"}} {}",
                    get(&self.terminal[kind.index()][slot])
                );
            }
        }
        header(
            &mut out,
            "fleetbench_gateway_command_targets_open",
            "gauge",
            "Command targets currently sent or enqueued, by type and status.",
        );
        for kind in CommandType::ALL {
            for (slot, status) in ["sent", "enqueued"].iter().enumerate() {
                let _ = writeln!(
                    out,
                    "fleetbench_gateway_command_targets_open{{command_type=\"{kind}\",status=\"{status}\"}} {}",
                    self.open[kind.index()][slot].load(Ordering::Relaxed).max(0)
                );
            }
        }
        header(
            &mut out,
            "fleetbench_gateway_attempts_total",
            "counter",
            "Attempts to carry a command to a device, by outcome.",
        );
        for (slot, outcome) in ["success", "fail", "timeout", "no_answer"]
            .iter()
            .enumerate()
        {
            let _ = writeln!(
                out,
                "fleetbench_gateway_attempts_total{{outcome=\"{outcome}\"}} {}",
                get(&self.attempts[slot])
            );
        }
        let counters: [(&str, &str, &AtomicU64); 14] = [
            (
                "fleetbench_gateway_commands_rejected_busy_total",
                "Creates refused with 429.",
                &self.rejected_busy,
            ),
            (
                "fleetbench_gateway_lwm2m_registrations_total",
                "LwM2M Register requests accepted.",
                &self.registrations,
            ),
            (
                "fleetbench_gateway_lwm2m_registration_updates_total",
                "LwM2M Update requests accepted.",
                &self.registration_updates,
            ),
            (
                "fleetbench_gateway_lwm2m_deregistrations_total",
                "LwM2M De-register requests accepted.",
                &self.deregistrations,
            ),
            (
                "fleetbench_gateway_lwm2m_registration_expiries_total",
                "Registrations whose lifetime lapsed.",
                &self.registration_expiries,
            ),
            (
                "fleetbench_gateway_lwm2m_registrations_rejected_total",
                "Malformed registrations refused.",
                &self.registrations_rejected,
            ),
            (
                "fleetbench_gateway_lwm2m_registrations_taken_over_total",
                "Registrations replaced by a Register of the same endpoint from another address.",
                &self.registrations_taken_over,
            ),
            (
                "fleetbench_gateway_lwm2m_registrations_foreign_total",
                "Updates and De-registers refused because they came from another address.",
                &self.registrations_foreign,
            ),
            (
                "fleetbench_gateway_lwm2m_registrations_rate_limited_total",
                "Registers refused by the per-address rate limit.",
                &self.registrations_rate_limited,
            ),
            (
                "fleetbench_gateway_lwm2m_registrations_refused_full_total",
                "Registers refused because the device registry is full.",
                &self.registrations_refused_full,
            ),
            (
                "fleetbench_gateway_coap_retransmissions_total",
                "CoAP retransmissions sent by the LwM2M server.",
                &self.coap_retransmissions,
            ),
            (
                "fleetbench_gateway_observe_notifications_total",
                "Observe notifications received.",
                &self.notifications,
            ),
            (
                "fleetbench_gateway_events_lagged_total",
                "Events dropped for lagging SSE subscribers.",
                &self.events_lagged,
            ),
            (
                "fleetbench_gateway_coap_file_blocks_served_total",
                "Block2 blocks of stored files served over CoAP (package pulls).",
                &self.file_blocks_served,
            ),
        ];
        for (name, help, counter) in counters {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", get(counter));
        }
        let gauges = [
            (
                "fleetbench_gateway_discoveries_running",
                "Object 25 sub-device discoveries reading a device now.",
                get(&self.discoveries_running) as usize,
            ),
            (
                "fleetbench_gateway_discoveries_waiting",
                "Object 25 sub-device discoveries waiting for their turn.",
                get(&self.discoveries_waiting) as usize,
            ),
            (
                "fleetbench_gateway_commands_in_flight",
                "Commands with a non-terminal target.",
                gauges.in_flight,
            ),
            (
                "fleetbench_gateway_commands_stored",
                "Commands held in the store.",
                gauges.stored_commands,
            ),
            (
                "fleetbench_gateway_devices",
                "Known devices (gateways and attached devices).",
                gauges.devices,
            ),
            (
                "fleetbench_gateway_devices_active",
                "Devices with a live LwM2M registration.",
                gauges.active_devices,
            ),
            (
                "fleetbench_gateway_observations_active",
                "Active LwM2M observations.",
                gauges.observations,
            ),
        ];
        for (name, help, value) in gauges {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        self.link_queue.render(
            &mut out,
            "fleetbench_gateway_link_queue_seconds",
            "Wait of an attempt from its start to its first datagram on the wire (NSTART queueing, per-device exclusive sections).",
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits of 40 µs, 700 µs and 9 s land in the 50 µs, 1 ms and `+Inf` buckets; the
    /// buckets are cumulative and the sum is in seconds.
    #[test]
    fn link_queue_waits_render_as_a_cumulative_histogram() {
        let metrics = Metrics::default();
        for us in [40, 700, 9_000_000] {
            metrics.link_queue_wait(Duration::from_micros(us));
        }
        let text = metrics.render(Gauges::default());
        let name = "fleetbench_gateway_link_queue_seconds";
        for line in [
            format!("{name}_bucket{{le=\"0.00005\"}} 1"),
            format!("{name}_bucket{{le=\"0.0005\"}} 1"),
            format!("{name}_bucket{{le=\"0.001\"}} 2"),
            format!("{name}_bucket{{le=\"5\"}} 2"),
            format!("{name}_bucket{{le=\"+Inf\"}} 3"),
            format!("{name}_sum 9.00074"),
            format!("{name}_count 3"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
