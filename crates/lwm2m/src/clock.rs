//! The clock seam.
//!
//! Protocol and device state machines never read a clock: they take `now` as an argument and
//! report their next deadline. Only drivers read time, through [`Clock`]. The default
//! [`TokioClock`] follows tokio's clock, so tests under `start_paused = true` run in virtual
//! time; a later deterministic simulation can supply its own clock without touching the state
//! machines.

pub use tokio::time::Instant;

/// A source of the current instant.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The tokio clock (virtual when the runtime's clock is paused).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}
