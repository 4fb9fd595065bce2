struct Order {
    id: u64,
}

fn main() {
    let tw = tickwatch::Telemetry::builder().start().unwrap();
    let order = Order { id: 42 };
    tickwatch::info!(tw, "placed", order = order);
    let _ = order.id;
}
