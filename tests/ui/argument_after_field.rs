fn main() {
    let tw = tickwatch::Telemetry::builder().start().unwrap();
    let id = 42u64;
    tickwatch::info!(tw, "order {} filled", px = 1.5, id * 2);
}
