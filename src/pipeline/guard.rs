//! The collector's guard around code it does not own: a sink's methods, and the payload of a
//! panic the supervisor caught.
//!
//! A sink is user code: it may fail or panic on any call. Either is counted (`sink_errors` in
//! [`Stats`](super::Stats), and against that sink) and never stops the collector, so one bad
//! sink cannot starve the others or the rings.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;

use super::hooks::Hooks;
use super::shared::Shared;
use crate::sink::{Sink, SinkError};

/// The text of a panic's payload (`panic!` with a literal or with format arguments).
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned())
}

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

#[cfg(test)]
mod tests {
    use super::panic_message;
    use std::panic::catch_unwind;

    #[test]
    fn panic_payloads_read_as_their_text() {
        let literal = catch_unwind(|| panic!("a literal")).unwrap_err();
        assert_eq!(panic_message(&*literal), "a literal");
        let n = 7;
        let formatted = catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(&*formatted), "formatted 7");
        let other = catch_unwind(|| std::panic::panic_any(42u32)).unwrap_err();
        assert_eq!(panic_message(&*other), "a panic with a non-text payload");
    }
}
