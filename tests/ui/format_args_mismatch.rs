fn main() {
    let tw = tickwatch::Telemetry::builder().start().unwrap();
    tickwatch::info!(tw, "order {} rejected at {}", 42u64);
}
