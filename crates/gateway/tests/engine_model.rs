//! Model test of the command lifecycle: random schedules, timeouts, retry options and scripted
//! device behaviours, run under tokio's paused clock (no real time passes), compared exactly
//! (attempt times to the microsecond, outcomes, statuses and messages) with an independent
//! reference model written from the documented semantics (`engine_model/reference.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fleetbench_gateway::GatewayConfig;
use fleetbench_gateway::clock::Clock;
use fleetbench_gateway::engine::link::NO_ANSWER_PREFIX;
use fleetbench_gateway::engine::{
    CommandRequest, DeviceLink, DeviceOperation, DeviceRoute, Engine, EngineConfig, LinkError,
    Observation, OperationOutcome,
};
use fleetbench_gateway::model::{
    AttemptOutcome, Lwm2mRegistration, ObjectId, Status, StatusEntry, Timestamp,
};
use fleetbench_gateway::state::GatewayState;
use fleetbench_gateway::store::devices::SubDeviceInfo;
use fleetbench_lwm2m::path::Lwm2mPath;
use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

#[path = "engine_model/reference.rs"]
mod reference;

use reference::{Behaviour, Delay, Ending, Inputs, Path, Prediction};

/// Endpoint and prefix of a route.
type RouteKey = (String, Option<String>);

#[derive(Default)]
struct ScriptedLink {
    scripts: Mutex<HashMap<RouteKey, Vec<Behaviour>>>,
    calls: Mutex<HashMap<RouteKey, usize>>,
}

impl DeviceLink for ScriptedLink {
    async fn execute(
        &self,
        target: &DeviceRoute,
        _operation: DeviceOperation,
    ) -> Result<OperationOutcome, LinkError> {
        let key = (target.endpoint.clone(), target.prefix.clone());
        let behaviour = {
            let mut calls = self.calls.lock().unwrap();
            let call = calls.entry(key.clone()).or_default();
            let script = self
                .scripts
                .lock()
                .unwrap()
                .get(&key)
                .cloned()
                .unwrap_or_default();
            let behaviour = script
                .get(*call)
                .or(script.last())
                .copied()
                .unwrap_or(Behaviour::Answer(0));
            *call += 1;
            behaviour
        };
        match behaviour {
            Behaviour::Answer(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(OperationOutcome {
                    code: "2.04".into(),
                    content_format: None,
                    payload: Bytes::new(),
                })
            }
            Behaviour::Error(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Err(LinkError::Rejected {
                    code: "5.00".into(),
                    reason: "Internal Server Error".into(),
                    diagnostic: String::new(),
                })
            }
            Behaviour::Never => std::future::pending().await,
            Behaviour::Deregister(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Err(LinkError::Deregistered {
                    endpoint: target.endpoint.clone(),
                })
            }
            Behaviour::NoAnswer(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Err(LinkError::NoAnswer {
                    endpoint: target.endpoint.clone(),
                    detail: "no response after every CoAP retransmission".into(),
                })
            }
        }
    }

    async fn observe(
        &self,
        target: &DeviceRoute,
        _path: Lwm2mPath,
    ) -> Result<Observation, LinkError> {
        Err(LinkError::NotRegistered {
            endpoint: target.endpoint.clone(),
        })
    }
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        4 => (0u64..5_000).prop_map(Behaviour::Answer),
        3 => (0u64..5_000).prop_map(Behaviour::Error),
        2 => Just(Behaviour::Never),
        1 => (0u64..5_000).prop_map(Behaviour::Deregister),
        1 => (0u64..5_000).prop_map(Behaviour::NoAnswer),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    timeout: u64,
    retry: Option<(Option<u64>, u32, Option<serde_json::Value>)>,
    schedule: Option<(i64, Option<i64>, Option<u64>)>,
    attached: usize,
    scripts: Vec<Vec<Behaviour>>,
}

