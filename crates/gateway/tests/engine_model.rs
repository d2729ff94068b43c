//! Model test of the command lifecycle: random schedules, timeouts, retry options and scripted
//! device behaviours, run under tokio's paused clock (no real time passes).

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
    AttemptOutcome, Lwm2mRegistration, ObjectId, RetryStrategy, Status, StatusEntry, Timestamp,
};
use fleetbench_gateway::state::GatewayState;
use fleetbench_gateway::store::devices::SubDeviceInfo;
use fleetbench_lwm2m::path::Lwm2mPath;
use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

/// What a device does on one attempt.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Answer(u64),
    Error(u64),
    Never,
    Deregister(u64),
    NoAnswer(u64),
}

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

fn case() -> impl Strategy<Value = Case> {
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

fn secs_between(a: Timestamp, b: Timestamp) -> f64 {
    (b.get() - a.get()).as_seconds_f64()
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

    let policy_max_retries = match &case.retry {
        Some((_, n, _)) => *n,
        None if case.schedule.and_then(|s| s.2).is_some() => 100,
        None => 0,
    };
    let strategy: Option<RetryStrategy> =
        case.retry
            .as_ref()
            .and_then(|(_, _, s)| s.as_ref())
            .map(|s| match s["type"].as_str() {
                Some("fixed") => RetryStrategy::Fixed {
                    interval: Duration::from_secs(s["fixed_interval"].as_u64().unwrap()),
                },
                _ => RetryStrategy::Exponential {
                    base: Duration::from_secs(s["exponential_base_interval"].as_u64().unwrap()),
                    multiplier: s["exponential_multiplier"].as_f64().unwrap(),
                    max: s
                        .get("exponential_max_interval")
                        .and_then(|m| m.as_u64())
                        .map(Duration::from_secs),
                },
            });
    let strategy = strategy.unwrap_or(RetryStrategy::Fixed {
        interval: Duration::from_secs(case.schedule.and_then(|s| s.2).unwrap_or(0)),
    });
    let targets = if case.attached > 0 { case.attached } else { 1 };
    for index in 0..targets {
        let (_, entry): (ObjectId, StatusEntry) = record.entry(index).unwrap();
        check_entry(
            &entry,
            created,
            case.timeout,
            policy_max_retries,
            strategy,
            start_at,
            end_at,
        )?;
    }
    Ok(())
}

fn check_entry(
    entry: &StatusEntry,
    created: Timestamp,
    timeout: u64,
    max_retries: u32,
    strategy: RetryStrategy,
    start_at: Option<OffsetDateTime>,
    end_at: Option<OffsetDateTime>,
) -> Result<(), TestCaseError> {
    const EPS: f64 = 0.01;
    let terminal: Vec<_> = entry
        .transitions
        .iter()
        .filter(|t| t.status.is_terminal())
        .collect();
    prop_assert_eq!(
        terminal.len(),
        1,
        "exactly one terminal transition: {:?}",
        entry.transitions
    );
    let last = entry.transitions.last().unwrap();
    prop_assert!(
        last.status.is_terminal(),
        "terminal transition is the last one"
    );
    prop_assert_eq!(entry.status, last.status);
    prop_assert!(
        entry.attempts.len() as u32 <= 1 + max_retries,
        "{} attempts for max_retries {}",
        entry.attempts.len(),
        max_retries
    );
    if entry.status == Status::Success {
        prop_assert_eq!(
            entry.attempts.last().map(|a| a.outcome),
            Some(AttemptOutcome::Success)
        );
    }
    prop_assert!(
        entry
            .attempts
            .iter()
            .rev()
            .skip(1)
            .all(|a| a.outcome != AttemptOutcome::Success),
        "success before the last attempt"
    );
    let future_start = start_at.filter(|start| *start > created.get());
    if let Some(start) = future_start {
        prop_assert_eq!(entry.transitions[0].status, Status::Enqueued);
        if let Some(sent) = entry.transitions.iter().find(|t| t.status == Status::Sent) {
            prop_assert!(
                (sent.at.get() - start).as_seconds_f64().abs() < EPS,
                "sent at {} but window opened {}",
                sent.at,
                Timestamp::new(start)
            );
        }
    } else {
        prop_assert_eq!(entry.transitions[0].status, Status::Sent);
    }
    let opened = future_start.unwrap_or(created.get());
    if end_at.is_some_and(|end| end <= opened) {
        prop_assert_eq!(entry.status, Status::Fail);
        prop_assert!(
            entry.status_message.contains("schedule window closed"),
            "{}",
            entry.status_message
        );
        prop_assert!(entry.attempts.is_empty());
        return Ok(());
    }
    let deadline = opened + time::Duration::seconds(timeout as i64);
    prop_assert!(
        (last.at.get() - deadline).as_seconds_f64() <= EPS,
        "terminal at {} after deadline {}",
        last.at,
        Timestamp::new(deadline)
    );
    if let Some(attempt) = entry.attempts.last() {
        let at_deadline = (deadline - attempt.ended_at.get()).as_seconds_f64().abs() < EPS;
        if at_deadline && attempt.outcome == AttemptOutcome::Timeout {
            prop_assert_eq!(&entry.status_message, "timeout");
        }
    }
    for attempt in &entry.attempts {
        prop_assert_eq!(
            attempt.outcome == AttemptOutcome::NoAnswer,
            attempt.message.starts_with(NO_ANSWER_PREFIX),
            "no_answer outcome iff the CoAP no-answer message: {:?}",
            attempt
        );
    }
    if entry.status == Status::Fail
        && let Some(attempt) = entry.attempts.last()
        && attempt.outcome == AttemptOutcome::NoAnswer
        && entry.status_message != "timeout"
    {
        prop_assert!(
            entry.status_message.starts_with(NO_ANSWER_PREFIX),
            "a device that never answered is reported as such: {}",
            entry.status_message
        );
    }
    if entry.status_message == "timeout" {
        prop_assert!(
            (deadline - last.at.get()).as_seconds_f64() <= EPS,
            "timeout before the deadline"
        );
    }
    if let Some(end) = end_at {
        for attempt in &entry.attempts {
            prop_assert!(
                attempt.started_at.get() < end,
                "attempt started after the window closed"
            );
        }
    }
    for pair in entry.attempts.windows(2) {
        let expected = strategy.delay(pair[0].number).as_secs_f64();
        let gap = secs_between(pair[0].ended_at, pair[1].started_at);
        prop_assert!(
            (gap - expected).abs() < EPS,
            "retry {} after {gap} s, expected {expected} s",
            pair[1].number
        );
        prop_assert_eq!(pair[1].number, pair[0].number + 1);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn lifecycle_invariants_hold(case in case()) {
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
