//! `tracing::info!` through tickwatch's layer against tracing's own stack, in one run.
//!
//! ```text
//! cargo bench --bench tracing_layer
//! ```
//!
//! Rows (group `tracing_layer`), every one the same event: three fields (a `u64`, an `f64`,
//! a 4-byte `&str`) and the message "order filled":
//!
//! * `tickwatch_layer/info!(3 fields)/burst`: `tracing::info!` through
//!   `registry().with(tw.tracing_layer())`, timed in bursts of [`BURST`] events (a quarter of
//!   the 1 MiB ring, so a burst never waits), the collector draining into a `NullSink`
//!   between them: the cost on the calling thread. `/steady`: back to back, which once the
//!   ring is full is the slower of the thread and the collector.
//! * `probe/tickwatch_layer/...`: the same layer with one `u64` field, the message alone,
//!   and the three fields without a message: where the layer's time goes.
//! * `tickwatch/info!(3 fields)/burst`: tickwatch's own `info!` macro with the same data,
//!   the same way: what the `tracing` front end adds.
//! * `fmt+non_blocking(lossless)` and `(lossy, default)`: the same `tracing::info!` through
//!   `tracing_subscriber::fmt` writing to `tracing_appender::non_blocking(io::sink())`, the
//!   usual way to log from a latency-sensitive thread with `tracing`.
//! * `floor/registry+noop_layer` and `floor/registry+visit_only_layer`: the same
//!   `tracing::info!` through the registry and a layer that does nothing, or that only
//!   visits each value (into `black_box`): what tracing's dispatch and `Visit` cost before
//!   any layer stores a byte. tickwatch's layer less this floor is its own cost.
//! * `floor/registry+stamp_render_layer`: a layer that does the work any layer meeting this
//!   crate's contract must do before it stores a byte: it reads the clock (tickwatch's tick
//!   read), renders the message into a 64-byte stack buffer and visits the other values into
//!   `black_box`. tickwatch's layer less this floor is what storing the record costs.
//! * `floor/bare_noop_subscriber`: a `Subscriber` of its own (no registry, no layer) that
//!   takes each event and does nothing: what a registry-free tickwatch subscriber could save
//!   over `floor/registry+noop_layer`.
//! * `disabled/...`: a `debug!` below the level: through the tickwatch layer (its
//!   `max_level_hint`) and with no subscriber at all (`NoSubscriber`): tracing's fast path.
//! * `global/tickwatch_layer/...`: the first row again with the layer installed as the
//!   process's global default, as a process installs it (run last: a global default can be
//!   set once).
//!
//! Every other subscriber is the thread's default (`set_default`) while its rows run, which
//! costs each row the same thread-local lookup.

use std::hint::black_box;
use std::time::Duration;

#[path = "common/bursts.rs"]
mod bursts;
#[path = "common/tracing_peer.rs"]
mod tracing_peer;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tickwatch::sink::NullSink;
use tickwatch::{Backpressure, Level, Telemetry};
use tracing_subscriber::layer::SubscriberExt;

/// Events per timed burst: a quarter of the ring.
const BURST: u64 = 8_192;

fn instance() -> Telemetry {
    Telemetry::builder()
        .ring_capacity(1 << 20)
        .backpressure(Backpressure::Block)
        .sink(NullSink)
        .start()
        .expect("valid configuration")
}

/// Benchmarks `op` back to back (`/steady`) and in bursts with the collector draining
/// between them (`/burst`).
fn both(g: &mut BenchmarkGroup<'_, WallTime>, tw: &Telemetry, name: &str, mut op: impl FnMut()) {
    g.bench_function(format!("{name}/steady"), |b| b.iter(&mut op));
    g.bench_function(format!("{name}/burst"), |b| {
        b.iter_custom(|iters| {
            bursts::time_bursts(iters, BURST, &mut op, || tw.flush().expect("flush"))
        })
    });
}

fn info_three_fields() {
    tracing::info!(
        order_id = black_box(42u64),
        px = black_box(101.25),
        venue = black_box("XNAS"),
        "order filled"
    )
}

/// A layer that does nothing with events.
struct Noop;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}

/// A layer that visits every value of every event and keeps nothing.
struct VisitOnly;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for VisitOnly {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        event.record(&mut Values { message: None });
    }
}

/// The floor layers' `Visit`: each value into `black_box`, the message (a `Debug` value)
/// rendered into `message` when there is one.
struct Values<'a> {
    message: Option<&'a mut Stack>,
}
impl tracing::field::Visit for Values<'_> {
    fn record_u64(&mut self, _: &tracing::field::Field, v: u64) {
        black_box(v);
    }
    fn record_f64(&mut self, _: &tracing::field::Field, v: f64) {
        black_box(v);
    }
    fn record_str(&mut self, _: &tracing::field::Field, v: &str) {
        black_box(v);
    }
    fn record_debug(&mut self, _: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        match &mut self.message {
            Some(stack) => {
                let _ = std::fmt::Write::write_fmt(*stack, format_args!("{v:?}"));
            }
            None => {
                black_box(v);
            }
        }
    }
}

