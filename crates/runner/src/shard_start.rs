//! The common start of a distributed run (`--start-at`): when this shard's load starts, how
//! late that was, and this machine's clock offset to the gateway's.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The furthest in the future a `--start-at` may lie.
pub const MAX_START_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Most probe requests sent to estimate the clock offset (one every [`PROBE_SPACING`]:
/// enough to see the gateway's `Date` second change once).
pub const CLOCK_PROBES: usize = 70;

/// Time between clock probes.
pub const PROBE_SPACING: Duration = Duration::from_millis(20);

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
/// header of GETs of `{url}/devices` sent every [`PROBE_SPACING`] (at most
/// [`CLOCK_PROBES`]). The header has 1 s resolution, so the probes watch for its second to
/// change: the gateway's clock passed that whole second between the send of the last probe
/// before and the answer of the first probe after, which bounds the offset to about the
/// spacing plus a round trip. Without a change seen: the midpoint estimate (±0.5 s). `None`
/// when no answer had a `Date`.
pub async fn clock_offset(url: &str, token: &str) -> Option<(f64, f64)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let ms = |d: Result<Duration, std::time::SystemTimeError>| match d {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    };
    let mut previous: Option<(SystemTime, SystemTime)> = None; // (gateway date, our send)
    let mut coarse = None;
    for _ in 0..CLOCK_PROBES {
        let sent = SystemTime::now();
        let response = client
            .get(format!("{url}/devices?page=1&per_page=1"))
            .header(reqwest::header::AUTHORIZATION, token)
            .send()
            .await
            .ok()?;
        let received = SystemTime::now();
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok())?;
        if let Some((before, before_sent)) = previous
            && date > before
        {
            // The gateway's clock read `date` (a whole second) at a local instant in
            // [before_sent, received].
            let window = received.duration_since(before_sent).unwrap_or_default();
            let local = before_sent + window / 2;
            return Some((ms(date.duration_since(local)), window.as_secs_f64() * 500.0));
        }
        let rtt = received.duration_since(sent).unwrap_or_default();
        coarse = Some((
            ms((date + Duration::from_millis(500)).duration_since(sent + rtt / 2)),
            500.0 + rtt.as_secs_f64() * 500.0,
        ));
        previous = Some((date, sent));
        tokio::time::sleep(PROBE_SPACING).await;
    }
    coarse
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
