//! [`AuditLog`]: the handle through which the security components (key ring, authenticator,
//! authorizer) leave an [`Audit`] record of each decision in an instance's log.

use std::sync::Arc;

use crate::logging::Audit;
use crate::pipeline::Shared;

/// A cloneable handle that records [`Audit`] records into one instance; what the security
/// components are given so each decision leaves its record. `Clone + Send + Sync`.
///
/// ```
/// let tw = tickwatch::Telemetry::builder().start().unwrap();
/// let log = tw.audit_log();
/// log.record(&tickwatch::Audit { actor: "keyring", action: "rotate", ..Default::default() });
/// ```
#[derive(Clone)]
pub struct AuditLog {
    pub(crate) shared: Arc<Shared>,
}

impl AuditLog {
    /// Records one audit record (waits for room whatever the backpressure policy).
    pub fn record(&self, audit: &Audit<'_>) {
        self.shared.push_audit(audit);
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("instance", &self.shared.id)
            .finish()
    }
}

/// Where a security component keeps the audit log it records into: given at construction,
/// or attached later by the instance it is installed with
/// ([`TelemetryBuilder::key_ring`](crate::TelemetryBuilder::key_ring) and friends), once.
#[derive(Debug, Default)]
pub(crate) struct AuditSlot(std::sync::OnceLock<AuditLog>);

impl AuditSlot {
    pub(crate) fn new(log: Option<AuditLog>) -> AuditSlot {
        let slot = AuditSlot::default();
        if let Some(log) = log {
            let _ = slot.0.set(log);
        }
        slot
    }

    /// The log, if the component has one.
    #[inline]
    pub(crate) fn get(&self) -> Option<&AuditLog> {
        self.0.get()
    }

    /// Gives the component `log` unless it has one already (an explicit log wins).
    pub(crate) fn attach(&self, log: AuditLog) {
        let _ = self.0.set(log);
    }
}
