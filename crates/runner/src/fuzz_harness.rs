//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/scenario_parse.rs`,
//! `fuzz/fuzz_targets/sse_decode.rs`) and the corpus replay test (`tests/corpus_replay.rs`),
//! so `cargo test` replays the seed corpus through exactly what the fuzzer runs.

use tokio::time::Instant;

use crate::api::events::{SseEvent, SseParser, decode};
use crate::scenario::Scenario;

/// What one input did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (a valid scenario; a stream that parsed).
    Accepted,
    /// Refused with an error.
    Refused,
    /// An invariant broke: the message says which.
    Violated(String),
}

/// Scenario text (TOML) through `Scenario::from_str`, validation included. An accepted
/// scenario keeps its source; a refusal names at least one problem.
pub fn scenario(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return Outcome::Refused;
    };
    match Scenario::from_str(text, "fuzz.toml") {
        Ok(scenario) if scenario.source != text => {
            Outcome::Violated("an accepted scenario lost its source text".to_owned())
        }
        Ok(_) => Outcome::Accepted,
        Err(error) if error.to_string().is_empty() => {
            Outcome::Violated("a refusal without a message".to_owned())
        }
        Err(_) => Outcome::Refused,
    }
}

/// An event stream: the first byte picks where the rest is cut in two; fed whole and fed in
/// two chunks, the parser must dispatch the same events (or fail the same way), and every
/// event must decode without panicking.
pub fn sse(data: &[u8]) -> Outcome {
    let Some((&cut, stream)) = data.split_first() else {
        return Outcome::Refused;
    };
    let cut = usize::from(cut).min(stream.len());
    let whole = parse(&[stream]);
    let split = parse(&[&stream[..cut], &stream[cut..]]);
    if whole != split {
        return Outcome::Violated(format!("fed whole: {whole:?}; fed cut at {cut}: {split:?}"));
    }
    let (events, failed) = whole;
    let received = Instant::now();
    for event in &events {
        let _ = decode(event, received);
    }
    if failed {
        Outcome::Refused
    } else {
        Outcome::Accepted
    }
}

fn parse(chunks: &[&[u8]]) -> (Vec<SseEvent>, bool) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for chunk in chunks {
        if parser.feed(chunk, &mut events).is_err() {
            return (events, true);
        }
    }
    (events, false)
}
