//! The common start of a distributed run (`--start-at`): when this shard's load starts, how
//! late that was, and this machine's clock offset to the gateway's.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The furthest in the future a `--start-at` may lie.
pub const MAX_START_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Probe requests sent to estimate the clock offset.
pub const CLOCK_PROBES: usize = 3;

/// When the load starts: at `start_at` if it is still ahead, else now (`late` says by how
/// much setup overran it), or `lead` from now without `start_at`.
#[derive(Debug, Clone, Copy)]
pub struct StartPoint {
    /// Monotonic start.
    pub start: Instant,
    /// Wall-clock start.
    pub wall: SystemTime,
    /// How far past `start_at` setup ended (zero when it ended in time).
    pub late: Duration,
}

/// See [`StartPoint`].
pub fn start_point(start_at: Option<SystemTime>, lead: Duration) -> StartPoint {
    let now = Instant::now();
    let wall = SystemTime::now();
    match start_at {
        None => StartPoint {
            start: now + lead,
            wall: wall + lead,
            late: Duration::ZERO,
        },
        Some(at) => match at.duration_since(wall) {
            Ok(wait) => StartPoint {
                start: now + wait,
                wall: at,
                late: Duration::ZERO,
            },
            Err(past) => StartPoint {
                start: now,
                wall,
                late: past.duration(),
            },
        },
    }
}

/// Gateway clock minus ours and the half-width of that estimate, both in ms, from the `Date`
/// header of [`CLOCK_PROBES`] GETs of `{url}/devices` (the header has 1 s resolution, so the
/// estimate is within ±(0.5 s + half the round trip)). `None` when no answer had a `Date`.
pub async fn clock_offset(url: &str, token: &str) -> Option<(f64, f64)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let mut best: Option<(f64, f64)> = None;
    for _ in 0..CLOCK_PROBES {
        let sent = SystemTime::now();
        let response = client
            .get(format!("{url}/devices?page=1&per_page=1"))
            .header(reqwest::header::AUTHORIZATION, token)
            .send()
            .await
            .ok()?;
        let received = SystemTime::now();
        let Some(date) = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok())
        else {
            continue;
        };
        let rtt = received.duration_since(sent).unwrap_or_default();
        let mid = sent + rtt / 2;
        // The header truncates to the second: the gateway's clock was in [date, date + 1 s).
        let gateway_mid = date + Duration::from_millis(500);
        let offset_ms = match gateway_mid.duration_since(mid) {
            Ok(d) => d.as_secs_f64() * 1000.0,
            Err(e) => -e.duration().as_secs_f64() * 1000.0,
        };
        let uncertainty_ms = 500.0 + rtt.as_secs_f64() * 500.0;
        if best.is_none_or(|(_, u)| uncertainty_ms < u) {
            best = Some((offset_ms, uncertainty_ms));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_future_start_is_waited_for_and_a_past_one_is_late() {
        let ahead = start_point(
            Some(SystemTime::now() + Duration::from_secs(30)),
            Duration::ZERO,
        );
        assert!(ahead.late.is_zero());
        let wait = ahead.start.saturating_duration_since(Instant::now());
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );

        let past = start_point(
            Some(SystemTime::now() - Duration::from_secs(2)),
            Duration::ZERO,
        );
        assert!(past.late >= Duration::from_secs(2), "{:?}", past.late);
        assert!(past.start <= Instant::now());

        let plain = start_point(None, Duration::from_millis(100));
        assert!(plain.late.is_zero());
        assert_eq!(plain.start - Instant::now(), Duration::from_millis(100));
    }
}
