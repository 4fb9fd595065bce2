//! The collector thread: drains every lane, resolves ids to names, converts ticks to wall
//! time and hands each batch to every sink.
//!
//! It never calls back into the hot path. Its costs are wake-ups, not records (draining a
//! record costs ~15 ns), so its idle policy is built to wake as rarely as the rings allow:
//!
//! * It keeps draining without a pause while a pass moves a large batch or finds a ring
//!   more than a quarter full (a stream or a burst in progress). A small batch is left to
//!   accumulate: chasing a producer record by record costs a core and gains nothing, as the
//!   ring holds them.
//! * After a pass that found nothing it polls a few more times (a short spin, ~1 µs each)
//!   only while spinning has paid off: the spin budget doubles when a spin catches records
//!   and halves when it ends empty-handed, so bursty producers (a burst every millisecond)
//!   soon get none and a continuous stream keeps it.
//! * Then it sleeps. The sleep after a pass that found records follows the rate: it starts
//!   at `idle_interval` and each wake-up that finds records sets it to the sleep that would
//!   have found the fullest ring half full (shrinking at once, growing at most twofold per
//!   wake-up), between ~50 µs and `max_idle_interval`, so a thread recording 1 M samples/s
//!   into the default 256 KiB ring costs about 250 wake-ups a second. While rings stay
//!   empty the sleep doubles (from the second wake-up in a row that found nothing: a single
//!   empty one is a wake-up out of phase with a bursty producer) up to
//!   `max_idle_interval`. It never sleeps past the next scheduled tick or sink flush.
//! * It is woken early by `flush()`, by shutdown, and by a producer that finds its ring full.
//!
//! `examples/collector_cost.rs` prints the collector's CPU next to the record rate.
//!
//! # When delivered records reach the sinks' destination
//!
//! "Delivered" means handed to every sink's [`Sink::write`]. A buffering sink (the JSON-lines
//! file) holds them until its [`Sink::flush`], which the collector calls: every
//! `flush_interval` (default 100 ms) while records keep arriving, within
//! [`URGENT_FLUSH_GAP`] of delivering a `Warn`-or-worse event or an audit record, on
//! [`flush()`](crate::Telemetry::flush) and at shutdown. A process that crashes therefore
//! loses at most `flush_interval` of delivered records (none that a `flush()` covered);
//! whether flushed bytes survive a power loss is up to the sink (the JSON-lines sink hands
//! them to the OS and does not `fsync`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::guard::call_sink;
use super::hooks::{Fold, Hooks};
use super::idle::{IdlePolicy, Next};
use super::lane::CollectorLane;
use super::sampler::BatchSampler;
use super::shared::{Shared, STOPPED};
use crate::affinity::{spawn_placed, SpawnError};
use crate::logging::refresh_callsites;
use crate::panics::panic_text;
use crate::record::{self, Raw};
use crate::sink::{Batch, Sink, Tables};
use crate::time::{now_ticks, thread_cpu_ns, Clock, Conversion};
use crate::Timestamp;

/// Pauses between two polls of empty rings while spinning.
const IDLE_POLL_SPINS: u32 = 20;
/// How soon after delivering a `Warn`-or-worse event or an audit record the sinks are
/// flushed, at the latest; also the shortest gap between two such urgent flushes, so that a
/// flood of warnings costs at most one flush per millisecond.
pub(crate) const URGENT_FLUSH_GAP: Duration = Duration::from_millis(1);

fn pause(n: u32) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

pub(crate) fn spawn<H: Hooks>(
    shared: Arc<Shared>,
    sinks: Vec<Box<dyn Sink>>,
    hooks: H,
) -> Result<JoinHandle<()>, SpawnError> {
    let id = shared.id;
    let placement = shared.config.collector.clone();
    let start = Instant::now();
    let idle = IdlePolicy::new(shared.config.idle_interval, shared.config.max_idle_interval)
        .spin_for(shared.config.collector_spin);
    let c = Collector {
        shared,
        lanes: Vec::new(),
        sinks,
        hooks,
        tables: Tables::default(),
        seen_gen: 0,
        delivered: 0,
        idle,
        pending_flush: PendingFlush::default(),
        last_flush: start,
        sampler: BatchSampler::new(now_ticks()),
        pass_sampler: BatchSampler::new(now_ticks().rotate_left(32)),
        draining: None,
    };
    spawn_placed(
        &placement,
        || format!("tickwatch-collector-{id}"),
        move || c.run(),
    )
}

