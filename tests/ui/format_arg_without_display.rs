struct Order;

fn main() {
    let tw = tickwatch::Telemetry::builder().start().unwrap();
    tickwatch::info!(tw, "placed {}", Order);
}