fn strategy_json() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        (0u64..10).prop_map(|i| json!({"type": "fixed", "fixed_interval": i})),
        (1u64..5, 1u64..4, proptest::option::of(1u64..30)).prop_map(|(base, mult, max)| {
            let mut strategy = json!({"type": "exponential", "exponential_base_interval": base, "exponential_multiplier": mult});
            if let Some(max) = max {
                strategy["exponential_max_interval"] = json!(max);
            }
            strategy
        }),
    ]
}

fn general_case() -> impl Strategy<Value = Case> {
    (
        1u64..60,
        proptest::option::of((
            proptest::option::of(1u64..20),
            0u32..5,
            proptest::option::of(strategy_json()),
        )),
        proptest::option::of((
            -20i64..30,
            proptest::option::of(-10i64..60),
            proptest::option::of(0u64..10),
        )),
        0usize..3,
        proptest::collection::vec(proptest::collection::vec(behaviour(), 1..6), 3),
    )
        .prop_map(|(timeout, retry, schedule, attached, scripts)| Case {
            timeout,
            retry,
            schedule,
            attached,
            scripts,
        })
}

/// The window closed before the command could start (start in the past, end at or before now).
fn window_closed_case() -> impl Strategy<Value = Case> {
    (general_case(), 2i64..30).prop_flat_map(|(case, ago)| {
        (Just(case), Just(ago), 1i64..=ago).prop_map(|(mut case, ago, length)| {
            case.schedule = Some((-ago, Some(length), None));
            case
        })
    })
}

/// Quick failures and long retry delays: the next retry would start after the deadline.
fn no_time_left_case() -> impl Strategy<Value = Case> {
    (
        general_case(),
        1u64..20,
        1u32..5,
        10u64..60,
        proptest::collection::vec(
            prop_oneof![
                (0u64..2_000).prop_map(Behaviour::Error),
                (0u64..2_000).prop_map(Behaviour::NoAnswer),
            ],
            1..4,
        ),
    )
        .prop_map(|(mut case, timeout, retries, interval, script)| {
            case.timeout = timeout;
            case.schedule = None;
            case.retry = Some((
                None,
                retries,
                Some(json!({"type": "fixed", "fixed_interval": interval})),
            ));
            case.scripts = vec![script; 3];
            case
        })
}

/// The command deadline passes while an attempt is running, or a device answers exactly at
/// a deadline.
fn deadline_case() -> impl Strategy<Value = Case> {
    (general_case(), 1u64..20, 0u64..3).prop_map(|(mut case, timeout, extra_ms)| {
        case.timeout = timeout;
        case.schedule = None;
        let at_deadline = timeout * 1000 + extra_ms.saturating_sub(1);
        case.scripts = vec![
            vec![Behaviour::Never],
            vec![Behaviour::Answer(at_deadline)],
            vec![Behaviour::Error(at_deadline)],
        ];
        case
    })
}

/// A short window with a long timeout and failing attempts: the window closes before a retry.
fn window_closes_case() -> impl Strategy<Value = Case> {
    (general_case(), 0i64..5, 3i64..15, 1u64..6, 2u32..6).prop_map(
        |(mut case, start, length, interval, retries)| {
            case.timeout = 60;
            case.schedule = Some((start, Some(length), None));
            case.retry = Some((
                None,
                retries,
                Some(json!({"type": "fixed", "fixed_interval": interval})),
            ));
            case.scripts = vec![vec![Behaviour::Error(500)]; 3];
            case
        },
    )
}

/// Instant failures and a timeout that is a multiple of the retry interval: a retry falls
/// exactly on the command deadline (it must not start).
fn retry_on_the_deadline_case() -> impl Strategy<Value = Case> {
    (general_case(), 1u64..5, 1u64..4, 0u32..3).prop_map(|(mut case, interval, m, spare)| {
        case.timeout = interval * m;
        case.schedule = None;
        case.retry = Some((
            None,
            m as u32 + spare,
            Some(json!({"type": "fixed", "fixed_interval": interval})),
        ));
        case.scripts = vec![vec![Behaviour::Error(0)]; 3];
        case
    })
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        1 => retry_on_the_deadline_case(),
        6 => general_case(),
        1 => window_closed_case(),
        2 => no_time_left_case(),
        1 => deadline_case(),
        1 => window_closes_case(),
    ]
}

