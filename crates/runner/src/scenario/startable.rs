//! Whatever validation accepts, `run` can start: the configuration each device class would
//! be started with is checked by the fleet's own [`fleetbench_fleet::FleetConfig::validate`]
//! (the function `start` calls), and the embedded gateway's registry size and the process's
//! file descriptors are checked against the scenario. Problems are reported against the
//! scenario's field paths, with the line of the field (or of the table that would hold it).

use std::net::SocketAddr;

use super::error::Diagnostics;
use super::limits::{FD_RESERVE, max_total_devices};
use super::model::{Scenario, Target};
use super::parse::span_of;
use crate::embedded;

/// Reports every reason the run could not start.
pub(crate) fn check(
    scenario: &Scenario,
    text: &str,
    fd_limit: Option<u64>,
    d: &mut Diagnostics<'_>,
) {
    let server = SocketAddr::from(([127, 0, 0, 1], 5683));
    let mut sockets: u64 = 0;
    for (index, class) in scenario.fleet.classes.iter().enumerate() {
        let config = embedded::fleet_config(
            &scenario.fleet,
            class,
            index,
            scenario.seed,
            server,
            &embedded::FleetPlacement::default(),
        );
        if let Err(e) = config.validate() {
            let path = scenario_path(index, e.config_field().as_deref());
            d.push(span_of(text, &path), path, e.to_string());
        }
        sockets = sockets.saturating_add(config.socket_count() as u64);
    }
    let embedded = scenario.target == Target::Embedded;
    if embedded {
        let devices: u64 = scenario
            .fleet
            .classes
            .iter()
            .map(|c| (c.count as u64).saturating_mul(1 + c.sub_devices as u64))
            .fold(0, u64::saturating_add);
        let max = max_total_devices() as u64;
        if devices > max {
            d.push(
                span_of(text, "fleet.classes"),
                "fleet.classes",
                format!(
                    "{devices} devices and sub-devices in all; the embedded gateway keeps at most {max}"
                ),
            );
        }
    }
    if let Some(limit) = fd_limit
        && let Some((field, message)) = fd_budget_problem(scenario, sockets, limit)
    {
        d.push(span_of(text, field), field, message);
    }
}

/// The HTTP connections a run may open at once: the pool (`execution.connections`), and never
/// more than the commands in flight.
pub(crate) fn connection_bound(scenario: &Scenario) -> u64 {
    scenario
        .execution
        .connections
        .min(scenario.execution.max_in_flight) as u64
}

/// Whether the run fits in `limit` open files: one UDP socket per endpoint, one descriptor
/// per HTTP connection (two with the embedded gateway: both ends are in this process) and
/// [`FD_RESERVE`]. Returns the field to blame and the reason.
pub(crate) fn fd_budget_problem(
    scenario: &Scenario,
    endpoints: u64,
    limit: u64,
) -> Option<(&'static str, String)> {
    let per_connection = if scenario.target == Target::Embedded {
        2
    } else {
        1
    };
    let connections = connection_bound(scenario);
    let needed = endpoints
        .saturating_add(connections.saturating_mul(per_connection))
        .saturating_add(FD_RESERVE);
    if needed <= limit {
        return None;
    }
    let field = if endpoints.saturating_add(FD_RESERVE) > limit {
        "fleet.classes"
    } else if scenario.execution.max_in_flight < scenario.execution.connections {
        "execution.max_in_flight"
    } else {
        "execution.connections"
    };
    Some((
        field,
        format!(
            "the run needs about {needed} open files ({endpoints} device sockets + {connections} \
             HTTP connections x{per_connection} + {FD_RESERVE} spare) but the open-file limit \
             (ulimit -n, hard) is {limit}; lower the device count or execution.connections, \
             or raise the limit"
        ),
    ))
}

/// The scenario field a fleet configuration field comes from, for device class `index`.
fn scenario_path(index: usize, fleet_field: Option<&str>) -> String {
    let class = format!("fleet.classes[{index}]");
    let Some(field) = fleet_field else {
        return class;
    };
    match field {
        "lifetime" | "registration_spread" => format!("fleet.{field}"),
        "devices" => format!("{class}.count"),
        "sub_devices" | "endpoint_prefix" | "queue_awake_window" | "update_period"
        | "sub_device_mode" => format!("{class}.{field}"),
        _ => match field.strip_prefix("profile.") {
            Some(rest) => {
                let rest = rest
                    .replace("link.uplink.", "link.")
                    .replace("link.downlink.", "link.");
                let rest = match rest.split_once('.') {
                    Some(("firmware_failures", _)) => "firmware_failures".to_owned(),
                    _ => rest,
                };
                if rest == "error_codes" {
                    format!("{class}.profile")
                } else {
                    format!("{class}.profile.{rest}")
                }
            }
            None => class,
        },
    }
}

/// The process's open-file limit after raising the soft limit to the hard one (what `run`
/// does before starting the fleet); `None` when it cannot be read.
pub(crate) fn open_file_limit() -> Option<u64> {
    fleetbench_fleet::limits::raise_open_file_limit()
        .ok()
        .map(|l| l.soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_in_flight_1e6_at_1e6_per_second_must_fit_the_descriptors() {
        let text = "name = \"fd\"\nduration = \"1s\"\nload = { model = \"constant\", rate = 1e6 }\n\
                    [[fleet.classes]]\nname = \"a\"\ncount = 100\n\
                    [execution]\nmax_in_flight = 1000000\nconnections = 5000\n\
                    [[commands]]\ncommand_type = \"reboot\"\n";
        let s = Scenario::from_str(text, "fd.toml").unwrap_or_else(|e| panic!("{e}"));
        // 100 sockets + 5,000 connections x2 (embedded) + 256 spare; the million commands
        // in flight share the pool.
        assert_eq!(fd_budget_problem(&s, 100, 10_356), None);
        let (field, message) = fd_budget_problem(&s, 100, 10_355).unwrap();
        assert_eq!(field, "execution.connections");
        assert!(message.contains("10356 open files"), "{message}");
        // A fleet that alone does not fit is blamed on the fleet.
        let (field, _) = fd_budget_problem(&s, 1_000_000, 20_000).unwrap();
        assert_eq!(field, "fleet.classes");
    }

    #[test]
    fn fleet_fields_map_to_scenario_paths() {
        for (fleet, scenario) in [
            (Some("lifetime"), "fleet.lifetime"),
            (Some("devices"), "fleet.classes[2].count"),
            (Some("update_period"), "fleet.classes[2].update_period"),
            (
                Some("profile.link.uplink.reorder_delay"),
                "fleet.classes[2].profile.link.reorder_delay",
            ),
            (
                Some("profile.churn.offline_rate_per_hour"),
                "fleet.classes[2].profile.churn.offline_rate_per_hour",
            ),
            (
                Some("profile.firmware_failures.ratio"),
                "fleet.classes[2].profile.firmware_failures",
            ),
            (Some("profile.error_codes"), "fleet.classes[2].profile"),
            (Some("retry"), "fleet.classes[2]"),
            (None, "fleet.classes[2]"),
        ] {
            assert_eq!(scenario_path(2, fleet), scenario, "{fleet:?}");
        }
    }
}
