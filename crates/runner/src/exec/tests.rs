//! Truthfulness tests of the measurement pipeline against an in-process fake gateway under
//! tokio's paused clock: every number asserted here is known exactly from the fake's rules.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::*;
use crate::abort::abort_pair;
use crate::api::{CommandState, DevicePage, DeviceRecord, EventItem, EventReceiver, StatusEvent};
use crate::metrics::{Counts, Metrics, Outcome};

/// A gateway whose commands complete `service` after creation, that freezes completely
/// (creates block, nothing completes) during `stall`, and that can refuse or never finish.
struct FakeGateway {
    service: Duration,
    stall: Option<(Instant, Instant)>,
    reject_above: Option<usize>,
    never_complete: bool,
    commands: Mutex<HashMap<String, Instant>>,
    devices: Vec<DeviceRecord>,
    /// Offer an event stream (status events at completion time).
    offer_events: bool,
    /// Publish an event for every n-th command only (1 = all).
    event_every: usize,
    /// End the event stream when this many events were sent.
    events_until: Option<usize>,
    events: Mutex<Option<tokio::sync::mpsc::Sender<EventItem>>>,
    sent_events: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeGateway {
    fn new(service: Duration) -> Self {
        FakeGateway {
            service,
            stall: None,
            reject_above: None,
            never_complete: false,
            commands: Mutex::new(HashMap::new()),
            devices: Vec::new(),
            offer_events: false,
            event_every: 1,
            events_until: None,
            events: Mutex::new(None),
            sent_events: Default::default(),
        }
    }

    fn with_events(service: Duration) -> Self {
        FakeGateway {
            offer_events: true,
            ..FakeGateway::new(service)
        }
    }

    /// Sends the command's terminal event at `at` (if this command gets one).
    fn publish_at(&self, n: usize, id: &str, at: Instant) {
        let Some(tx) = self.events.lock().unwrap().clone() else {
            return;
        };
        if self.never_complete || !n.is_multiple_of(self.event_every) {
            return;
        }
        let id = id.to_owned();
        let until = self.events_until;
        let sent = std::sync::Arc::clone(&self.sent_events);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let n = sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if until.is_some_and(|u| n >= u) {
                let _ = tx.send(EventItem::Broken("test: stream cut".into())).await;
                return;
            }
            let event = StatusEvent {
                command_id: id,
                device_id: "dev".into(),
                status: crate::api::Status::Success,
                status_message: None,
                at: None,
                record: None,
            };
            let _ = tx.send(EventItem::Status(event, Instant::now())).await;
        });
    }

    fn state(&self, id: &str, completes_at: Instant) -> CommandState {
        let done = !self.never_complete && Instant::now() >= completes_at;
        let status = if done { "success" } else { "sent" };
        CommandState::from_json(&json!({"_id": id, "statuses": {"dev": {"status": status}}}))
            .unwrap()
    }
}

impl GatewayApi for FakeGateway {
    async fn create_command(
        &self,
        _device: &str,
        _body: &serde_json::Value,
    ) -> Result<CommandState, ApiError> {
        if let Some((from, to)) = self.stall {
            let now = Instant::now();
            if now >= from && now < to {
                tokio::time::sleep_until(to).await;
            }
        }
        let now = Instant::now();
        let mut commands = self.commands.lock().unwrap();
        if let Some(limit) = self.reject_above {
            let open = commands.values().filter(|c| **c > now).count();
            if open >= limit {
                return Err(ApiError::Rejected {
                    retry_after: Some(Duration::from_secs(1)),
                });
            }
        }
        let n = commands.len();
        let id = format!("c{n}");
        let completes_at = now + self.service;
        commands.insert(id.clone(), completes_at);
        drop(commands);
        self.publish_at(n, &id, completes_at);
        Ok(self.state(&id, completes_at))
    }

