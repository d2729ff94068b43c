//! The process exit codes CI relies on.

/// The run completed and every threshold passed.
pub const OK: u8 = 0;
/// Any other error (I/O, the target misbehaving, ...).
pub const ERROR: u8 = 1;
/// Invalid input: flags or scenario.
pub const INVALID_INPUT: u8 = 2;
/// The run completed but thresholds failed.
pub const THRESHOLDS_FAILED: u8 = 99;
/// `compare`: the data cannot decide (too few samples, intervals too wide, a control that
/// moved, or a generator that fell behind). CI may treat it as a pass or retry.
pub const INCONCLUSIVE: u8 = 98;
