//! Exact reply delays. tokio's timer has millisecond resolution and rounds deadlines up, so a
//! device told to answer after 50 ms answered after about 51 ms. [`ReplyTimer::Precise`] sleeps
//! on tokio's timer until [`COARSE_MARGIN`] before the deadline, then hands the last stretch to
//! one process-wide timer thread: a heap of (deadline, waker) that sleeps on a condition
//! variable (with a 1 µs timer slack) until [`SPIN_MARGIN`] before the earliest wake-up time
//! ([`WAKE_LEAD`] before a deadline), spins to it, and wakes the waiting task, which spins the
//! last [`WAKE_LEAD`] itself. One thread serves every device of every fleet;
//! it only holds waits that end within about [`COARSE_MARGIN`] and spins at most
//! [`SPIN_MARGIN`] per deadline, so it scales to 10,000 devices without a thread or a timer
//! file descriptor per device.
//!
//! Crates considered: `tokio-timerfd` needs one file descriptor per pending timer (a fleet of
//! 10,000 devices already holds 10,000 sockets); `async-io`'s `Timer` runs its own reactor
//! thread whose wake-ups carry the default 50 µs timer slack and no final spin.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant as StdInstant};

use tokio::time::Instant;

/// How long before a deadline tokio's millisecond timer hands over to the precise thread
/// (tokio may fire up to a millisecond late, and the hand-over needs a little time).
pub const COARSE_MARGIN: Duration = Duration::from_millis(5);

/// How long before a deadline the precise thread stops sleeping and spins.
pub const SPIN_MARGIN: Duration = Duration::from_micros(40);

/// How long before a deadline the timer thread wakes the waiting task, which spins the
/// rest in place: this hides the task's own wake-up latency (a tokio worker must be unparked
/// and scheduled) behind the deadline instead of after it. Bounds the spin per wait.
pub const WAKE_LEAD: Duration = Duration::from_micros(50);

/// Timer slack asked for the timer thread (Linux `PR_SET_TIMERSLACK`), in nanoseconds.
const TIMER_SLACK_NS: libc::c_ulong = 1_000;

/// How a device waits for the deadline of a delayed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyTimer {
    /// tokio's timer: millisecond resolution, rounded up; virtual under a paused clock.
    #[default]
    Tokio,
    /// tokio's timer until [`COARSE_MARGIN`] before the deadline, then the shared precise
    /// thread (real time only).
    Precise,
}

impl ReplyTimer {
    /// [`Precise`](Self::Precise), unless the runtime's clock is paused (tests in virtual
    /// time, where only tokio's timer advances): then [`Tokio`](Self::Tokio).
    pub fn for_current_runtime() -> Self {
        if clock_is_paused() {
            Self::Tokio
        } else {
            Self::Precise
        }
    }

    /// Waits until `deadline` (never returns before it).
    pub async fn sleep_until(self, deadline: Instant) {
        match self {
            Self::Tokio => tokio::time::sleep_until(deadline).await,
            Self::Precise => {
                if let Some(coarse) = deadline.checked_sub(COARSE_MARGIN)
                    && coarse > Instant::now()
                {
                    tokio::time::sleep_until(coarse).await;
                }
                match timer_thread() {
                    Some(shared) => {
                        PreciseSleep {
                            deadline: deadline.into_std(),
                            shared,
                            slot: None,
                        }
                        .await;
                    }
                    // No thread could be started: tokio's timer is late, never early.
                    None => tokio::time::sleep_until(deadline).await,
                }
            }
        }
    }
}

/// Whether tokio's clock is paused: unpaused, `tokio::time::Instant::now()` reads the system
/// monotonic clock, so it falls between two reads of it; a paused clock stands still (or
/// jumps) and does not.
fn clock_is_paused() -> bool {
    let before = StdInstant::now();
    let tokio_now = Instant::now().into_std();
    let after = StdInstant::now();
    !(before <= tokio_now && tokio_now <= after)
}

/// One wait registered with the timer thread.
#[derive(Debug, Default)]
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

#[derive(Debug)]
struct Entry {
    /// When the thread wakes the task: [`WAKE_LEAD`] before its deadline.
    fire_at: StdInstant,
    sequence: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.fire_at, self.sequence) == (other.fire_at, other.sequence)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.fire_at, self.sequence).cmp(&(other.fire_at, other.sequence))
    }
}

#[derive(Debug, Default)]
struct Waits {
    heap: BinaryHeap<Reverse<Entry>>,
    next_sequence: u64,
}

#[derive(Debug, Default)]
struct Shared {
    waits: Mutex<Waits>,
    changed: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process-wide timer thread, started on first use; `None` if it could not be started.
fn timer_thread() -> Option<&'static Shared> {
    static SHARED: OnceLock<Option<Arc<Shared>>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let shared = Arc::new(Shared::default());
            let worker = Arc::clone(&shared);
            match std::thread::Builder::new()
                .name("fleet-precise-timer".to_owned())
                .spawn(move || run(&worker))
            {
                Ok(_) => Some(shared),
                Err(error) => {
                    tracing::warn!(%error, "no precise timer thread: reply delays use tokio's timer");
                    None
                }
            }
        })
        .as_deref()
}

