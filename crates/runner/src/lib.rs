//! fleetbench-runner (work in progress).