    async fn open_events(&self) -> Result<Option<EventReceiver>, ApiError> {
        if !self.offer_events {
            return Ok(None);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        *self.events.lock().unwrap() = Some(tx);
        Ok(Some(rx))
    }

    async fn get_command(&self, id: &str) -> Result<CommandState, ApiError> {
        let completes_at = self.commands.lock().unwrap().get(id).copied();
        match completes_at {
            Some(at) => Ok(self.state(id, at)),
            None => Err(ApiError::NotFound(id.to_owned())),
        }
    }

    async fn list_devices(&self, page: u64, per_page: u64) -> Result<DevicePage, ApiError> {
        let start = ((page - 1) * per_page) as usize;
        let resources = self
            .devices
            .iter()
            .skip(start)
            .take(per_page as usize)
            .cloned()
            .collect();
        Ok(DevicePage {
            total: self.devices.len() as u64,
            resources,
        })
    }
}

/// Equal within HdrHistogram's 3-significant-digit precision.
fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= expected * 0.001 + 0.001,
        "{actual} vs {expected}"
    );
}

fn scenario(rate: f64, duration: &str, extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "fake"
seed = 3
duration = "{duration}"
load = {{ model = "constant", rate = {rate} }}
{extra}
[[fleet.classes]]
name = "a"
count = 4
sub_devices = 1
[[commands]]
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
targets = {{ kind = "any" }}
"#
    );
    Scenario::from_str(&text, "fake.toml").unwrap()
}

fn directory() -> Directory {
    Directory::from_ids(vec![
        (0..4)
            .map(|i| DeviceIds {
                id: format!("d{i}"),
                subs: vec![format!("d{i}s0")],
            })
            .collect(),
    ])
}

async fn run(fake: FakeGateway, s: Scenario) -> (Metrics, LoadReport) {
    let plan = Plan::new(&s).unwrap();
    let hub = fake
        .open_events()
        .await
        .unwrap()
        .map(|rx| EventHub::start(rx).0);
    let engine = Engine::with_events(fake, s, plan, directory(), Recorder::new(), hub);
    let report = engine.run(Instant::now(), AbortSignal::never()).await;
    (engine.recorder().snapshot(), report)
}

fn totals(
    m: &Metrics,
) -> (
    Counts,
    crate::metrics::OutcomeHistograms,
    crate::metrics::LatencyHistogram,
) {
    let mut counts = Counts::default();
    let mut hist = crate::metrics::OutcomeHistograms::default();
    let mut lag = crate::metrics::LatencyHistogram::new();
    for s in m.series.values() {
        counts.add(&s.counts);
        lag.add(&s.sched_lag);
        for h in s.outcomes.values() {
            hist.add(h);
        }
    }
    (counts, hist, lag)
}

#[tokio::test(start_paused = true)]
async fn latency_is_service_time_rounded_up_to_the_poll_interval() {
    // Service 25 ms, polls every 10 ms after the create: seen done at the 3rd poll, 30 ms.
    let (m, report) = run(
        FakeGateway::new(Duration::from_millis(25)),
        scenario(100.0, "2s", ""),
    )
    .await;
    let (c, h, lag) = totals(&m);
    assert_eq!(report.aborted, None);
    assert_eq!(
        (c.planned, c.sent, c.completed, c.success, c.dropped),
        (200, 200, 200, 200, 0)
    );
    assert_eq!(c.poll_requests, 600);
    let s = h.latency.stats().unwrap();
    assert_close(s.min, 30.0);
    assert_close(s.max, 30.0);
    assert_close(h.service_time.stats().unwrap().p99, 30.0);
    assert_eq!(
        lag.stats().unwrap().max,
        0.001,
        "no scheduling lag under the paused clock"
    );
    // Both target kinds were used.
    assert_eq!(m.series.len(), 2);
    assert_eq!(report.phases.len(), 1);
    assert_eq!(
        report.phases[0].ended - report.phases[0].started,
        Duration::from_secs(2)
    );
}

