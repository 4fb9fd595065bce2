//! One clock abstraction for the whole crate (issue 9, point 2): the same `ManualClock`
//! drives authentication, health and alerts, and moving it moves all three.

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
