//! Placeholder until the authz benchmarks land.
fn main() {}
