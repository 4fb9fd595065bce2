//! The collector's guard around code it does not own: a sink's methods.
//!
//! A sink is user code: it may fail or panic on any call. Either is counted (`sink_errors` in
//! [`Stats`](super::Stats), and against that sink) and never stops the collector, so one bad
//! sink cannot starve the others or the rings.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;

use super::hooks::Hooks;
use super::shared::Shared;
use crate::sink::{Sink, SinkError};

/// Calls sink `i` (`f`: one of its methods), counting an error or a panic against it, and
/// passes on the notice it may have ([`Sink::take_notice`]).
pub(super) fn call_sink<H: Hooks>(
    shared: &Shared,
    hooks: &mut H,
    i: usize,
    sink: &mut Box<dyn Sink>,
    f: impl FnOnce(&mut Box<dyn Sink>) -> Result<(), SinkError>,
) -> bool {
    // A panic reads as (false, None): an error, no notice.
    let (ok, notice) = catch_unwind(AssertUnwindSafe(|| {
        let r = f(sink);
        (r.is_ok(), sink.take_notice())
    }))
    .unwrap_or_default();
    if !ok {
        shared.progress.sink_errors.fetch_add(1, Relaxed);
        shared.progress.each_sink_errors[i].fetch_add(1, Relaxed);
    }
    if let Some(n) = notice {
        hooks.on_sink_notice(i, n);
    }
    ok
}
