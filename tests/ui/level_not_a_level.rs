fn main() {
    let tw = tickwatch::Telemetry::builder().start().unwrap();
    let level = 3;
    tickwatch::event!(tw, level, "not a level");
}
