//! fleetbench-fleet (work in progress).