struct Collector<H: Hooks> {
    shared: Arc<Shared>,
    lanes: Vec<CollectorLane>,
    sinks: Vec<Box<dyn Sink>>,
    hooks: H,
    tables: Tables,
    seen_gen: u64,
    delivered: u64,
    idle: IdlePolicy,
    pending_flush: PendingFlush,
    last_flush: Instant,
    sampler: BatchSampler,
    pass_sampler: BatchSampler,
    /// The lane being drained ([`lane_id`]), for the supervisor to know where a panic struck.
    draining: Option<usize>,
}

/// How many panics in a row on the same lane's batch, with nothing delivered in between,
/// make the supervisor discard that batch.
const POISON_STRIKES: u32 = 3;

/// A lane's identity while it lives (its shared state's address).
fn lane_id(lane: &CollectorLane) -> usize {
    Arc::as_ptr(&lane.shared) as usize
}

/// What the sinks hold that they have not flushed yet.
#[derive(Debug, Default, Clone, Copy)]
struct PendingFlush {
    /// When the oldest unflushed delivery happened; `None` when everything is flushed.
    since: Option<Instant>,
    /// A `Warn`-or-worse event or an audit record is among them.
    urgent: bool,
}

/// Marks the instance stopped and wakes every waiter, however the collector exits (`run`
/// returning or unwinding drops the collector).
impl<H: Hooks> Drop for Collector<H> {
    fn drop(&mut self) {
        let s = &self.shared;
        // Whatever the layers above keep of the collector (its health component) hears first.
        let hooks = &self.hooks;
        let _ = catch_unwind(AssertUnwindSafe(|| hooks.on_exit()));
        // Release: whoever sees STOPPED also sees every lane's final `consumed` count.
        s.set_state(STOPPED);
        *s.exited.lock() = true;
        s.exited_cv.notify_all();
        // Wake flush() callers so they see STOPPED rather than wait for their timeout.
        let _guard = s.flush_done.lock();
        s.flush_cv.notify_all();
    }
}

