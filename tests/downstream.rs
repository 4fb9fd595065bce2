//! A new user's first program, as a separate crate on the public API only: one install for
//! the whole contract, every operation of the seed, the
//! macros with every field form, a part that was not configured answering with its typed
//! error, and a second install after the first was shut down.

use std::sync::Arc;
use std::time::Duration;

use tickwatch::alerts::{Alert, AlertResponse, Severity};
use tickwatch::health::Status;
use tickwatch::metrics::SeriesValue;
use tickwatch::security::authn::{AuthConfig, Authenticator};
use tickwatch::security::authz::{Authorizer, Permission, Policy, Role, User};
use tickwatch::security::crypto::SecretKey;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::store::{LogQuery, QueryError, SegmentLog};
use tickwatch::{
    event, AuthResult, Credentials, CryptoError, Decision, Event, FieldRef, KeyRing, Level,
    NotConfigured, SystemClock, Telemetry, Value,
};

fn security() -> (Arc<KeyRing>, Arc<Authenticator>, Arc<Authorizer>) {
    let ring = KeyRing::builder()
        .key("app-1", SecretKey::generate().unwrap())
        .build()
        .unwrap();
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
        roles: vec![Role::new("trader").permission(Permission::allow("cancel", "orders/*/*"))],
        users: vec![User::new("alice", &["trader"])],
    };
    let authz = Authorizer::new(policy, None).unwrap();
    (Arc::new(ring), Arc::new(authn), Arc::new(authz))
}

