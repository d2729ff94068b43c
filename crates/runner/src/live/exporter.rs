//! `/metrics`: the run's counters, gauges and histograms in the Prometheus text format,
//! encoded by the `prometheus-client` crate from the recorder's data at scrape time.
//!
//! Labels: `phase` (phase name), `command` (command label), `target` (`gateway` or
//! `sub_device`), and `outcome` (`success`, `fail`, `timeout`) on completions. Rows come
//! from the scenario, so the label sets are bounded by phases × commands × 2 targets; past
//! [`MAX_LABELLED_ROWS`] rows the rest are summed under `phase="_other"`,
//! `command="_other"`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::LiveState;
use crate::metrics::timeline::RowId;
use crate::metrics::{Counts, LatencyHistogram, Metrics, Outcome};

/// Most (phase, command, target) rows labelled separately.
pub const MAX_LABELLED_ROWS: usize = 256;
/// Label value of the rows past [`MAX_LABELLED_ROWS`].
pub const OTHER_LABEL: &str = "_other";

/// Upper bounds (seconds) of the histogram buckets (`+Inf` is added).
const BUCKETS_S: [f64; 18] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

pub(super) fn router(state: Arc<LiveState>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<Arc<LiveState>>) -> impl IntoResponse {
    match encode_metrics(&state) {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )],
            text,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "encoding the metrics failed\n".to_owned(),
        ),
    }
}

/// The current metrics in the Prometheus text format (0.0.4).
pub fn encode_metrics(state: &Arc<LiveState>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("fleetbench");
    registry.register_collector(Box::new(RunCollector(Arc::clone(state))));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// A histogram reduced to Prometheus buckets.
#[derive(Debug, Clone, Default)]
struct Buckets {
    sum_s: f64,
    count: u64,
    /// Non-cumulative counts per bound of [`BUCKETS_S`], then `+Inf`.
    counts: [u64; BUCKETS_S.len() + 1],
}

impl Buckets {
    fn add(&mut self, h: &LatencyHistogram) {
        for (value, n) in h.iter_recorded() {
            let s = value.as_secs_f64();
            let i = BUCKETS_S.partition_point(|&b| b < s);
            self.counts[i] += n;
            self.count += n;
            self.sum_s += s * n as f64;
        }
    }

    fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        BUCKETS_S
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts)
            .map(|(bound, n)| {
                total += n;
                (bound, total)
            })
            .collect()
    }
}

/// What one labelled row holds at scrape time.
#[derive(Debug, Default)]
struct RowData {
    counts: Counts,
    latency: Buckets,
    service_time: Buckets,
    sched_lag: Buckets,
}

#[derive(Debug)]
struct RunCollector(Arc<LiveState>);