const ANCHOR: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

fn registration(endpoint: &str) -> Lwm2mRegistration {
    Lwm2mRegistration {
        endpoint: endpoint.into(),
        prefix: None,
        registration_id: Some("rd/1".into()),
        address: None,
        lifetime: Some(300),
        binding: None,
        lwm2m_version: None,
        queue_mode: false,
        objects: String::new(),
        registered_at: None,
        last_update_at: None,
        expires_at: None,
    }
}

async fn run_case(case: Case) -> Result<(), TestCaseError> {
    let state = Arc::new(GatewayState::new(
        &GatewayConfig::default(),
        Clock::anchored(ANCHOR),
    ));
    let link = Arc::new(ScriptedLink::default());
    let engine = Engine::new(
        state.clone(),
        link.clone(),
        EngineConfig {
            default_timeout: Duration::from_secs(30),
            max_in_flight: 100,
            max_observations: 10,
            max_schedule_ahead: Duration::from_secs(7 * 86_400),
        },
    );
    let gateway = state
        .devices
        .upsert_registered(&state.ids, registration("gw"), state.now())
        .unwrap();
    let subs: Vec<SubDeviceInfo> = (0..case.attached)
        .map(|k| SubDeviceInfo {
            device_id: format!("gw-sub{k}"),
            prefix: format!("dev{k}"),
            objects: String::new(),
        })
        .collect();
    let attached = state
        .devices
        .set_sub_devices(&state.ids, &gateway, &subs, state.now())
        .unwrap();
    {
        let mut scripts = link.scripts.lock().unwrap();
        scripts.insert(("gw".into(), None), case.scripts[0].clone());
        for (k, script) in case.scripts.iter().skip(1).enumerate().take(case.attached) {
            scripts.insert(("gw".into(), Some(format!("dev{k}"))), script.clone());
        }
    }
    let mut request = CommandRequest {
        command_type: Some("reboot".into()),
        device_id: Some(gateway.to_string()),
        timeout: Some(case.timeout.into()),
        ..Default::default()
    };
    if case.attached > 0 {
        request.attached_device_ids = Some(attached.iter().map(ObjectId::to_string).collect());
    }
    if let Some((attempt_timeout, max_retries, strategy)) = &case.retry {
        let mut options = json!({"max_retries": max_retries});
        if let Some(t) = attempt_timeout {
            options["timeout"] = json!(t);
        }
        if let Some(s) = strategy {
            options["retry_strategy"] = s.clone();
        }
        request.retry_options = Some(options);
    }
    let mut start_at = None;
    let mut end_at = None;
    if let Some((start, end, interval)) = case.schedule {
        let start = ANCHOR + time::Duration::seconds(start);
        let mut schedule = json!({"start_datetime": Timestamp::new(start).to_string()});
        start_at = Some(start);
        if let Some(end) = end {
            let end = start + time::Duration::seconds(end.max(1));
            schedule["end_datetime"] = json!(Timestamp::new(end).to_string());
            end_at = Some(end);
        }
        if let Some(interval) = interval {
            schedule["retry_interval"] = json!(format!("{interval}s"));
        }
        request.schedule = Some(schedule);
    }
    let record = engine
        .submit(request, None)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let created = record.created_at;
    let bound = tokio::time::timeout(Duration::from_secs(100_000), async {
        while !record.is_complete() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    prop_assert!(bound.await.is_ok(), "command never completed");
    prop_assert_eq!(engine.in_flight(), 0);

    let targets = if case.attached > 0 { case.attached } else { 1 };
    for index in 0..targets {
        let (_, entry): (ObjectId, StatusEntry) = record.entry(index).unwrap();
        let prediction = reference::predict(&inputs_of(&case, index, start_at, end_at, created));
        compare(&entry, created, &prediction)?;
    }
    Ok(())
}

/// The reference model's inputs for target `index` of `case`.
fn inputs_of(
    case: &Case,
    index: usize,
    start_at: Option<OffsetDateTime>,
    end_at: Option<OffsetDateTime>,
    created: Timestamp,
) -> Inputs {
    let us_from_created = |t: OffsetDateTime| (t - created.get()).whole_microseconds() as i64;
    let interval = case.schedule.and_then(|s| s.2);
    let (attempt_timeout_s, max_retries, strategy) = match &case.retry {
        Some((timeout, n, strategy)) => (*timeout, *n, strategy.clone()),
        // Documented: a retry_interval without max_retries retries until the window closes
        // (bounded by the max_retries limit, 100).
        None if interval.is_some() => (None, 100, None),
        None => (None, 0, None),
    };
    let delay = match strategy {
        Some(s) if s["type"] == "fixed" => Delay::Fixed(s["fixed_interval"].as_u64().unwrap()),
        Some(s) => Delay::Exponential {
            base: s["exponential_base_interval"].as_u64().unwrap(),
            multiplier: s["exponential_multiplier"].as_u64().unwrap(),
            max: s.get("exponential_max_interval").and_then(|m| m.as_u64()),
        },
        None => Delay::Fixed(interval.unwrap_or(0)),
    };
    let script = if case.attached > 0 {
        case.scripts[index + 1].clone()
    } else {
        case.scripts[0].clone()
    };
    Inputs {
        timeout_s: case.timeout,
        attempt_timeout_s,
        max_attempts: 1 + max_retries,
        delay,
        start_us: start_at.map(us_from_created),
        end_us: end_at.map(us_from_created),
        end_text: end_at
            .map(|e| Timestamp::new(e).to_string())
            .unwrap_or_default(),
        script,
        endpoint: "gw".to_owned(),
    }
}

fn us_between(from: Timestamp, to: Timestamp) -> i64 {
    (to.get() - from.get()).whole_microseconds() as i64
}

/// The engine's record of a target against the reference model's prediction, exactly.
fn compare(
    entry: &StatusEntry,
    created: Timestamp,
    want: &Prediction,
) -> Result<(), TestCaseError> {
    let context = || format!("predicted {want:#?}\ngot {entry:#?}");
    let first = entry.transitions.first().map(|t| t.status);
    let expected_first = if want.enqueued_first {
        Status::Enqueued
    } else {
        Status::Sent
    };
    prop_assert_eq!(first, Some(expected_first), "{}", context());
    let sent_after_enqueued = entry
        .transitions
        .iter()
        .skip(1)
        .find(|t| t.status == Status::Sent)
        .map(|t| us_between(created, t.at));
    prop_assert_eq!(sent_after_enqueued, want.sent_us, "{}", context());
    let terminal: Vec<_> = entry
        .transitions
        .iter()
        .filter(|t| t.status.is_terminal())
        .collect();
    prop_assert_eq!(terminal.len(), 1, "one terminal transition: {}", context());
    prop_assert!(
        entry
            .transitions
            .last()
            .is_some_and(|t| t.status.is_terminal())
    );
    prop_assert_eq!(
        us_between(created, terminal[0].at),
        want.terminal_us,
        "terminal time: {}",
        context()
    );
    let status = if want.success {
        Status::Success
    } else {
        Status::Fail
    };
    prop_assert_eq!(entry.status, status, "{}", context());
    prop_assert_eq!(&entry.status_message, &want.message, "{}", context());
    prop_assert_eq!(entry.attempts.len(), want.attempts.len(), "{}", context());
    for (got, predicted) in entry.attempts.iter().zip(&want.attempts) {
        let outcome = match predicted.ending {
            Ending::Success => AttemptOutcome::Success,
            Ending::Fail => AttemptOutcome::Fail,
            Ending::Timeout => AttemptOutcome::Timeout,
            Ending::NoAnswer => AttemptOutcome::NoAnswer,
        };
        prop_assert_eq!(got.number, predicted.number);
        prop_assert_eq!(
            us_between(created, got.started_at),
            predicted.started_us,
            "attempt {} start: {}",
            got.number,
            context()
        );
        prop_assert_eq!(
            us_between(created, got.ended_at),
            predicted.ended_us,
            "attempt {} end: {}",
            got.number,
            context()
        );
        prop_assert_eq!(
            got.outcome,
            outcome,
            "attempt {}: {}",
            got.number,
            context()
        );
        prop_assert_eq!(&got.message, &predicted.message);
        prop_assert_eq!(
            got.outcome == AttemptOutcome::NoAnswer,
            got.message.starts_with(NO_ANSWER_PREFIX)
        );
    }
    Ok(())
}

/// The proptest settings: a fixed seed, so every run explores the same cases (failures are
/// still persisted to the committed regressions file).
fn fixed(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x2026_1129),
        ..ProptestConfig::default()
    }
}