impl<H: Hooks> Collector<H> {
    /// The supervisor: runs the collector loop, and restarts it at once, on this thread and
    /// with every lane, sink and table as they were, if it panics (a bug outside a sink; a
    /// sink's panic is caught around each call). A chunk being handled when the panic struck
    /// stays in its ring (see `ring::Chunk`'s drop), so the restart delivers it: nothing
    /// accepted is lost, and a batch the sinks had already received is delivered again.
    /// A batch that panics the loop [`POISON_STRIKES`] times in a row is discarded and counted
    /// in `decode_errors`, so one poisonous record cannot stall every other.
    fn run(mut self) {
        // On this thread: whether its CPU clock can be read (sink CPU time is measured).
        self.shared
            .progress
            .sink_cpu_known
            .store(thread_cpu_ns().is_some(), Relaxed);
        let clock = Clock::global();
        let mut flushed = 0u64;
        let mut strikes = (None, 0u32);
        loop {
            let delivered = self.delivered;
            let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.serve(clock, &mut flushed)))
            else {
                return;
            };
            let why = panic_text(&*payload).unwrap_or("a panic with a non-text payload");
            let lane = self.draining.take();
            strikes = match strikes {
                (Some(l), n) if Some(l) == lane && self.delivered == delivered => (lane, n + 1),
                _ => (lane, 1),
            };
            if strikes.1 >= POISON_STRIKES {
                if let Some(i) = self.lanes.iter().position(|l| Some(lane_id(l)) == lane) {
                    self.discard(i);
                }
                strikes = (None, 0);
            }
            let restarts = self
                .shared
                .progress
                .collector_restarts
                .fetch_add(1, Relaxed)
                + 1;
            let hooks = &mut self.hooks;
            let _ = catch_unwind(AssertUnwindSafe(|| hooks.on_restart(restarts, why)));
        }
    }

    /// Throws away what lane `i` holds (counted in `decode_errors`): its batch panicked the
    /// collector [`POISON_STRIKES`] times in a row.
    fn discard(&mut self, i: usize) {
        let lane = &mut self.lanes[i];
        if let Some(chunk) = lane.consumer.read() {
            let n = chunk.frames().count() as u64;
            drop(chunk);
            self.shared.progress.decode_errors.fetch_add(n, Relaxed);
            lane.consumed += n;
            lane.shared.consumed.store(lane.consumed, Relaxed);
        }
    }

    /// The collector loop; returns once the instance stops.
    fn serve(&mut self, clock: &Clock, flushed: &mut u64) {
        // The last drain request answered (a lock only when a new one came).
        let mut drained = 0u64;
        loop {
            // Read the requests before draining: the drain that follows then covers every
            // record published before they were made.
            let stopping = self.shared.is_stopping();
            let flush_req = self.shared.flush_requested.load(Acquire);
            let drain_req = self.shared.drain_requested.load(Acquire);
            let (n, fill) = self.drain_all(clock);
            if n > 0 {
                self.end_pass();
            }
            if drain_req != drained {
                self.complete_drain(drain_req);
                drained = drain_req;
            }
            if stopping {
                self.finish(clock);
                return;
            }
            let now = Instant::now();
            // On every pass, busy or idle: a busy collector must not keep the start-up slope.
            clock.maybe_refine(now);
            if now >= self.hooks.next_due() {
                self.hooks.on_schedule(now);
                self.tick_sinks();
            }
            if flush_req != *flushed {
                let failed = self.flush_sinks(now);
                *flushed = flush_req;
                self.complete_flush(flush_req, failed);
                continue;
            }
            if self.flush_due(now) {
                self.flush_sinks(now);
            }
            match self.idle.after_pass(n, fill, now) {
                Next::Drain => {}
                Next::Spin => pause(IDLE_POLL_SPINS),
                Next::Sleep(d) => {
                    // Never sleep past a rollover, a tick or a due flush.
                    let until = self.next_deadline().saturating_duration_since(now);
                    let before = Instant::now();
                    std::thread::park_timeout(d.min(until));
                    let slept = u64::try_from(before.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    self.shared.progress.sleep_ns.fetch_add(slept, Relaxed);
                }
            }
        }
    }

    /// Whether the sinks should be flushed now (periodic or urgent; see the module docs).
    fn flush_due(&self, now: Instant) -> bool {
        let p = self.pending_flush;
        p.since.is_some_and(|since| {
            now >= since + self.shared.config.flush_interval
                || (p.urgent && now >= self.last_flush + URGENT_FLUSH_GAP)
        })
    }

    /// The earliest instant the collector must run again without being woken.
    fn next_deadline(&self) -> Instant {
        let mut at = self.hooks.next_due();
        if let Some(since) = self.pending_flush.since {
            at = at.min(since + self.shared.config.flush_interval);
            if self.pending_flush.urgent {
                at = at.min(self.last_flush + URGENT_FLUSH_GAP);
            }
        }
        at
    }

    /// Final drain at shutdown: producers now see the instance stopping and stop pushing;
    /// give those already inside a push a moment to publish, then drain until empty.
    fn finish(&mut self, clock: &Clock) {
        loop {
            std::thread::yield_now();
            if self.drain_all(clock).0 == 0 {
                break;
            }
        }
        self.hooks.finish();
        // Whatever the hooks' last words were (alert log events), drain them too.
        self.drain_all(clock);
        let failed = self.flush_sinks(Instant::now());
        self.shared.final_flush_failed.store(failed, Relaxed);
        let req = self.shared.flush_requested.load(Acquire);
        self.complete_flush(req, failed);
        self.complete_drain(self.shared.drain_requested.load(Acquire));
    }

    /// Drain pass `req` (and those before it) is done: wakes `Pipeline::drain` callers.
    fn complete_drain(&self, req: u64) {
        let mut done = self.shared.drain_done.lock();
        if *done < req {
            *done = req;
            self.shared.drain_cv.notify_all();
        }
    }

    /// Marks flush requests up to `req` done; `failed` sinks' flushes returned an error.
    fn complete_flush(&self, req: u64, failed: u32) {
        let mut done = self.shared.flush_done.lock();
        *done = req;
        if failed > 0 {
            // Under the lock: a waiter that sees `done` also sees this.
            *self.shared.flush_failed.lock() = (req, failed);
        }
        self.shared.flush_cv.notify_all();
    }

    /// Tells every sink the pass is over (`Sink::end_pass`), measured as sink time.
    fn end_pass(&mut self) {
        // Sampled as batches are: a pass is frequent, the CPU clock a system call.
        let weight = self.pass_sampler.sample();
        let cpu0 = weight.and_then(|_| thread_cpu_ns());
        let t0 = now_ticks();
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            call_sink(&self.shared, &mut self.hooks, i, sink, |s| s.end_pass());
        }
        let conv = Clock::global().conversion();
        let spent = conv.ticks_to_nanos(now_ticks().saturating_sub(t0));
        self.pass_sampler.took(spent);
        self.shared.progress.sink_ns.fetch_add(spent, Relaxed);
        if let (Some(c0), Some(w), Some(c1)) = (cpu0, weight, thread_cpu_ns()) {
            let est = c1.saturating_sub(c0).saturating_mul(w);
            self.shared.progress.sink_cpu_ns.fetch_add(est, Relaxed);
        }
    }

    /// Gives every sink its periodic call ([`Sink::tick`]), measured as sink time.
    fn tick_sinks(&mut self) {
        let t0 = Instant::now();
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            call_sink(&self.shared, &mut self.hooks, i, sink, |s| s.tick());
        }
        let spent = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.shared.progress.sink_ns.fetch_add(spent, Relaxed);
    }

    /// Flushes every sink (`now` is the time of the pass that decided it); returns how many
    /// failed (returned an error or panicked).
    fn flush_sinks(&mut self, now: Instant) -> u32 {
        self.pending_flush = PendingFlush::default();
        self.last_flush = now;
        // Flushes are few (every `flush_interval` at most, or an urgent one per millisecond
        // at most): each is measured on the CPU clock.
        let cpu0 = thread_cpu_ns();
        let t0 = Instant::now();
        let mut failed = 0;
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            if !call_sink(&self.shared, &mut self.hooks, i, sink, |s| s.flush()) {
                failed += 1;
            }
        }
        let spent = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.shared.progress.sink_ns.fetch_add(spent, Relaxed);
        if let (Some(c0), Some(c1)) = (cpu0, thread_cpu_ns()) {
            self.shared
                .progress
                .sink_cpu_ns
                .fetch_add(c1.saturating_sub(c0), Relaxed);
        }
        failed
    }

    /// Picks up lanes registered since the last look.
    fn adopt(&mut self) {
        let gen = self.shared.lanes_gen.load(Acquire);
        if gen != self.seen_gen {
            self.seen_gen = gen;
            let mut set = self.shared.lanes.lock();
            self.lanes.append(&mut set.pending);
        }
    }

    /// One pass over every lane; returns the records delivered (drop notices included) and
    /// the fullest ring's fill when it was read, as a fraction of its capacity.
    fn drain_all(&mut self, clock: &Clock) -> (usize, f64) {
        self.adopt();
        let conv = clock.conversion();
        let (mut total, mut fill) = (0, 0.0f64);
        let mut i = 0;
        while i < self.lanes.len() {
            // Look at `abandoned` first: if set, the drain below sees the producer's last frame.
            let abandoned = self.lanes[i].consumer.is_abandoned();
            self.draining = Some(lane_id(&self.lanes[i]));
            let (n, f) = self.drain_lane(i, &conv);
            self.draining = None;
            total += n;
            fill = fill.max(f);
            if abandoned {
                self.retire(i);
            } else {
                i += 1;
            }
        }
        (total, fill)
    }

    fn drain_lane(&mut self, i: usize, conv: &Conversion) -> (usize, f64) {
        let Collector {
            shared,
            lanes,
            sinks,
            hooks,
            tables,
            delivered,
            pending_flush,
            sampler,
            ..
        } = self;
        let CollectorLane {
            consumer,
            shared: lane,
            reported_drops,
            consumed,
        } = &mut lanes[i];
        let dropped = lane.drops.dropped.load(Acquire);
        let notice = dropped - *reported_drops;
        let chunk = consumer.read();
        if chunk.is_none() && notice == 0 {
            return (0, 0.0);
        }
        if chunk.is_some()
            && shared.progress.inject_panics.load(Relaxed) > 0
            && shared
                .progress
                .inject_panics
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("collector panic injected by Telemetry::inject_collector_panic");
        }
        let frames = chunk.as_ref().map(|c| c.frames()).unwrap_or_default();
        let fill = chunk.as_ref().map_or(0, |c| c.byte_len()) as u64;
        if fill > lane.high_water.load(Relaxed) {
            lane.high_water.store(fill, Relaxed);
        }
        // Lag: the age of this lane's oldest undrained record (every header carries its tick
        // in bytes 8..16), the health task's input.
        if let Some(t) = frames
            .clone()
            .next()
            .and_then(|f| f.get(8..16))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
        {
            let age = now_ticks().saturating_sub(u64::from_le_bytes(t));
            shared
                .progress
                .max_lag_ns
                .fetch_max(conv.ticks_to_nanos(age), Relaxed);
        }
        // Check every record once: count it, fold samples into the aggregates (one lock per
        // batch), and learn any series or call site registered since we last looked.
        let mut count = 0usize;
        let mut bad = 0u64;
        let mut urgent = false;
        let mut fold = hooks.fold();
        for f in frames.clone() {
            let raw = match record::decode(f) {
                Ok(raw) if tables.knows(&raw) => raw,
                Ok(raw) => {
                    shared.series.refresh(&mut tables.series);
                    refresh_callsites(&mut tables.callsites);
                    if !tables.knows(&raw) {
                        bad += 1;
                        continue;
                    }
                    raw
                }
                Err(_) => {
                    bad += 1;
                    continue;
                }
            };
            count += 1;
            urgent |= tables.is_urgent(&raw);
            if let (
                Some(fold),
                Raw::Sample {
                    kind,
                    flags,
                    id,
                    ticks,
                    value,
                },
            ) = (fold.as_mut(), raw)
            {
                fold.sample(kind, flags, id, ticks, value, conv);
            }
        }
        if let Some(fold) = fold.as_mut() {
            fold.end();
        }
        drop(fold);
        if bad > 0 {
            shared.progress.decode_errors.fetch_add(bad, Relaxed);
        }
        let batch = Batch {
            frames,
            dropped: notice,
            dropped_at: Timestamp::from_unix_nanos(conv.unix_nanos(now_ticks())),
            tables,
            clock: *conv,
            thread: &lane.thread,
            len: count,
        };
        let weight = sampler.sample();
        let cpu0 = weight.and_then(|_| thread_cpu_ns());
        let t0 = now_ticks();
        for (i, sink) in sinks.iter_mut().enumerate() {
            call_sink(shared, hooks, i, sink, |s| s.write(&batch));
        }
        let spent = conv.ticks_to_nanos(now_ticks().saturating_sub(t0));
        sampler.took(spent);
        shared.progress.sink_ns.fetch_add(spent, Relaxed);
        if let (Some(c0), Some(w), Some(c1)) = (cpu0, weight, thread_cpu_ns()) {
            // A measured batch stands for `w` of them (see `BatchSampler`).
            let est = c1.saturating_sub(c0).saturating_mul(w);
            shared.progress.sink_cpu_ns.fetch_add(est, Relaxed);
        }
        if pending_flush.since.is_none() {
            pending_flush.since = Some(Instant::now());
        }
        pending_flush.urgent |= urgent;
        *reported_drops = dropped;
        *delivered += count as u64;
        shared.progress.delivered.store(*delivered, Release);
        *consumed += count as u64 + bad;
        lane.consumed.store(*consumed, Relaxed);
        drop(chunk); // releases the ring space
        (
            count + (notice > 0) as usize,
            fill as f64 / lane.capacity as f64,
        )
    }

    /// Removes a lane whose thread exited, after its last records were delivered above.
    fn retire(&mut self, i: usize) {
        let lane = self.lanes.swap_remove(i);
        let (c, d) = (&lane.shared.counters, &lane.shared.drops);
        let mut set = self.shared.lanes.lock();
        set.live.retain(|l| !Arc::ptr_eq(l, &lane.shared));
        set.retired.accepted += lane.shared.accepted.records();
        set.retired.dropped += d.dropped.load(Relaxed);
        set.retired.oversized += d.oversized.load(Relaxed);
        set.retired.truncated += c.truncated.load(Relaxed);
        set.retired.timed_out += d.timed_out.load(Relaxed);
        set.retired.audit_dropped += d.audit_dropped.load(Relaxed);
        set.retired.threads += 1;
    }
}
