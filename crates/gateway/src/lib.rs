//! fleetbench-gateway (work in progress).
