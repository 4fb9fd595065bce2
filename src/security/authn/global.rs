//! The process-wide authenticator behind the seed's free function `authenticate_user`.

use std::sync::OnceLock;

use super::{AuthResult, Authenticator, Credentials};
use crate::Audit;

static GLOBAL: OnceLock<Authenticator> = OnceLock::new();

/// Installs `authenticator` as the process's global one, used by [`authenticate_global`].
/// There is one per process: a second call gives its argument back (boxed) as `Err`. Build it with
/// `Some(tw.audit_log())` of the global instance so its decisions are audited there.
pub fn install_global(
    authenticator: Authenticator,
) -> Result<&'static Authenticator, Box<Authenticator>> {
    let mut slot = Some(authenticator);
    let installed = GLOBAL.get_or_init(|| slot.take().expect("taken only here"));
    match slot {
        None => Ok(installed),
        Some(refused) => Err(Box::new(refused)),
    }
}

/// The global authenticator, if [`install_global`] was called.
pub fn global() -> Option<&'static Authenticator> {
    GLOBAL.get()
}

/// [`Authenticator::authenticate_user`] on the global authenticator. Fails closed: with none
/// installed the answer is [`AuthResult::Denied`] (audited through the global telemetry
/// instance, if one is installed, with detail `"no-authenticator"`).
pub fn authenticate_global(credentials: &Credentials<'_>) -> AuthResult {
    match GLOBAL.get() {
        Some(a) => a.authenticate_user(credentials),
        None => {
            if let Some(tw) = crate::global() {
                tw.audit(&Audit {
                    actor: crate::record::clip(credentials.username, 64).0,
                    action: "authenticate",
                    resource: "session",
                    outcome: "denied",
                    rule: "",
                    detail: "no-authenticator",
                });
            }
            AuthResult::Denied
        }
    }
}
