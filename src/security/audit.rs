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
