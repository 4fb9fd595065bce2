//! The seed's security free functions on the global instance: `authenticate_user` and
//! `authorize_action` return a typed error naming the missing builder call until the
//! installed builder was given their component, then decide with it, and every call leaves
//! one audit record in the global instance's sinks.

use std::sync::Arc;

use tickwatch::security::authn::{AuthConfig, Authenticator, SystemClock};
use tickwatch::security::authz::{Authorizer, Permission, Policy, Reason, Role, User};
use tickwatch::sink::{MemorySink, Record};
use tickwatch::{AuthResult, Credentials, Decision, NotConfigured, Telemetry};

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
    let creds = Credentials::new("alice", "correct horse");
    // Nothing installed: typed errors naming what is missing, never a silent deny.
    assert_eq!(
        tickwatch::authenticate_user(&creds).unwrap_err(),
        NotConfigured::NoInstance
    );
    assert_eq!(
        tickwatch::authorize_action("alice", "cancel_order", "orders/XNAS/42").unwrap_err(),
        NotConfigured::NoInstance
    );

    // An instance without them: the error names the builder call, and it is audited.
    let mem = MemorySink::new();
    let guard = tickwatch::install(Telemetry::builder().sink(mem.clone())).unwrap();
    let e = tickwatch::authenticate_user(&creds).unwrap_err();
    assert_eq!(e, NotConfigured::NoAuthenticator);
    assert!(
        e.to_string().contains("TelemetryBuilder::authenticator"),
        "{e}"
    );
    let e = tickwatch::authorize_action("alice", "cancel_order", "orders/XNAS/42").unwrap_err();
    assert_eq!(e, NotConfigured::NoAuthorizer);
    assert!(
        e.to_string().contains("TelemetryBuilder::authorizer"),
        "{e}"
    );
    tickwatch::global().unwrap().flush().unwrap();
    assert_eq!(
        audits(&mem),
        vec![
            (
                "alice".into(),
                "error".into(),
                "no-authenticator-configured".into()
            ),
            (
                "alice".into(),
                "error".into(),
                "no-authorizer-configured".into()
            ),
        ]
    );
    guard.shutdown().unwrap();

    // One install with both, built without audit logs: the instance attaches its own.
    let authn = Authenticator::new(
        AuthConfig::insecure_for_tests(),
        Arc::new(SystemClock),
        None,
    )
    .unwrap();
    authn
        .users()
        .add_user("alice", "correct horse", &["trader"], None)
        .unwrap();
    let policy = Policy {
        roles: vec![Role::new("trader")
            .permission(Permission::allow("cancel_order", "orders/*/*").with_id("trader-cancel"))],
        users: vec![User::new("alice", &["trader"])],
    };
    let mem = MemorySink::new();
    let guard = tickwatch::install(
        Telemetry::builder()
            .sink(mem.clone())
            .authenticator(Arc::new(authn))
            .authorizer(Arc::new(Authorizer::new(policy, None).unwrap())),
    )
    .unwrap();
    let tw = tickwatch::global().unwrap();

    assert!(matches!(
        tickwatch::authenticate_user(&creds),
        Ok(AuthResult::Authenticated { .. })
    ));
    assert!(matches!(
        tickwatch::authenticate_user(&Credentials::new("alice", "wrong")),
        Ok(AuthResult::Denied)
    ));
    let allowed = tickwatch::authorize_action("alice", "cancel_order", "orders/XNAS/42").unwrap();
    assert_eq!(allowed.decision, Decision::Allow);
    assert_eq!(allowed.rule().map(|r| r.id()), Some("trader-cancel"));
    let denied = tickwatch::authorize_action("alice", "send_order", "orders/XNAS/42").unwrap();
    assert_eq!(
        (denied.decision, denied.reason),
        (Decision::Deny, Reason::NoMatch)
    );
    tw.flush().unwrap();
    let outcomes: Vec<String> = audits(&mem).into_iter().map(|a| a.1).collect();
    assert_eq!(outcomes, ["authenticated", "denied", "allowed", "denied"]);
    guard.shutdown().unwrap();
}
