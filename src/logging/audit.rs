//! Audit records: who did what, on what, with which outcome, decided by which rule. The
//! handle that records them for the security components is [`crate::AuditLog`].

/// One security-relevant decision or operation, recorded with [`crate::Telemetry::audit`].
///
/// Audit records are never dropped for lack of room: whatever the instance's
/// [`crate::Backpressure`], the call waits until the ring has space. (A record larger than
/// half the ring can never fit and is refused and counted as `oversized`, like any other;
/// strings longer than `max_string_len` are cut and the record flagged `truncated`.)
///
/// ```
/// use tickwatch::{sink::{MemorySink, Record}, Audit, Telemetry};
/// let mem = MemorySink::new();
/// let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
/// tw.audit(&Audit {
///     actor: "alice",
///     action: "cancel_order",
///     resource: "orders/XNAS/42",
///     outcome: "allowed",
///     rule: "role:trader/allow/cancel_order",
///     detail: "",
/// });
/// tw.flush().unwrap();
/// assert!(matches!(&mem.records()[0], Record::Audit { actor, .. } if actor == "alice"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Audit<'a> {
    /// Who: a user, a service, a key id.
    pub actor: &'a str,
    /// What was attempted.
    pub action: &'a str,
    /// On what.
    pub resource: &'a str,
    /// How it ended (`"allowed"`, `"denied"`, `"authenticated"`, `"locked_out"`, ...).
    pub outcome: &'a str,
    /// The rule or policy that decided it, or empty when none matched.
    pub rule: &'a str,
    /// Anything else worth keeping, or empty.
    pub detail: &'a str,
}

impl<'a> Audit<'a> {
    pub(crate) fn parts(&self) -> [&'a str; 6] {
        [
            self.actor,
            self.action,
            self.resource,
            self.outcome,
            self.rule,
            self.detail,
        ]
    }

    pub(crate) fn from_parts(p: [&'a str; 6]) -> Self {
        let [actor, action, resource, outcome, rule, detail] = p;
        Audit {
            actor,
            action,
            resource,
            outcome,
            rule,
            detail,
        }
    }
}
