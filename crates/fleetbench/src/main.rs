//! The `fleetbench` command-line tool.
fn main() {}
