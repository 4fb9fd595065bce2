fn main() {
    let tw = tickwatch::Telemetry::builder().start().unwrap();
    let message = String::from("built at run time");
    tickwatch::info!(tw, message);
    tickwatch::warn!(message, n = 1u64);
}
