//! The lockout under concurrent guesses and a flood of junk names: the two attacks of issue 9.

use super::*;

/// An authenticator whose hashes take milliseconds (m = 8 MiB), so that concurrent guesses
/// really overlap the hashing.
fn slow_hashing(lockout: LockoutPolicy) -> (Arc<ManualClock>, Arc<Authenticator>) {
    let mut config = AuthConfig::insecure_for_tests();
    config.password.params = Argon2Params {
        m_kib: 8 * 1024,
        t: 2,
        p: 1,
    };
    config.lockout = lockout;
    let (clock, auth) = setup(config);
    (clock, Arc::new(auth))
}

/// `n` threads released at once, each guessing `user`'s password once.
fn concurrent_guesses(auth: &Arc<Authenticator>, user: &str, n: usize) -> Vec<AuthResult> {
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (auth, barrier, user) = (auth.clone(), barrier.clone(), user.to_owned());
            std::thread::spawn(move || {
                barrier.wait();
                auth.authenticate_user(&Credentials::new(&user, &format!("guess-{i}")))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn concurrent_guesses_stop_at_the_lock_threshold() {
    let (clock, auth) = slow_hashing(LockoutPolicy::default());
    auth.users().add_user("gina", "right", &[], None).unwrap();
    let v0 = auth.argon2_verifications();
    let results = concurrent_guesses(&auth, "gina", 16);
    let denied = results.iter().filter(|r| **r == AuthResult::Denied).count();
    let locked = results
        .iter()
        .filter(|r| matches!(r, AuthResult::LockedOut { .. }))
        .count();
    // Each attempt is counted before its hash: the 5th locks, the 11 after it are refused.
    assert_eq!((denied, locked), (5, 11), "{results:?}");
    assert_eq!(
        auth.argon2_verifications() - v0,
        5,
        "only admitted guesses are hashed"
    );
    assert_eq!(auth.consecutive_failures("gina"), 5);
    assert_eq!(
        auth.authenticate_user(&Credentials::new("gina", "right")),
        AuthResult::LockedOut {
            until: clock.unix_secs() + 60
        }
    );
}

#[test]
fn concurrent_guesses_never_pass_the_hard_limit() {
    let policy = LockoutPolicy {
        threshold: 5,
        hard_limit: 10,
        ..LockoutPolicy::default()
    };
    let (clock, auth) = slow_hashing(policy);
    auth.users().add_user("hank", "right", &[], None).unwrap();
    for i in 0..9 {
        let r = auth.authenticate_user(&Credentials::new("hank", "wrong"));
        assert_eq!(r, AuthResult::Denied, "guess {i}");
        clock.advance_secs(3600); // past the lock after the 5th
    }
    assert_eq!(auth.consecutive_failures("hank"), 9);
    let v0 = auth.argon2_verifications();
    let results = concurrent_guesses(&auth, "hank", 16);
    let locked_for_good = results
        .iter()
        .filter(|r| **r == AuthResult::LockedOut { until: u64::MAX })
        .count();
    assert_eq!(locked_for_good, 15, "{results:?}");
    assert_eq!(auth.argon2_verifications() - v0, 1);
    assert_eq!(auth.consecutive_failures("hank"), 10, "the ceiling holds");
}

#[test]
fn a_flood_of_junk_names_never_resets_an_account() {
    let (_clock, auth) = setup(AuthConfig::insecure_for_tests());
    auth.users().add_user("ivy", "right", &[], None).unwrap();
    for _ in 0..4 {
        assert_eq!(
            auth.authenticate_user(&Credentials::new("ivy", "wrong")),
            AuthResult::Denied
        );
    }
    // Free refusals (oversized passwords, never hashed) are not counted at all ...
    let long = "x".repeat(MAX_PASSWORD_LEN + 1);
    for i in 0..MAX_TRACKED_NAMES + 10 {
        let r = auth.authenticate_user(&Credentials::new(&format!("junk{i}"), &long));
        assert_eq!(r, AuthResult::Denied);
    }
    assert_eq!(auth.consecutive_failures("junk0"), 0);
    assert_eq!(auth.consecutive_failures("ivy"), 4);
    // ... and unknown names that are hashed fill only their own table.
    for i in 0..MAX_TRACKED_NAMES + 10 {
        let _ = auth.authenticate_user(&Credentials::new(&format!("junk{i}"), "pw"));
    }
    assert_eq!(auth.consecutive_failures("ivy"), 4, "account kept");
    assert_eq!(
        auth.authenticate_user(&Credentials::new("ivy", "wrong")),
        AuthResult::Denied
    );
    assert!(matches!(
        auth.authenticate_user(&Credentials::new("ivy", "right")),
        AuthResult::LockedOut { .. }
    ));
}

#[test]
fn a_right_password_waiting_for_its_code_is_not_a_failure() {
    let (clock, auth) = setup(AuthConfig::insecure_for_tests());
    auth.users()
        .add_user("jo", "right", &[], Some(secret()))
        .unwrap();
    for _ in 0..10 {
        assert_eq!(
            auth.authenticate_user(&Credentials::new("jo", "right")),
            AuthResult::SecondFactorRequired
        );
    }
    assert_eq!(auth.consecutive_failures("jo"), 0);
    let code = secret().code_at(clock.unix_secs());
    assert!(matches!(
        auth.authenticate_user(&Credentials::new("jo", "right").with_totp(&code)),
        AuthResult::Authenticated { .. }
    ));
}
