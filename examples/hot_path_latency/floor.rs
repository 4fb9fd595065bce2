//! The floor: a bare SPSC ring (`rtrb`) carrying what a binary logger must carry for
//! "int, int, double" (a timestamp and the three values, 32 bytes), drained by a consumer
//! thread that sleeps 100 µs when it finds the ring empty (as Quill's backend does).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tickwatch::ThreadPlacement;

use crate::timer::stamp;

#[derive(Clone, Copy)]
struct Msg {
    ticks: u64,
    a: u64,
    b: u64,
    c: f64,
}

pub struct Floor {
    producer: rtrb::Producer<Msg>,
    pushed: u64,
    popped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    consumer: Option<JoinHandle<()>>,
    capacity: usize,
}

impl Floor {
    /// A ring of `bytes` (32-byte messages) and its consumer, placed as `placement` says.
    pub fn start(bytes: usize, placement: &ThreadPlacement) -> Floor {
        let capacity = bytes / std::mem::size_of::<Msg>();
        let (producer, mut consumer) = rtrb::RingBuffer::<Msg>::new(capacity);
        let popped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (popped.clone(), stop.clone());
        let cpus = placement.cpus.clone();
        let handle = std::thread::Builder::new()
            .name("floor-consumer".into())
            .spawn(move || {
                if !cpus.is_empty() {
                    tickwatch::pin_current_thread(&cpus).expect("pin the floor's consumer");
                }
                let mut sum = 0u64;
                loop {
                    let n = consumer.slots();
                    if n == 0 {
                        if s.load(Relaxed) && consumer.is_abandoned() {
                            break;
                        }
                        std::thread::sleep(Duration::from_micros(100));
                        continue;
                    }
                    let chunk = consumer.read_chunk(n).expect("n slots are there");
                    for m in chunk.into_iter() {
                        // Touch every field, as a backend decoding the message would.
                        sum = sum.wrapping_add(m.ticks ^ m.a ^ m.b ^ m.c.to_bits());
                    }
                    p.fetch_add(n as u64, Relaxed);
                }
                std::hint::black_box(sum);
            })
            .expect("spawn the floor's consumer");
        Floor {
            producer,
            pushed: 0,
            popped,
            stop,
            consumer: Some(handle),
            capacity,
        }
    }

    /// One lap through the ring, so every page has been written (steady state).
    pub fn warm(&mut self) {
        for i in 0..self.capacity as u64 {
            self.push(i, i, 0.0);
            if i % 64 == 0 {
                std::thread::sleep(Duration::from_micros(10));
            }
        }
    }

    /// One message: a timestamp and three values.
    #[inline(always)]
    pub fn push(&mut self, a: u64, b: u64, c: f64) {
        let m = Msg {
            ticks: stamp(),
            a,
            b,
            c,
        };
        // A full ring waits (as tickwatch's `Backpressure::Block` does); it never is full
        // at these rates.
        let mut m = Some(m);
        while let Some(msg) = m {
            m = self
                .producer
                .push(msg)
                .err()
                .map(|rtrb::PushError::Full(v)| v);
        }
        self.pushed += 1;
    }

    /// Stops the consumer once it has drained everything; returns (pushed, popped).
    pub fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Relaxed);
        let pushed = self.pushed;
        let popped = self.popped.clone();
        drop(self.producer);
        if let Some(h) = self.consumer.take() {
            h.join().expect("the floor's consumer");
        }
        (pushed, popped.load(Relaxed))
    }
}
