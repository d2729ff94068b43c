//! Scenarios: the TOML file format, its validation, and the validated model.
//!
//! Loading never panics: every problem is reported as a [`Diagnostic`] naming the line, the
//! field and the reason, and all problems are reported at once.

mod checks;
mod commands;
mod error;
pub mod limits;
mod model;
mod parse;
mod raw;
mod settings;
mod startable;
pub mod threshold;
mod validate;

use std::io::Read;
use std::path::Path;

pub use error::{Diagnostic, ScenarioError};
pub use fleetbench_fleet::{
    ChurnSpec as Churn, DelaySpec as Delay, LinkSpec as Link, ProfileSpec as Profile, SubDeviceMode,
};
pub use limits::{MAX_CONCURRENCY, MAX_DEVICES_PER_CLASS, MAX_RATE, MAX_SUB_DEVICES};
pub use model::{
    CommandSpec, CompletionMode, DEFAULT_EPOCH, DeviceClass, ExecutionSettings, Fleet, LoadModel,
    Package, Phase, PollSettings, RampStage, RelativeSchedule, RetryOptions, RetryStrategy,
    RunMode, Scenario, SubDeviceRoute, Target, TargetKindSelector, TargetSelector,
};
pub use settings::check_base_url;
pub use threshold::{CompareOp, CountMetric, Metric, SeriesFilter, Stat, Threshold, TimeMetric};

/// The JSON Schema (draft-07) of the scenario file, generated from the types that read it;
/// `docs/scenario.schema.json` is this, pretty-printed (a test keeps it so).
pub fn json_schema() -> serde_json::Value {
    // Optional keys also admit `null`, which TOML cannot write.
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<raw::ScenarioFile>();
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}

/// Largest accepted scenario file, in bytes.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;

impl Scenario {
    /// Reads and validates a scenario file; errors are reported against the file name.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let io = |source| ScenarioError::Io {
            path: path.to_owned(),
            source,
        };
        // Read at most one byte more than allowed: metadata lengths lie (`/dev/zero`, pipes).
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_SCENARIO_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_SCENARIO_BYTES {
            return Err(ScenarioError::Invalid {
                origin: path.display().to_string(),
                diagnostics: vec![Diagnostic {
                    line: None,
                    field: String::new(),
                    message: format!(
                        "file is larger than {MAX_SCENARIO_BYTES} bytes, the limit for scenarios"
                    ),
                }],
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text ({e})"),
            ))
        })?;
        let origin = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Scenario::from_str(&text, &origin)
    }

    /// Validates scenario text; `origin` names it in error messages (e.g. `smoke.toml`).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let mut diags = error::Diagnostics::new(text);
        let scenario = parse::split_document(text, &mut diags)
            .and_then(|doc| validate::validate(doc, origin, &mut diags));
        if let Some(s) = scenario.as_ref().filter(|_| diags.is_empty()) {
            startable::check(s, text, startable::open_file_limit(), &mut diags);
        }
        match scenario {
            Some(mut s) if diags.is_empty() => {
                s.source = text.to_owned();
                Ok(s)
            }
            _ => {
                let mut diagnostics = diags.into_sorted();
                if diagnostics.is_empty() {
                    diagnostics.push(Diagnostic {
                        line: None,
                        field: String::new(),
                        message: "invalid scenario".to_owned(),
                    });
                }
                Err(ScenarioError::Invalid {
                    origin: origin.to_owned(),
                    diagnostics,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