#[tokio::test(start_paused = true)]
async fn with_events_latency_is_the_service_time_not_a_poll_multiple() {
    // Same gateway as above (25 ms service), but completion comes from the event stream:
    // no quantisation by the poll interval, and no polls at all.
    let (m, _) = run(
        FakeGateway::with_events(Duration::from_millis(25)),
        scenario(100.0, "2s", ""),
    )
    .await;
    let (c, h, _) = totals(&m);
    assert_eq!((c.sent, c.completed, c.success), (200, 200, 200));
    assert_eq!(c.completed_via_event, 200);
    assert_eq!(c.poll_requests, 0);
    let s = h.latency.stats().unwrap();
    assert_close(s.min, 25.0);
    assert_close(s.max, 25.0);
}

#[tokio::test(start_paused = true)]
async fn lost_events_are_caught_by_the_backstop_poll() {
    // Only every 4th command gets its event; the others are seen by the backstop poll
    // (every 200 ms here), never lost.
    let mut fake = FakeGateway::with_events(Duration::from_millis(25));
    fake.event_every = 4;
    let extra = "[poll]\nbackstop_interval = \"200ms\"\n";
    let (m, _) = run(fake, scenario(100.0, "1s", extra)).await;
    let (c, h, _) = totals(&m);
    assert_eq!((c.sent, c.completed, c.unfinished), (100, 100, 0));
    assert_eq!(c.completed_via_event, 25);
    assert_eq!(
        c.poll_requests, 75,
        "one backstop poll per command without an event"
    );
    let hist = h.latency.inner();
    assert_eq!(hist.count_between(24_000, 26_000), 25);
    assert_eq!(hist.count_between(199_000, 201_000), 75);
}

#[tokio::test(start_paused = true)]
async fn when_the_stream_breaks_commands_fall_back_to_polling() {
    let mut fake = FakeGateway::with_events(Duration::from_millis(25));
    fake.events_until = Some(50);
    let (m, _) = run(fake, scenario(100.0, "2s", "")).await;
    let (c, h, _) = totals(&m);
    assert_eq!((c.sent, c.completed, c.unfinished), (200, 200, 0));
    assert_eq!(c.completed_via_event, 50);
    let s = h.latency.stats().unwrap();
    assert_close(s.min, 25.0);
    // After the break: polling every 10 ms from the create, done at the 3rd poll (30 ms).
    // The 51st command's event was the one lost in the break: its task switched to polling
    // then (at 25 ms) and saw it at its first poll, 10 ms later. The two commands in flight
    // at the break poll on the break's 10 ms grid and happen to see their 25 ms exactly.
    let hist = h.latency.inner();
    assert_eq!(hist.count_between(24_000, 26_000), 52);
    assert_eq!(hist.count_between(29_000, 31_000), 147);
    assert_eq!(hist.count_between(34_000, 36_000), 1);
    assert_close(s.max, 35.0);
}

#[tokio::test(start_paused = true)]
async fn a_gateway_stall_shows_in_every_command_it_delayed() {
    // 100/s for 10 s, 5 ms service; the gateway freezes from 5 s to 6 s. The ~100 commands
    // due in that second each wait for the end of the freeze: an open model records the
    // whole ramp of delays, not one slow sample (no coordinated omission).
    let start = Instant::now();
    let mut fake = FakeGateway::new(Duration::from_millis(5));
    fake.stall = Some((
        start + Duration::from_secs(5),
        start + Duration::from_secs(6),
    ));
    let plan_scenario = scenario(100.0, "10s", "");
    let plan = Plan::new(&plan_scenario).unwrap();
    let engine = Engine::new(fake, plan_scenario, plan, directory(), Recorder::new());
    engine.run(start, AbortSignal::never()).await;
    let (c, h, _) = totals(&engine.recorder().snapshot());
    assert_eq!(c.completed, 1000);
    let hist = h.latency.inner();
    // Commands due at 5.00 s .. 5.99 s finish at 6.01 s (first poll after the create):
    // latencies 1010 ms down to 20 ms, one per 10 ms.
    let over_500ms = hist.count_between(501_000, 3_600_000_000);
    assert_eq!(over_500ms, 51, "commands due 5.00..5.50 s");
    let s = h.latency.stats().unwrap();
    assert!((s.max - 1010.0).abs() < 1.1, "max {}", s.max);
    assert!(s.p99 > 900.0, "p99 {} must reflect the stall", s.p99);
    // Service time (from the actual send) hides nothing either: the create itself blocked.
    assert!(h.service_time.stats().unwrap().max > 1000.0);
}

