fn main() {
    let tw = tickwatch::Telemetry::builder().start().unwrap();
    let message = String::from("built at run time");
    tickwatch::event!(tw, tickwatch::Level::Info, message);
}