#[test]
fn a_new_users_program() {
    // 1. One install for everything.
    let (ring, authn, authz) = security();
    let mem = MemorySink::new();
    let log_dir = std::env::temp_dir().join(format!("tw-downstream-{}", std::process::id()));
    let guard = tickwatch::install(
        Telemetry::builder()
            .sink(mem.clone())
            .segment_log(SegmentLog::options(&log_dir).open().unwrap())
            .key_ring(ring)
            .authenticator(authn)
            .authorizer(authz)
            .alert_route(
                "desk",
                tickwatch::alerts::SeverityFilter::all(),
                tickwatch::alerts::CallbackSink::new(|_: &tickwatch::alerts::Notification| {}),
            ),
    )
    .expect("first install");
    let tw = tickwatch::global().expect("installed");

    // 2. The ten operations.
    tickwatch::log_metric("spread", 0.01, &[("venue", "XNAS")]);
    tickwatch::log_event(&Event {
        level: Level::Warn,
        target: "risk",
        message: "limit breached",
        fields: &[("excess", FieldRef::F64(1.5))],
    });
    tickwatch::measure_latency("order_roundtrip", Duration::from_micros(42));
    tickwatch::measure_latency_with_tags(
        "order_roundtrip",
        Duration::from_micros(40),
        &[("venue", "XNAS")],
    );
    tickwatch::track_resource_usage("order_book_depth", 0.42);
    tickwatch::track_resource_usage_with_tags("cpu", 0.3, &[("core", "2")]);
    let alert = Alert::new("risk_limit", Severity::Critical, "gross exposure 96%");
    assert!(matches!(
        tickwatch::send_alert(alert),
        AlertResponse::Accepted { .. }
    ));
    let health = tickwatch::get_system_health();
    assert!(
        health.component("tickwatch.collector").is_some(),
        "{health:?}"
    );
    let sealed = tickwatch::encrypt_data(b"api secret", "app-1").unwrap();
    assert_eq!(
        &tickwatch::decrypt_data(&sealed).unwrap()[..],
        b"api secret"
    );
    let creds = Credentials::new("alice", "correct horse");
    assert!(matches!(
        tickwatch::authenticate_user(&creds),
        Ok(AuthResult::Authenticated { .. })
    ));
    let decision = tickwatch::authorize_action("alice", "cancel", "orders/XNAS/42").unwrap();
    assert_eq!(decision.decision, Decision::Allow);

    // 3. The macros, every field form, on the global instance and on a handle to it.
    let (id, px, venue) = (42u64, 101.25, String::from("XNAS"));
    let side = std::cmp::Ordering::Less;
    let level = Level::Warn;
    event!(
        Level::Info,
        "order filled",
        order_id = id,
        px = px,
        venue = &venue
    );
    event!(
        level,
        "order {} rejected at {}",
        id,
        px,
        parent = None::<u64>
    );
    tickwatch::info!("book", ?side, depth = %px, pair = ?(1, 2));
    tickwatch::debug!(tw, "debug {}", 1u8);
    tickwatch::error!(tw, "error", code = -1i64, fatal = false);
    // A bare name after the first field is `name = name`; `%` renders with Display.
    tickwatch::warn!(tw, "bare names", qty = 5u64, id, %venue);
    tickwatch::trace!("trace {}", 2u8);
    tw.flush().unwrap();

    let records = mem.records();
    let messages: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages,
        [
            "limit breached",
            "order filled",
            "order 42 rejected at 101.25",
            "book",
            "debug 1",
            "error",
            "bare names",
            "trace 2"
        ]
    );
    assert!(records.iter().any(|r| matches!(
        r,
        Record::Event { message, fields, .. } if message == "bare names"
            && fields[..] == [
                ("qty".to_owned(), Value::U64(5)),
                ("id".to_owned(), Value::U64(42)),
                ("venue".to_owned(), Value::Str("XNAS".into())),
            ]
    )));
    assert!(records.iter().any(|r| matches!(
        r,
        Record::Event { fields, .. } if fields.contains(&("parent".into(), Value::None))
    )));
    // Every security call left its audit record.
    let audits = records
        .iter()
        .filter(|r| matches!(r, Record::Audit { .. }))
        .count();
    assert!(audits >= 2, "{audits}");
    // query_logs, over the log the collector wrote.
    let found = tickwatch::query_logs(&"level>=warn".parse::<LogQuery>().unwrap()).unwrap();
    let warned: Vec<_> = found
        .records
        .iter()
        .map(|r| match r {
            Record::Event { message, .. } => message.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        warned,
        [
            "limit breached",
            "order 42 rejected at 101.25",
            "error",
            "bare names"
        ]
    );
    // The samples are aggregated.
    let snap = tw.snapshot();
    let Some(SeriesValue::Latency(l)) = snap.find("order_roundtrip", &[]).map(|s| &s.value) else {
        panic!("no latency series")
    };
    assert_eq!(l.total.count, 1);
    guard.shutdown().unwrap();
    std::fs::remove_dir_all(&log_dir).unwrap();

    // 4. Uninstalled: typed errors, counted calls, and the health says so.
    assert!(matches!(
        tickwatch::query_logs(&LogQuery::new()),
        Err(QueryError::NotInstalled)
    ));
    assert_eq!(
        tickwatch::authorize_action("alice", "cancel", "orders/XNAS/42").unwrap_err(),
        NotConfigured::NoInstance
    );
    let before = tickwatch::calls_without_instance();
    tickwatch::log_metric("spread", 0.02, &[]);
    tickwatch::info!("nobody hears this");
    assert_eq!(tickwatch::calls_without_instance(), before + 2);
    assert_eq!(tickwatch::get_system_health().status, Status::Unhealthy);

    // 5. Installed again, without the security parts: each says which builder call it needs.
    let again = MemorySink::new();
    let guard = tickwatch::install(Telemetry::builder().sink(again.clone())).unwrap();
    assert_eq!(
        tickwatch::authenticate_user(&creds).unwrap_err(),
        NotConfigured::NoAuthenticator
    );
    assert_eq!(
        tickwatch::authorize_action("alice", "cancel", "orders/XNAS/42").unwrap_err(),
        NotConfigured::NoAuthorizer
    );
    assert_eq!(
        tickwatch::encrypt_data(b"x", "app-1").unwrap_err(),
        CryptoError::NoKeyRing
    );
    assert_eq!(
        tickwatch::decrypt_data(&sealed).unwrap_err(),
        CryptoError::NoKeyRing
    );
    assert!(matches!(
        tickwatch::send_alert(Alert::new("unheard", Severity::Critical, "no route")),
        AlertResponse::Refused {
            reason: tickwatch::alerts::Refusal::NoRoute
        }
    ));
    assert!(matches!(
        tickwatch::query_logs(&LogQuery::new()),
        Err(QueryError::NoLog)
    ));
    tickwatch::info!("second life");
    tickwatch::global().unwrap().flush().unwrap();
    assert!(again
        .records()
        .iter()
        .any(|r| matches!(r, Record::Event { message, .. } if message == "second life")));
    guard.shutdown().unwrap();
}
