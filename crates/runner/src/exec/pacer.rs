//! The open-model generator's pacing: wait until each intended send time with a
//! high-resolution wait, then launch the command. It runs on its own OS thread (not on the
//! I/O runtime, and not on tokio's millisecond timer): sleep until shortly before the
//! deadline ([`SPIN_MARGIN`]), then spin (bounded by that margin) until it is due.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long before a deadline the pacer stops sleeping and spins. The kernel wakes a
/// sleeping thread typically 50-80 µs late on a loaded machine; the spin absorbs that.
pub const SPIN_MARGIN: Duration = Duration::from_micros(120);
/// Longest single sleep, so that a stop request is noticed within this time.
pub const MAX_SLEEP_SLICE: Duration = Duration::from_millis(5);

/// The pacer's view of time (real for runs, simulated for tests of the pacing logic).
pub trait PacerClock {
    /// Now.
    fn now(&self) -> Instant;
    /// Waits until `deadline` or until `stop` is set; `false` when stopped.
    fn wait_until(&self, deadline: Instant, stop: &AtomicBool) -> bool;
}

/// Real time: sleep in slices, then a bounded spin.
#[derive(Debug, Clone, Copy)]
pub struct PreciseClock {
    /// See [`SPIN_MARGIN`].
    pub spin: Duration,
}

impl Default for PreciseClock {
    fn default() -> Self {
        PreciseClock { spin: SPIN_MARGIN }
    }
}

impl PacerClock for PreciseClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wait_until(&self, deadline: Instant, stop: &AtomicBool) -> bool {
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            let Some(left) = deadline.checked_duration_since(now) else {
                return true;
            };
            if left > self.spin {
                std::thread::sleep((left - self.spin).min(MAX_SLEEP_SLICE));
            } else {
                while Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                return true;
            }
        }
    }
}

/// `t + d`, saturating instead of overflowing (a scenario may ask for an absurd duration:
/// the result is then the latest instant representable, reached by halving `d`).
pub fn saturating_add(t: Instant, d: Duration) -> Instant {
    let mut d = d;
    loop {
        if let Some(x) = t.checked_add(d) {
            return x;
        }
        d /= 2;
        if d.is_zero() {
            return t;
        }
    }
}

/// How a paced phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceEnd {
    /// Every command of the phase was launched.
    Done,
    /// `stop` was set.
    Stopped,
}

/// Launches each of `due` (offsets from `start`) at its time on `clock`, in order, via
/// `launch(intended)`; stops early when `stop` is set.
pub fn pace<C: PacerClock, T>(
    clock: &C,
    start: Instant,
    due: impl IntoIterator<Item = (Duration, T)>,
    stop: &AtomicBool,
    mut launch: impl FnMut(Instant, T),
) -> PaceEnd {
    for (at, item) in due {
        let intended = saturating_add(start, at);
        if !clock.wait_until(intended, stop) {
            return PaceEnd::Stopped;
        }
        launch(intended, item);
    }
    PaceEnd::Done
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;

    /// Simulated time: a wait jumps to the deadline (plus a fixed late wake-up) at once.
    struct FakeClock {
        now: Cell<Instant>,
        late: Duration,
        waits: RefCell<Vec<Instant>>,
        stop_after: Option<usize>,
    }

    impl PacerClock for FakeClock {
        fn now(&self) -> Instant {
            self.now.get()
        }
        fn wait_until(&self, deadline: Instant, stop: &AtomicBool) -> bool {
            self.waits.borrow_mut().push(deadline);
            if self.stop_after == Some(self.waits.borrow().len()) {
                stop.store(true, Ordering::Relaxed);
            }
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            if deadline > self.now.get() {
                self.now.set(deadline + self.late);
            }
            true
        }
    }

    fn clock(late: Duration, stop_after: Option<usize>) -> FakeClock {
        FakeClock {
            now: Cell::new(Instant::now()),
            late,
            waits: RefCell::new(Vec::new()),
            stop_after,
        }
    }

    #[test]
    fn each_command_is_launched_with_its_intended_time_in_order() {
        let c = clock(Duration::from_micros(30), None);
        let start = c.now();
        let due = (0..5u64).map(|i| (Duration::from_millis(i * 5), i));
        let mut launched = Vec::new();
        let end = pace(&c, start, due, &AtomicBool::new(false), |t, i| {
            launched.push((t, i, c.now()));
        });
        assert_eq!(end, PaceEnd::Done);
        assert_eq!(launched.len(), 5);
        for (n, (intended, i, at)) in launched.iter().enumerate() {
            assert_eq!(*i, n as u64);
            assert_eq!(*intended, start + Duration::from_millis(5 * n as u64));
            // The intended time is the plan's, never the (late) wake-up.
            assert!(*at >= *intended);
        }
    }

    #[test]
    fn a_stop_ends_the_phase_without_launching_more() {
        let c = clock(Duration::ZERO, Some(3));
        let mut n = 0;
        let due = (0..10u64).map(|i| (Duration::from_millis(i), ()));
        let end = pace(&c, c.now(), due, &AtomicBool::new(false), |_, ()| n += 1);
        assert_eq!(end, PaceEnd::Stopped);
        assert_eq!(n, 2);
    }

    #[test]
    fn absurd_offsets_saturate_instead_of_panicking() {
        let t = Instant::now();
        let far = saturating_add(t, Duration::from_secs(u64::MAX));
        assert!(far > t + Duration::from_secs(1_000_000));
        assert_eq!(
            saturating_add(t, Duration::from_millis(3)),
            t + Duration::from_millis(3)
        );
    }

    #[test]
    fn the_real_wait_is_never_early_and_stops_on_request() {
        let clock = PreciseClock::default();
        let deadline = Instant::now() + Duration::from_millis(2);
        assert!(clock.wait_until(deadline, &AtomicBool::new(false)));
        assert!(Instant::now() >= deadline);
        let stop = AtomicBool::new(true);
        assert!(!clock.wait_until(Instant::now() + Duration::from_secs(3600), &stop));
    }
}