/// The timer thread: wakes due waits, sleeps until shortly before the next, spins the rest.
fn run(shared: &Shared) {
    set_timer_slack();
    let mut due = Vec::new();
    let mut waits = lock(&shared.waits);
    loop {
        let now = StdInstant::now();
        while waits
            .heap
            .peek()
            .is_some_and(|Reverse(entry)| entry.fire_at <= now)
        {
            if let Some(Reverse(entry)) = waits.heap.pop() {
                due.push(entry.slot);
            }
        }
        if !due.is_empty() {
            drop(waits);
            for slot in due.drain(..) {
                slot.fired.store(true, Ordering::Release);
                if let Some(waker) = lock(&slot.waker).take() {
                    waker.wake();
                }
            }
            waits = lock(&shared.waits);
            continue;
        }
        match waits.heap.peek().map(|Reverse(entry)| entry.fire_at) {
            None => {
                waits = shared
                    .changed
                    .wait(waits)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            Some(next) => {
                let left = next.saturating_duration_since(now);
                if left > SPIN_MARGIN {
                    waits = shared
                        .changed
                        .wait_timeout(waits, left - SPIN_MARGIN)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                } else {
                    // At most SPIN_MARGIN; new waits can be added meanwhile.
                    drop(waits);
                    while StdInstant::now() < next {
                        std::hint::spin_loop();
                    }
                    waits = lock(&shared.waits);
                }
            }
        }
    }
}

/// Asks for a fine timer slack on this thread, so that its sleeps end within microseconds.
#[allow(unsafe_code)]
fn set_timer_slack() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects this thread.
        let status = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, TIMER_SLACK_NS) };
        if status != 0 {
            tracing::debug!("PR_SET_TIMERSLACK refused; the precise timer spins longer");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = TIMER_SLACK_NS;
}

/// A wait on the timer thread; ready once the deadline has passed.
struct PreciseSleep {
    deadline: StdInstant,
    shared: &'static Shared,
    slot: Option<Arc<Slot>>,
}

impl Future for PreciseSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if StdInstant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if let Some(slot) = &self.slot {
            if slot.fired.load(Ordering::Acquire) {
                // Woken up to WAKE_LEAD early: spin the rest (bounded by WAKE_LEAD).
                let deadline = self.deadline;
                while StdInstant::now() < deadline {
                    std::hint::spin_loop();
                }
                return Poll::Ready(());
            }
            let mut waker = lock(&slot.waker);
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
            drop(waker);
            // The thread may have fired between the check and the store: poll again at once.
            if slot.fired.load(Ordering::Acquire) {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
        let fire_at = self
            .deadline
            .checked_sub(WAKE_LEAD)
            .unwrap_or(self.deadline);
        let slot = Arc::new(Slot {
            fired: AtomicBool::new(false),
            waker: Mutex::new(Some(cx.waker().clone())),
        });
        let mut waits = lock(&self.shared.waits);
        let sequence = waits.next_sequence;
        waits.next_sequence = waits.next_sequence.wrapping_add(1);
        let earliest = waits
            .heap
            .peek()
            .is_none_or(|Reverse(entry)| fire_at < entry.fire_at);
        waits.heap.push(Reverse(Entry {
            fire_at,
            sequence,
            slot: Arc::clone(&slot),
        }));
        drop(waits);
        if earliest {
            self.shared.changed.notify_one();
        }
        self.slot = Some(slot);
        Poll::Pending
    }
}

impl Drop for PreciseSleep {
    fn drop(&mut self) {
        // The entry stays in the heap until its (near) deadline; it wakes nobody.
        if let Some(slot) = &self.slot {
            lock(&slot.waker).take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under a paused clock the tokio timer is chosen, and it follows virtual time.
    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_selects_tokio_timer() {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(ReplyTimer::for_current_runtime(), ReplyTimer::Tokio);
        let start = Instant::now();
        ReplyTimer::for_current_runtime()
            .sleep_until(start + Duration::from_secs(30))
            .await;
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
    }

    /// In real time the precise timer is chosen; waits of many tasks at once never end
    /// before their deadlines (the accuracy figure is in the fleet-density bench).
    #[tokio::test]
    async fn precise_waits_never_end_early() {
        assert_eq!(ReplyTimer::for_current_runtime(), ReplyTimer::Precise);
        let start = Instant::now();
        let mut waits = tokio::task::JoinSet::new();
        for k in 0..50u64 {
            let deadline = start + Duration::from_micros(300 * k + 100);
            waits.spawn(async move {
                ReplyTimer::Precise.sleep_until(deadline).await;
                Instant::now() >= deadline
            });
        }
        let mut ended = 0;
        while let Some(on_time) = waits.join_next().await {
            assert!(on_time.unwrap_or(false), "a wait ended before its deadline");
            ended += 1;
        }
        assert_eq!(ended, 50);
    }

    /// A wait dropped before its deadline does not disturb later ones.
    #[tokio::test]
    async fn a_dropped_wait_is_harmless() {
        let start = Instant::now();
        let dropped = ReplyTimer::Precise.sleep_until(start + Duration::from_millis(1));
        let _ = tokio::time::timeout(Duration::from_micros(100), dropped).await;
        let deadline = start + Duration::from_millis(3);
        ReplyTimer::Precise.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
    }
}
