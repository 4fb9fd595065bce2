struct Secret;

fn main() {
    let tw = tickwatch::Telemetry::builder().start().unwrap();
    let key = Secret;
    tickwatch::warn!(tw, "rotated", ?key);
}