/// Each rare path of the lifecycle occurs in at least 5 % of the generated targets, so the
/// property test above really exercises it. Prints the coverage table.
#[test]
fn the_generator_covers_every_path_of_the_lifecycle() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::new(fixed(1));
    let strategy = case();
    let mut counts: std::collections::BTreeMap<Path, usize> = Default::default();
    let mut total = 0;
    for _ in 0..2000 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let created = Timestamp::new(ANCHOR);
        let (start_at, end_at) = match case.schedule {
            Some((start, end, _)) => {
                let start = ANCHOR + time::Duration::seconds(start);
                (
                    Some(start),
                    end.map(|e| start + time::Duration::seconds(e.max(1))),
                )
            }
            None => (None, None),
        };
        let targets = if case.attached > 0 { case.attached } else { 1 };
        for index in 0..targets {
            let prediction =
                reference::predict(&inputs_of(&case, index, start_at, end_at, created));
            *counts.entry(prediction.path).or_default() += 1;
            total += 1;
        }
    }
    println!("lifecycle path coverage over {total} targets:");
    for (path, count) in &counts {
        println!(
            "  {path:<24?} {count:>5}  {:5.1} %",
            100.0 * *count as f64 / total as f64
        );
    }
    for path in [
        Path::Success,
        Path::WindowClosedBeforeStart,
        Path::WindowClosesBeforeRetry,
        Path::NoTimeLeft,
        Path::DeadlineMidAttempt,
        Path::AttemptsUsedUp,
    ] {
        let share = counts.get(&path).copied().unwrap_or(0) as f64 / total as f64;
        assert!(
            share >= 0.05,
            "{path:?} in only {:.1} % of targets",
            share * 100.0
        );
    }
}