/// A layer that does what any layer keeping timestamped events must: reads the clock,
/// renders the message (tracing hands it over as `fmt::Arguments` behind `&dyn Debug`) into
/// a stack buffer, and visits the other values; then keeps nothing.
struct StampRender;
/// The stack buffer the message is rendered into (cut at its end).
struct Stack {
    buf: [u8; 64],
    len: usize,
}
impl std::fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StampRender {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let ticks = tickwatch::__private::now_ticks();
        let mut stack = Stack {
            buf: [0; 64],
            len: 0,
        };
        event.record(&mut Values {
            message: Some(&mut stack),
        });
        black_box((ticks, &stack.buf[..stack.len]));
    }
}

/// A bare `Subscriber` (no registry) that takes every event and does nothing with it: what
/// a subscriber of tickwatch's own, in place of the registry and a layer, could save.
struct BareNoop;
impl tracing::Subscriber for BareNoop {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::always()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        black_box(event);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn layer(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracing_layer");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));

    let tw = instance();
    let subscriber = tracing_subscriber::registry().with(tw.tracing_layer().level(Level::Info));
    let default = tracing::subscriber::set_default(subscriber);
    both(
        &mut g,
        &tw,
        "tickwatch_layer/info!(3 fields)",
        info_three_fields,
    );
    both(
        &mut g,
        &tw,
        "probe/tickwatch_layer/3 fields, no message",
        || {
            tracing::info!(
                order_id = black_box(42u64),
                px = black_box(101.25),
                venue = black_box("XNAS")
            )
        },
    );
    both(&mut g, &tw, "probe/tickwatch_layer/message only", || {
        tracing::info!("order filled")
    });
    both(&mut g, &tw, "probe/tickwatch_layer/one u64", || {
        tracing::info!(order_id = black_box(42u64))
    });
    g.bench_function("disabled/tickwatch_layer/debug!", |b| {
        b.iter(|| tracing::debug!(order_id = black_box(42u64), "order filled"))
    });
    drop(default);
    both(&mut g, &tw, "tickwatch/info!(3 fields)", || {
        tickwatch::info!(
            tw,
            "order filled",
            order_id = black_box(42u64),
            px = black_box(101.25),
            venue = black_box("XNAS")
        )
    });
    tw.flush().expect("flush");
    let st = tw.stats();
    assert_eq!((st.dropped, st.accepted), (0, st.delivered), "{st:?}");
    drop(tw);

    for (name, lossy) in [
        ("fmt+non_blocking(lossless)/info!(3 fields)", false),
        ("fmt+non_blocking(lossy, default)/info!(3 fields)", true),
    ] {
        let peer = tracing_peer::fmt_non_blocking(lossy);
        g.bench_function(name, |b| b.iter(info_three_fields));
        drop(peer);
    }

    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(Noop));
    g.bench_function("floor/registry+noop_layer/info!(3 fields)", |b| {
        b.iter(info_three_fields)
    });
    drop(default);
    let default = tracing::subscriber::set_default(BareNoop);
    g.bench_function("floor/bare_noop_subscriber/info!(3 fields)", |b| {
        b.iter(info_three_fields)
    });
    drop(default);
    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(VisitOnly));
    g.bench_function("floor/registry+visit_only_layer/info!(3 fields)", |b| {
        b.iter(info_three_fields)
    });
    drop(default);
    let default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(StampRender));
    g.bench_function("floor/registry+stamp_render_layer/info!(3 fields)", |b| {
        b.iter(info_three_fields)
    });
    drop(default);

    let default = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
    g.bench_function("disabled/no_subscriber/debug!", |b| {
        b.iter(|| tracing::debug!(order_id = black_box(42u64), "order filled"))
    });
    drop(default);

    // Last, as a process installs it: the global default (once per process, so after every
    // scoped row). With no scoped subscriber left, tracing finds the global one without its
    // thread-local lookup.
    let tw = instance();
    let global = tracing_subscriber::registry().with(tw.tracing_layer().level(Level::Info));
    if tracing::subscriber::set_global_default(global).is_ok() {
        both(
            &mut g,
            &tw,
            "global/tickwatch_layer/info!(3 fields)",
            info_three_fields,
        );
        tw.flush().expect("flush");
        let st = tw.stats();
        assert_eq!((st.dropped, st.accepted), (0, st.delivered), "{st:?}");
    }
    g.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