#[tokio::test(start_paused = true)]
async fn in_flight_bound_drops_commands_instead_of_delaying_them() {
    let extra = "[execution]\nmax_in_flight = 10\n";
    let (m, _) = run(
        FakeGateway::new(Duration::from_millis(495)),
        scenario(100.0, "2s", extra),
    )
    .await;
    let (c, _, lag) = totals(&m);
    assert_eq!(c.planned, 200);
    assert_eq!(c.sent + c.dropped, 200);
    // 10 slots, each busy 500 ms: 10 sends per 500 ms.
    assert_eq!(c.sent, 40);
    assert_eq!(c.dropped, 160);
    assert_eq!(lag.stats().unwrap().max, 0.001, "nothing was sent late");
}

#[tokio::test(start_paused = true)]
async fn rejections_are_counted_and_kept_out_of_latencies() {
    let mut fake = FakeGateway::new(Duration::from_millis(100));
    fake.reject_above = Some(5);
    let (m, _) = run(fake, scenario(100.0, "1s", "")).await;
    let (c, h, _) = totals(&m);
    assert_eq!(c.sent, 100);
    assert!(c.rejected > 40, "{c:?}");
    assert_eq!(c.completed + c.rejected, 100);
    assert_eq!(h.latency.len(), c.completed);
    assert!(m.errors.keys().any(|k| k.contains("429")));
}

#[tokio::test(start_paused = true)]
async fn commands_that_never_finish_are_given_up_and_counted() {
    let mut fake = FakeGateway::new(Duration::ZERO);
    fake.never_complete = true;
    let extra = "[poll]\ninterval = \"100ms\"\ngive_up_after = \"1s\"\n";
    let (m, _) = run(fake, scenario(10.0, "1s", extra)).await;
    let (c, h, _) = totals(&m);
    assert_eq!((c.sent, c.completed, c.unfinished), (10, 0, 10));
    assert!(h.latency.is_empty());
    // Polls at 100, 200, ... 900 ms after the create; the next would pass the deadline.
    assert_eq!(c.poll_requests, 90);
}

#[tokio::test(start_paused = true)]
async fn abort_stops_scheduling_and_keeps_the_books_balanced() {
    let (handle, signal) = abort_pair();
    let s = scenario(100.0, "10s", "");
    let plan = Plan::new(&s).unwrap();
    let engine = Engine::new(
        FakeGateway::new(Duration::from_millis(300)),
        s,
        plan,
        directory(),
        Recorder::new(),
    );
    let start = Instant::now();
    let runner = {
        let engine = Arc::clone(&engine);
        tokio::spawn(async move { engine.run(start, signal).await })
    };
    tokio::time::sleep_until(start + Duration::from_millis(2_005)).await;
    handle.abort("test abort");
    let report = runner.await.unwrap();
    assert_eq!(report.aborted.as_deref(), Some("test abort"));
    let (c, _, _) = totals(&engine.recorder().snapshot());
    assert_eq!(c.planned, 201, "sends due at 0, 10, ..., 2000 ms");
    assert_eq!(c.sent, c.planned);
    assert_eq!(c.completed + c.unfinished, c.sent);
    assert_eq!(
        c.unfinished, 30,
        "the 300 ms still in flight were cancelled"
    );
    assert_eq!(
        engine
            .recorder()
            .snapshot()
            .series
            .values()
            .map(|s| s
                .outcomes
                .get(&Outcome::Success)
                .map_or(0, |h| h.latency.len()))
            .sum::<u64>(),
        c.completed
    );
}

