//! One clock abstraction for the whole crate (issue 9, point 2): the same `ManualClock`
//! drives authentication, health and alerts, and moving it moves all three, in standalone
//! parts and in an instance (`TelemetryBuilder::clock`), installed or not.

use std::sync::Arc;

use tickwatch::alerts::{Alerts, AlertsConfig};
use tickwatch::health::Health;
use tickwatch::security::authn::{AuthConfig, AuthResult, Authenticator, Credentials};
use tickwatch::{ManualClock, WallClock};

#[test]
fn one_manual_clock_drives_authentication_health_and_alerts() {
    let clock = Arc::new(ManualClock::from_unix_secs(1_700_000_000));
    let auth = Authenticator::new(AuthConfig::insecure_for_tests(), clock.clone(), None).unwrap();
    let health = Health::with_clock(clock.clone());
    let _alerts = Alerts::new(AlertsConfig::default(), clock.clone());

    auth.users()
        .add_user("alice", "correct horse", &["trader"], None)
        .unwrap();
    let AuthResult::Authenticated { session } =
        auth.authenticate_user(&Credentials::new("alice", "correct horse"))
    else {
        panic!("alice should log in");
    };
    assert_eq!(health.get_system_health().checked_at, clock.now());

    // Past the idle timeout (30 min by default) on the one clock: the session is gone, and
    // health reads the moved time.
    clock.advance_secs(31 * 60);
    assert!(auth.lookup_session(session.token.as_str()).is_none());
    assert_eq!(
        health.get_system_health().checked_at.unix_nanos(),
        (1_700_000_000 + 31 * 60) * 1_000_000_000
    );
    assert_eq!(clock.unix_secs(), 1_700_000_000 + 31 * 60);
}

#[test]
fn an_instance_takes_the_one_clock_for_its_alerts_and_health() {
    use std::time::Duration;
    use tickwatch::alerts::{Alert, AlertResponse, Severity};
    use tickwatch::Telemetry;
    let clock = Arc::new(ManualClock::from_unix_secs(1_700_000_000));
    let auth = Authenticator::new(AuthConfig::insecure_for_tests(), clock.clone(), None).unwrap();
    auth.users()
        .add_user("bo", "pw-for-bo!", &[], None)
        .unwrap();
    let guard = tickwatch::install(
        Telemetry::builder()
            .clock(clock.clone())
            .alerts_config(AlertsConfig {
                auto_resolve: Some(Duration::from_secs(60)),
                ..AlertsConfig::default()
            })
            .authenticator(Arc::new(auth))
            .alert_log(tickwatch::alerts::SeverityFilter::all()),
    )
    .unwrap();
    let tw = tickwatch::global().unwrap();
    let AuthResult::Authenticated { session } =
        tickwatch::authenticate_user(&Credentials::new("bo", "pw-for-bo!")).unwrap()
    else {
        panic!("bo should log in");
    };
    assert_eq!(tw.get_system_health().checked_at, clock.now());
    let alert = || Alert::new("spread_wide", Severity::Warning, "spread over limit");
    assert!(matches!(
        tickwatch::send_alert(alert()),
        AlertResponse::Accepted { .. }
    ));
    // Still active on the manual clock, however long the test runs: deduplicated.
    assert!(matches!(
        tickwatch::send_alert(alert()),
        AlertResponse::Deduplicated { .. }
    ));
    assert_eq!(tw.active_alerts().len(), 1);

    // Two hours on the one clock: the alert is past auto_resolve, the session expired, health
    // reads the moved time.
    clock.advance_secs(2 * 3600);
    assert!(tw.active_alerts().is_empty());
    assert!(tw
        .authenticator()
        .unwrap()
        .lookup_session(session.token.as_str())
        .is_none());
    assert_eq!(tw.get_system_health().checked_at, clock.now());
    // Resolved: the next one is a new alert.
    assert!(matches!(
        tickwatch::send_alert(alert()),
        AlertResponse::Accepted { .. }
    ));
    guard.shutdown().unwrap();
}
