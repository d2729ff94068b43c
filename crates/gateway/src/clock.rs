//! The gateway's clock: wall-clock timestamps derived from tokio's monotonic clock.
//!
//! Timestamps are `anchor_utc + (now - anchor_instant)`, so under tokio's paused clock the
//! wall clock advances with virtual time and schedules can be tested without real waits.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

/// Converts between tokio instants and UTC date-times.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor_instant: Instant,
    anchor_utc: OffsetDateTime,
}

impl Clock {
    /// A clock anchored at the current system time.
    pub fn system() -> Self {
        Self::anchored(OffsetDateTime::now_utc())
    }

    /// A clock whose current instant corresponds to `utc` (used by tests).
    pub fn anchored(utc: OffsetDateTime) -> Self {
        Self {
            anchor_instant: Instant::now(),
            anchor_utc: utc,
        }
    }

    /// The current instant.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// The current UTC date-time.
    pub fn now_utc(&self) -> OffsetDateTime {
        self.utc(Instant::now())
    }

    /// The UTC date-time of `at`.
    pub fn utc(&self, at: Instant) -> OffsetDateTime {
        match at.checked_duration_since(self.anchor_instant) {
            Some(after) => self.anchor_utc + after,
            None => self.anchor_utc - self.anchor_instant.duration_since(at),
        }
    }

    /// The instant of `utc`; times before the anchor map to the anchor or earlier when
    /// representable, otherwise to the anchor.
    pub fn instant_at(&self, utc: OffsetDateTime) -> Instant {
        let offset = utc - self.anchor_utc;
        if offset.is_negative() {
            let back = Duration::try_from(offset.abs()).unwrap_or(Duration::ZERO);
            self.anchor_instant
                .checked_sub(back)
                .unwrap_or(self.anchor_instant)
        } else {
            let ahead = Duration::try_from(offset).unwrap_or(Duration::MAX);
            self.anchor_instant
                .checked_add(ahead)
                .unwrap_or_else(far_future)
        }
    }
}

/// An instant far enough ahead to never fire in practice (about 30 years).
pub fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[tokio::test(start_paused = true)]
    async fn wall_clock_follows_virtual_time() {
        let clock = Clock::anchored(datetime!(2030-01-01 0:00 UTC));
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now_utc(), datetime!(2030-01-01 0:01:30 UTC));
        let at = clock.instant_at(datetime!(2030-01-01 0:02 UTC));
        assert_eq!(at - clock.now(), Duration::from_secs(30));
        assert_eq!(clock.utc(at), datetime!(2030-01-01 0:02 UTC));
    }
}