#[tokio::test(start_paused = true)]
async fn closed_model_runs_workers_back_to_back() {
    let text = r#"
name = "closed"
duration = "1s"
load = { model = "closed", concurrency = 2, think_time = "40ms" }
[[fleet.classes]]
name = "a"
count = 4
sub_devices = 1
[[commands]]
command_type = "reboot"
"#;
    let s = Scenario::from_str(text, "c.toml").unwrap();
    let (m, _) = run(FakeGateway::new(Duration::from_millis(55)), s).await;
    let (c, h, _) = totals(&m);
    // Each cycle: 60 ms (done at the 6th 10 ms poll) + 40 ms think = 100 ms: 10 per worker.
    assert_eq!(c.completed, 20);
    assert_close(h.latency.stats().unwrap().max, 60.0);
}

#[tokio::test(start_paused = true)]
async fn directory_discovery_pages_and_waits_for_late_devices() {
    let s = {
        let mut s = scenario(1.0, "1s", "");
        s.fleet.classes[0].count = 1500;
        s
    };
    let mut fake = FakeGateway::new(Duration::ZERO);
    for i in 0..1500 {
        let ep = s.fleet.classes[0].endpoint(i);
        fake.devices.push(DeviceRecord {
            id: format!("id{i}"),
            unique_id: ep.clone(),
            parent_device_id: None,
            attached_device_ids: vec![],
        });
        fake.devices.push(DeviceRecord {
            id: format!("id{i}s"),
            unique_id: fleetbench_fleet::sub_device_name(&ep, 0),
            parent_device_id: Some(format!("id{i}")),
            attached_device_ids: vec![],
        });
    }
    let mut abort = AbortSignal::never();
    let dir = Directory::discover(&fake, &s.fleet, Duration::from_secs(5), &mut abort)
        .await
        .unwrap();
    let t = TargetRef {
        class: 0,
        device: 1499,
        sub: Some(0),
    };
    assert_eq!(
        dir.resolve(t, crate::scenario::SubDeviceRoute::Direct),
        Some(("id1499s", None))
    );
    assert_eq!(
        dir.resolve(t, crate::scenario::SubDeviceRoute::ViaParent),
        Some(("id1499", Some("id1499s")))
    );

    fake.devices.truncate(2000);
    let started = Instant::now();
    let err = Directory::discover(&fake, &s.fleet, Duration::from_secs(5), &mut abort)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DirectoryError::Timeout {
                missing: 1000,
                expected: 3000,
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() <= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn closed_loop_hides_a_stall_the_open_model_shows() {
    // The same 1 s freeze seen by a closed-loop worker (send, wait, think 10 ms, repeat)
    // and by the open model at a similar rate: closed-loop records it once (p99 stays at the
    // service time: coordinated omission), the open model for every command it delayed.
    let closed_text = r#"
name = "closed"
duration = "10s"
load = { model = "closed", concurrency = 1, think_time = "10ms" }
[[fleet.classes]]
name = "a"
count = 4
sub_devices = 1
[[commands]]
command_type = "reboot"
"#;
    let stalled = |start: Instant| {
        let mut fake = FakeGateway::with_events(Duration::from_millis(5));
        fake.stall = Some((
            start + Duration::from_secs(5),
            start + Duration::from_secs(6),
        ));
        fake
    };
    let start = Instant::now();
    let (m, _) = run(
        stalled(start),
        Scenario::from_str(closed_text, "c.toml").unwrap(),
    )
    .await;
    let (c, h, _) = totals(&m);
    let closed = h.latency.stats().unwrap();
    assert!(closed.max > 990.0, "the one stalled command: {closed:?}");
    assert_close(closed.p99, 5.0);
    assert!(c.completed > 600, "{c:?}");

    let start = Instant::now();
    let (_, open_h) = {
        let (m, _) = run(stalled(start), scenario(66.0, "10s", "")).await;
        let (_, h, _) = totals(&m);
        ((), h)
    };
    let open = open_h.latency.stats().unwrap();
    assert!(open.p99 > 900.0, "every delayed command counts: {open:?}");
    assert!(open.p90 < 10.0, "{open:?}");
}