type Labels = Vec<(&'static str, String)>;

fn row_labels(row: &RowId) -> Labels {
    vec![
        ("phase", row.phase.clone()),
        ("command", row.command.clone()),
        ("target", row.target.clone()),
    ]
}

/// Reduces the recorder's data to labelled rows (bounded).
fn rows(
    metrics: &Metrics,
    names: &crate::metrics::timeline::SeriesNames,
) -> BTreeMap<RowId, RowData> {
    let mut rows: BTreeMap<RowId, RowData> = BTreeMap::new();
    let mut keys: Vec<_> = metrics.series.keys().copied().collect();
    keys.sort();
    for key in keys {
        let Some(s) = metrics.series.get(&key) else {
            continue;
        };
        let mut row = names.row(&key);
        if !rows.contains_key(&row) && rows.len() >= MAX_LABELLED_ROWS {
            row = RowId {
                phase: OTHER_LABEL.to_owned(),
                command: OTHER_LABEL.to_owned(),
                target: row.target,
            };
        }
        let r = rows.entry(row).or_default();
        r.counts.add(&s.counts);
        r.sched_lag.add(&s.sched_lag);
        for h in s.outcomes.values() {
            r.latency.add(&h.latency);
            r.service_time.add(&h.service_time);
        }
    }
    rows
}

impl Collector for RunCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = &self.0;
        let Some(run) = state.attached() else {
            return Ok(());
        };
        // One pass under the recorder's lock; encoding happens after it is released.
        let rows = run.recorder.with_metrics(|m| rows(m, &run.names));

        type Field = fn(&Counts) -> u64;
        let counters: [(&str, &str, Field); 7] = [
            ("commands_planned", "Commands due by the plan.", |c| {
                c.planned
            }),
            ("commands_sent", "Commands POSTed to the target.", |c| {
                c.sent
            }),
            (
                "commands_dropped",
                "Commands not sent: the in-flight bound or the connection pool was full.",
                |c| c.dropped,
            ),
            ("commands_rejected", "Creates answered 429.", |c| c.rejected),
            (
                "http_errors",
                "Creates that failed over HTTP (transport or non-2xx other than 429), or polling that failed for good.",
                |c| c.http_errors,
            ),
            (
                "commands_retried",
                "Completed commands that needed more than one attempt.",
                |c| c.retried,
            ),
            (
                "commands_unfinished",
                "Accepted commands not seen terminal when the runner gave up.",
                |c| c.unfinished,
            ),
        ];
        for (name, help, field) in counters {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (row, data) in &rows {
                let labels = row_labels(row);
                let mut f = m.encode_family(&labels)?;
                f.encode_counter::<NoLabelSet, _, u64>(&field(&data.counts), None)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "commands_completed",
                "Commands that reached a terminal status, by outcome.",
                None,
                MetricType::Counter,
            )?;
            for (row, data) in &rows {
                for outcome in [Outcome::Success, Outcome::Fail, Outcome::Timeout] {
                    let c = &data.counts;
                    let n = match outcome {
                        Outcome::Success => c.success,
                        Outcome::Fail => c.fail,
                        Outcome::Timeout => c.timeout,
                    };
                    let mut labels = row_labels(row);
                    labels.push(("outcome", outcome.as_str().to_owned()));
                    let mut f = m.encode_family(&labels)?;
                    f.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        let events_lost = run
            .events
            .as_ref()
            .map_or(0, |h| h.stats().lagged.load(Ordering::Relaxed));
        encoder
            .encode_descriptor(
                "events_lost",
                "Status events the runner's event stream reader lost (lagged).",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, u64>(&events_lost, None)?;

        let mut total = Counts::default();
        for data in rows.values() {
            total.add(&data.counts);
        }
        let settled = total.completed + total.unfinished + total.rejected + total.http_errors;
        let in_flight = total.sent.saturating_sub(settled) as i64;
        let elapsed = tokio::time::Instant::now().saturating_duration_since(run.start);
        let gauges: [(&str, &str, Option<f64>); 4] = [
            (
                "commands_in_flight",
                "Commands sent and not yet settled.",
                Some(in_flight as f64),
            ),
            (
                "open_connections",
                "HTTP connections to the target open now.",
                run.pool
                    .as_ref()
                    .map(|p| p.open.load(Ordering::Relaxed) as f64),
            ),
            (
                "intended_rate",
                "The plan's intended send rate now, commands per second (0 in closed phases and after the plan).",
                Some(super::frame::intended_rate(&run.phases, elapsed)),
            ),
            (
                "generator_cpu_percent",
                "CPU use of the paced generator thread over the last second, percent of one core.",
                state.generator_cpu_percent(),
            ),
        ];
        for (name, help, value) in gauges {
            let Some(value) = value else { continue };
            encoder
                .encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&value)?;
        }

        type Pick = fn(&RowData) -> &Buckets;
        let histograms: [(&str, &str, Pick); 3] = [
            (
                "latency_seconds",
                "Completion - intended send time of completed commands.",
                |r| &r.latency,
            ),
            (
                "service_time_seconds",
                "Completion - actual send time of completed commands.",
                |r| &r.service_time,
            ),
            (
                "scheduling_lag_seconds",
                "Actual - intended send time of sent commands.",
                |r| &r.sched_lag,
            ),
        ];
        for (name, help, pick) in histograms {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for (row, data) in &rows {
                let b = pick(data);
                let labels = row_labels(row);
                let mut f = m.encode_family(&labels)?;
                f.encode_histogram::<NoLabelSet>(b.sum_s, b.count, &b.cumulative(), None)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_micros(300));
        h.record(Duration::from_millis(7));
        h.record(Duration::from_secs(400));
        let mut b = Buckets::default();
        b.add(&h);
        let c = b.cumulative();
        assert_eq!(c.first(), Some(&(0.0005, 1)));
        assert_eq!(c[4], (0.01, 2));
        assert_eq!(c[BUCKETS_S.len() - 1], (300.0, 2));
        assert_eq!(c.last(), Some(&(f64::INFINITY, 3)));
        assert_eq!(b.count, 3);
        assert!((b.sum_s - 400.0073).abs() < 0.5, "{}", b.sum_s);
    }
}
