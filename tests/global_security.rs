//! The seed's security free functions on the global instance: `authenticate_user` and
//! `authorize_action` fail closed before their components are installed, then decide with
//! them, and every decision leaves one audit record in the global instance's sinks.

use std::sync::Arc;

use tickwatch::security::authn::{AuthConfig, Authenticator, SystemClock};
use tickwatch::security::authz::{Authorizer, Permission, Policy, Reason, Role, User};
use tickwatch::sink::{MemorySink, Record};
use tickwatch::{AuthResult, Credentials, Decision, Telemetry};

fn audits(mem: &MemorySink) -> Vec<(String, String, String)> {
    mem.records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Audit {
                actor,
                outcome,
                detail,
                ..
            } => Some((actor, outcome, detail)),
            _ => None,
        })
        .collect()
}

#[test]
fn security_free_functions_on_the_global_instance() {
    let mem = MemorySink::new();
    let guard = tickwatch::install(Telemetry::builder().sink(mem.clone())).unwrap();
    let tw = tickwatch::global().unwrap();

    // Before installation: denied, and audited as such.
    let creds = Credentials::new("alice", "correct horse");
    assert!(matches!(
        tickwatch::authenticate_user(&creds),
        AuthResult::Denied
    ));
    let r = tickwatch::authorize_action("alice", "cancel_order", "orders/XNAS/42");
    assert_eq!(
        (r.decision, r.reason),
        (Decision::Deny, Reason::NoAuthorizer)
    );
    tw.flush().unwrap();
    assert_eq!(
        audits(&mem),
        vec![
            ("alice".into(), "denied".into(), "no-authenticator".into()),
            ("alice".into(), "denied".into(), "no-authorizer".into()),
        ]
    );
    mem.take();

    // Install both, audited into the global instance.
    let authn = Authenticator::new(
        AuthConfig::insecure_for_tests(),
        Arc::new(SystemClock),
        Some(tw.audit_log()),
    )
    .unwrap();
    authn
        .users()
        .add_user("alice", "correct horse", &["trader"], None)
        .unwrap();
    tickwatch::security::authn::install_global(authn).unwrap();
    let policy = Policy {
        roles: vec![Role::new("trader")
            .permission(Permission::allow("cancel_order", "orders/*/*").with_id("trader-cancel"))],
        users: vec![User::new("alice", &["trader"])],
    };
    tickwatch::security::authz::install_global(
        Authorizer::new(policy, Some(tw.audit_log())).unwrap(),
    )
    .unwrap();

    assert!(matches!(
        tickwatch::authenticate_user(&creds),
        AuthResult::Authenticated { .. }
    ));
    assert!(matches!(
        tickwatch::authenticate_user(&Credentials::new("alice", "wrong")),
        AuthResult::Denied
    ));
    let allowed = tickwatch::authorize_action("alice", "cancel_order", "orders/XNAS/42");
    assert_eq!(allowed.decision, Decision::Allow);
    assert_eq!(allowed.rule().map(|r| r.id()), Some("trader-cancel"));
    let denied = tickwatch::authorize_action("alice", "send_order", "orders/XNAS/42");
    assert_eq!(
        (denied.decision, denied.reason),
        (Decision::Deny, Reason::NoMatch)
    );
    tw.flush().unwrap();
    let outcomes: Vec<String> = audits(&mem).into_iter().map(|a| a.1).collect();
    assert_eq!(outcomes, ["authenticated", "denied", "allowed", "denied"]);
    guard.shutdown().unwrap();
}
