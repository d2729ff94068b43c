//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/rest_command_body.rs`)
//! and the corpus replay test (`tests/corpus_replay.rs`), so `cargo test` replays the seed
//! corpus through exactly what the fuzzer runs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::api::json::parse_json;
use crate::clock::Clock;
use crate::config::GatewayConfig;
use crate::engine::CommandRequest;
use crate::engine::validate::{Lookups, validate};
use crate::model::Timestamp;
use crate::model::device::Device;
use crate::state::GatewayState;

/// What one input did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Parsed and validated into a command.
    Accepted,
    /// Refused with a message (parse or validation error).
    Refused,
    /// An invariant broke: the message says which.
    Violated(String),
}

/// Longest error message the API may answer, in characters (the cut plus `…`).
const MAX_MESSAGE_CHARS: usize = crate::api::error::MAX_MESSAGE_CHARS + 1;

struct Fixture {
    state: GatewayState,
    device: Arc<Device>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config = GatewayConfig::default();
        let clock = Clock::anchored(time::macros::datetime!(2030-01-01 0:00 UTC));
        let state = GatewayState::new(&config, clock);
        let now = state.now();
        let make = |unique_id: &str| state.devices.create(&state.ids, unique_id, None, now);
        let device = make("fuzz-device-1").ok();
        let _ = make("fuzz-device-2");
        let device = device.unwrap_or_else(|| unreachable!("a fresh store accepts a device"));
        Fixture { state, device }
    })
}

/// A `POST /gateway_commands` body: parsed as the API parses it, then validated (with the
/// device addressed in the path and without). Refusals must carry a non-empty message that
/// the API answers cut to a bounded length; an accepted command must have at least one target.
pub fn command_body(data: &[u8]) -> Outcome {
    let request: CommandRequest = match parse_json(data) {
        Ok(request) => request,
        Err(error) => return check_message(&error.message),
    };
    let fixture = fixture();
    let state = &fixture.state;
    let lookups = Lookups {
        devices: &state.devices,
        files: &state.files,
        software_updates: &state.software_updates,
        default_timeout: Duration::from_secs(30),
        now: Timestamp::new(state.clock.now_utc()),
        max_schedule_ahead: Duration::from_secs(7 * 86_400),
    };
    let mut outcome = Outcome::Refused;
    for addressed in [None, Some(Arc::clone(&fixture.device))] {
        match validate(lookups, request.clone(), addressed) {
            Ok(spec) if spec.targets.is_empty() => {
                return Outcome::Violated("accepted a command without targets".to_owned());
            }
            Ok(_) => outcome = Outcome::Accepted,
            Err(rejection) => {
                if let Outcome::Violated(why) = check_message(&rejection.to_string()) {
                    return Outcome::Violated(why);
                }
            }
        }
    }
    outcome
}

fn check_message(message: &str) -> Outcome {
    if message.is_empty() {
        Outcome::Violated("an empty error message".to_owned())
    } else if crate::api::error::truncated(message).chars().count() > MAX_MESSAGE_CHARS {
        Outcome::Violated(format!(
            "an answered error message of more than {MAX_MESSAGE_CHARS} characters"
        ))
    } else {
        Outcome::Refused
    }
}
