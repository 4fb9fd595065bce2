//! The process-wide authorizer behind the seed's free function `authorize_action`.

use std::sync::OnceLock;

use super::authorizer::{Authorizer, AuthzResult, Decision, Reason};
use crate::Audit;

static GLOBAL: OnceLock<Authorizer> = OnceLock::new();

/// Installs `authorizer` as the process's global one, used by [`authorize_global`]. There is
/// one per process: a second call gives its argument back as `Err`. Change the policy later
/// with [`Authorizer::replace_policy`] on [`global`]`()`.
pub fn install_global(authorizer: Authorizer) -> Result<&'static Authorizer, Authorizer> {
    let mut slot = Some(authorizer);
    let installed = GLOBAL.get_or_init(|| slot.take().expect("taken only here"));
    match slot {
        None => Ok(installed),
        Some(refused) => Err(refused),
    }
}

/// The global authorizer, if [`install_global`] was called.
pub fn global() -> Option<&'static Authorizer> {
    GLOBAL.get()
}

/// [`Authorizer::authorize_action`] on the global authorizer. Fails closed: with none
/// installed the answer is [`Decision::Deny`] with [`Reason::NoAuthorizer`] (audited through
/// the global telemetry instance, if one is installed, with detail `"no-authorizer"`).
pub fn authorize_global(user: &str, action: &str, resource: &str) -> AuthzResult {
    match GLOBAL.get() {
        Some(a) => a.authorize_action(user, action, resource),
        None => {
            if let Some(tw) = crate::global() {
                tw.audit(&Audit {
                    actor: user,
                    action,
                    resource,
                    outcome: "denied",
                    rule: "",
                    detail: "no-authorizer",
                });
            }
            AuthzResult {
                decision: Decision::Deny,
                reason: Reason::NoAuthorizer,
            }
        }
    }
}
