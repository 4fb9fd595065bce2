//! Placeholder until the authn benchmarks land.
fn main() {}
