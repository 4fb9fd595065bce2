//! Producer threads for the delivery tests (`#[path]`-included): `threads` threads, each
//! recording 0, 1, 2, ... `per_thread - 1` into its own metric `seq<t>`, all started at once.

use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;

use tickwatch::Telemetry;

/// Starts the producers and returns once they all run (released together).
pub fn start(tw: &Arc<Telemetry>, threads: usize, per_thread: u64) -> Vec<JoinHandle<()>> {
    let go = Arc::new(Barrier::new(threads + 1));
    let producers = (0..threads)
        .map(|t| {
            let (tw, go) = (tw.clone(), go.clone());
            std::thread::spawn(move || {
                let m = tw.metric(&format!("seq{t}"), &[]);
                go.wait();
                for i in 0..per_thread {
                    m.record(i as f64);
                }
            })
        })
        .collect();
    go.wait();
    producers
}