proptest! {
    #![proptest_config(fixed(256))]

    #[test]
    fn the_engine_does_what_the_reference_model_predicts(case in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(run_case(case))?;
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_device_fails_with_timeout_at_the_deadline() {
    let case = Case {
        timeout: 7,
        retry: None,
        schedule: None,
        attached: 0,
        scripts: vec![vec![Behaviour::Never]; 3],
    };
    run_case(case).await.unwrap();
}

/// `schedule.retry_interval` without `retry_options`: retry every interval until the window
/// closes (our documented semantics), then fail with the last error.
#[tokio::test(start_paused = true)]
async fn retry_interval_retries_until_the_window_closes() {
    let state = Arc::new(GatewayState::new(
        &GatewayConfig::default(),
        Clock::anchored(ANCHOR),
    ));
    let link = Arc::new(ScriptedLink::default());
    let engine = Engine::new(
        state.clone(),
        link.clone(),
        EngineConfig {
            default_timeout: Duration::from_secs(30),
            max_in_flight: 10,
            max_observations: 10,
            max_schedule_ahead: Duration::from_secs(7 * 86_400),
        },
    );
    let gateway = state
        .devices
        .upsert_registered(&state.ids, registration("gw"), state.now())
        .unwrap();
    link.scripts
        .lock()
        .unwrap()
        .insert(("gw".into(), None), vec![Behaviour::Error(0)]);
    let start = ANCHOR + time::Duration::seconds(10);
    let end = start + time::Duration::seconds(9);
    let request = CommandRequest {
        command_type: Some("send_config".into()),
        device_id: Some(gateway.to_string()),
        timeout: Some(60.into()),
        schedule: Some(json!({
            "start_datetime": Timestamp::new(start).to_string(),
            "end_datetime": Timestamp::new(end).to_string(),
            "retry_interval": "2s",
        })),
        ..Default::default()
    };
    let record = engine.submit(request, None).unwrap();
    assert_eq!(record.entry(0).unwrap().1.status, Status::Enqueued);
    tokio::time::timeout(Duration::from_secs(100), async {
        while !record.is_complete() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    let entry = record.entry(0).unwrap().1;
    let starts: Vec<f64> = entry
        .attempts
        .iter()
        .map(|a| (a.started_at.get() - start).as_seconds_f64())
        .collect();
    assert_eq!(starts, vec![0.0, 2.0, 4.0, 6.0, 8.0]);
    assert_eq!(entry.status, Status::Fail);
    assert!(
        entry.status_message.contains("schedule window closes"),
        "{}",
        entry.status_message
    );
    assert!(
        entry
            .status_message
            .starts_with("device answered 5.00 Internal Server Error"),
        "{}",
        entry.status_message
    );
}

/// A device that never answers at the CoAP layer fails with a message that says so (not
/// `timeout`, which stays reserved for the command and attempt deadlines), and each such attempt
/// is recorded with outcome `no_answer`.
#[tokio::test(start_paused = true)]
async fn a_coap_no_answer_is_reported_apart_from_timeouts() {
    let case = Case {
        timeout: 600,
        retry: Some((None, 1, None)),
        schedule: None,
        attached: 0,
        scripts: vec![vec![Behaviour::NoAnswer(93_000)]; 3],
    };
    run_case(case).await.unwrap();
    let state = Arc::new(GatewayState::new(
        &GatewayConfig::default(),
        Clock::anchored(ANCHOR),
    ));
    let link = Arc::new(ScriptedLink::default());
    let engine = Engine::new(
        state.clone(),
        link.clone(),
        EngineConfig {
            default_timeout: Duration::from_secs(30),
            max_in_flight: 10,
            max_observations: 10,
            max_schedule_ahead: Duration::from_secs(7 * 86_400),
        },
    );
    let gateway = state
        .devices
        .upsert_registered(&state.ids, registration("gw"), state.now())
        .unwrap();
    link.scripts
        .lock()
        .unwrap()
        .insert(("gw".into(), None), vec![Behaviour::NoAnswer(93_000)]);
    let request = CommandRequest {
        command_type: Some("reboot".into()),
        device_id: Some(gateway.to_string()),
        timeout: Some(600.into()),
        retry_options: Some(json!({"max_retries": 1})),
        ..Default::default()
    };
    let record = engine.submit(request, None).unwrap();
    tokio::time::timeout(Duration::from_secs(1000), async {
        while !record.is_complete() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    let entry = record.entry(0).unwrap().1;
    assert_eq!(entry.status, Status::Fail);
    assert_eq!(
        entry.status_message,
        "device did not answer (CoAP timeout): endpoint \"gw\", no response after every CoAP retransmission (after 2 attempts)"
    );
    assert!(
        entry
            .attempts
            .iter()
            .all(|a| a.outcome == AttemptOutcome::NoAnswer)
    );
    assert!(
        state
            .metrics
            .render(Default::default())
            .contains("fleetbench_gateway_attempts_total{outcome=\"no_answer\"} 2")
    );
}

/// Records every operation (path and payload) with a delay, to see how transfers interleave.
#[derive(Default)]
struct RecordingLink {
    log: Mutex<Vec<(String, String, Vec<u8>)>>,
}

impl DeviceLink for RecordingLink {
    async fn execute(
        &self,
        target: &DeviceRoute,
        operation: DeviceOperation,
    ) -> Result<OperationOutcome, LinkError> {
        let payload = match &operation {
            DeviceOperation::Write { payload, .. } => payload.to_vec(),
            _ => Vec::new(),
        };
        self.log.lock().unwrap().push((
            target.endpoint.clone(),
            operation.path().to_string(),
            payload,
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(OperationOutcome {
            code: "2.04".into(),
            content_format: None,
            payload: Bytes::new(),
        })
    }

    async fn observe(
        &self,
        target: &DeviceRoute,
        _path: Lwm2mPath,
    ) -> Result<Observation, LinkError> {
        Err(LinkError::NotRegistered {
            endpoint: target.endpoint.clone(),
        })
    }
}

/// Two `lwm2m_file` uploads to one device run one after the other (select path, write data,
/// then the next), while uploads to another device run alongside.
#[tokio::test(start_paused = true)]
async fn file_transfers_to_one_device_do_not_interleave() {
    let state = Arc::new(GatewayState::new(
        &GatewayConfig::default(),
        Clock::anchored(ANCHOR),
    ));
    let link = Arc::new(RecordingLink::default());
    let engine = Engine::new(
        state.clone(),
        link.clone(),
        EngineConfig {
            default_timeout: Duration::from_secs(30),
            max_in_flight: 10,
            max_observations: 10,
            max_schedule_ahead: Duration::from_secs(7 * 86_400),
        },
    );
    let one = state
        .devices
        .upsert_registered(&state.ids, registration("one"), state.now())
        .unwrap();
    let other = state
        .devices
        .upsert_registered(&state.ids, registration("other"), state.now())
        .unwrap();
    let mut records = Vec::new();
    for (device, name) in [(one, "a"), (one, "b"), (other, "c")] {
        let file = state
            .files
            .insert(
                &state.ids,
                name.into(),
                Bytes::from(format!("data-{name}")),
                "upload",
                state.now(),
            )
            .unwrap();
        let request = CommandRequest {
            command_type: Some("lwm2m_file".into()),
            lwm2m_type: Some("fileupload".into()),
            device_id: Some(device.to_string()),
            file_id: Some(file.id.to_string()),
            filepath: Some(format!("/files/{name}")),
            ..Default::default()
        };
        records.push(engine.submit(request, None).unwrap());
    }
    tokio::time::timeout(Duration::from_secs(100), async {
        while !records.iter().all(|r| r.is_complete()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    for record in &records {
        assert_eq!(record.entry(0).unwrap().1.status, Status::Success);
    }
    let log = link.log.lock().unwrap().clone();
    let on = |endpoint: &str| -> Vec<(String, String)> {
        log.iter()
            .filter(|(e, _, _)| e == endpoint)
            .map(|(_, path, payload)| (path.clone(), String::from_utf8_lossy(payload).into()))
            .collect()
    };
    let one_log = on("one");
    assert_eq!(one_log.len(), 4, "{one_log:?}");
    for pair in one_log.chunks(2) {
        assert_eq!(pair[0].0, "/33000/0/8");
        assert_eq!(pair[1].0, "/33000/0/9");
        let name = pair[0].1.trim_start_matches("/files/");
        assert_eq!(pair[1].1, format!("data-{name}"), "{one_log:?}");
    }
    assert_ne!(one_log[0].1, one_log[2].1);
    // The other device's transfer overlapped the first one's (it is not serialised with it).
    let first_other = log.iter().position(|(e, _, _)| e == "other").unwrap();
    assert!(first_other < 3, "{log:?}");
}
