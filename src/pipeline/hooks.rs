//! The collector's extension points: what the layers above the pipeline (aggregation, the
//! monitoring tasks, health) plug into it, so that the pipeline knows nothing of them.
//!
//! The collector is generic over one [`Hooks`] value, so the per-record call
//! ([`Fold::sample`]) is a direct, inlinable call: no virtual dispatch per record.

use std::time::Instant;

use crate::time::Conversion;

/// What the collector calls besides the sinks. Everything runs on the collector thread.
pub(crate) trait Hooks: Send + 'static {
    /// The per-batch sample folder ([`Hooks::fold`]).
    type Fold<'a>: Fold
    where
        Self: 'a;

    /// Called once per drained batch, before its records are checked: a folder that sees
    /// every valid sample of the batch, or `None` when nothing folds samples (one lock per
    /// batch, not per record).
    fn fold(&self) -> Option<Self::Fold<'_>>;

    /// The next instant [`Hooks::on_schedule`] must run (the collector never sleeps past it).
    fn next_due(&self) -> Instant;

    /// Periodic work (interval rollover, monitoring tasks), once `next_due` has passed.
    fn on_schedule(&mut self, now: Instant);

    /// Once at shutdown, after the final drain; records it pushes are drained too.
    fn finish(&mut self);

    /// Once when the collector exits, however it exits.
    fn on_exit(&self) {}

    /// After the collector loop panicked outside a sink (`why` is the panic message), before
    /// it resumes; `restarts` counts them since start.
    fn on_restart(&mut self, _restarts: u64, _why: &str) {}

    /// Sink `sink` (its position) reported a change in its condition
    /// ([`crate::sink::Sink::take_notice`]).
    fn on_sink_notice(&mut self, _sink: usize, _notice: crate::sink::SinkNotice) {}
}

/// Folds one batch's samples (see [`Hooks::fold`]).
pub(crate) trait Fold {
    /// One valid sample, in ring order.
    fn sample(&mut self, kind: u8, flags: u8, id: u32, ticks: u64, value: u64, conv: &Conversion);

    /// The batch is done.
    fn end(&mut self);
}

/// No extension: a bare pipeline (sinks only), for the pipeline's own tests.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct NoHooks;

/// The folder of [`NoHooks`]; never made.
#[cfg(test)]
#[derive(Debug)]
pub(crate) enum NoFold {}

#[cfg(test)]
impl Fold for NoFold {
    fn sample(&mut self, _: u8, _: u8, _: u32, _: u64, _: u64, _: &Conversion) {
        match *self {}
    }
    fn end(&mut self) {
        match *self {}
    }
}

#[cfg(test)]
impl Hooks for NoHooks {
    type Fold<'a> = NoFold;

    fn fold(&self) -> Option<NoFold> {
        None
    }

    fn next_due(&self) -> Instant {
        // Far enough never to shorten a sleep (the longest is `MAX_IDLE_INTERVAL`).
        Instant::now() + std::time::Duration::from_secs(3600)
    }

    fn on_schedule(&mut self, _: Instant) {}

    fn finish(&mut self) {}
}
