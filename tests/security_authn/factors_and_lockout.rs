//! Replay and skew of one-time codes, second factors, lockout, unknown users, oversized inputs, sessions.

use super::*;

#[test]
fn totp_replay_within_its_window_is_rejected() {
    let (clock, auth) = setup(AuthConfig::insecure_for_tests());
    auth.users()
        .add_user("bob", "pw-bob", &[], Some(secret()))
        .unwrap();
    let code = secret().code_at(T0);
    let creds = Credentials::new("bob", "pw-bob").with_totp(&code);
    assert!(matches!(
        auth.authenticate_user(&creds),
        AuthResult::Authenticated { .. }
    ));
    assert_eq!(auth.authenticate_user(&creds), AuthResult::Denied);
    // Still inside the window (next step accepts T-1): still a replay.
    clock.advance_secs(30);
    assert_eq!(auth.authenticate_user(&creds), AuthResult::Denied);
    // The previous step's code is older than the used step: rejected too.
    let old = secret().code_at(T0 - 30);
    assert_eq!(
        auth.authenticate_user(&Credentials::new("bob", "pw-bob").with_totp(&old)),
        AuthResult::Denied
    );
    // A fresh step's code is accepted once.
    let fresh = secret().code_at(clock.unix_secs());
    assert!(matches!(
        auth.authenticate_user(&Credentials::new("bob", "pw-bob").with_totp(&fresh)),
        AuthResult::Authenticated { .. }
    ));
}

#[test]
fn totp_skew_of_one_step_accepted_two_rejected() {
    let s = secret();
    for (offset, ok) in [
        (-60i64, false),
        (-30, true),
        (0, true),
        (30, true),
        (60, false),
    ] {
        let at = (T0 as i64 + offset) as u64;
        let v = s.verify(&s.code_at(at), T0, None);
        assert_eq!(
            matches!(v, TotpVerdict::Accepted { .. }),
            ok,
            "offset {offset}: {v:?}"
        );
    }
    // A code whose step was already used, or is older than the last used one: a replay.
    let step = T0 / 30;
    assert_eq!(
        s.verify(&s.code_at(T0), T0, Some(step)),
        TotpVerdict::Replayed
    );
    assert_eq!(
        s.verify(&s.code_at(T0 - 30), T0, Some(step)),
        TotpVerdict::Replayed
    );
    assert_eq!(
        s.verify(&s.code_at(T0 + 30), T0, Some(step)),
        TotpVerdict::Accepted { step: step + 1 }
    );
    assert_eq!(s.verify("12345", T0, None), TotpVerdict::Malformed);
    assert_eq!(s.verify("12a456", T0, None), TotpVerdict::Malformed);
}

#[test]
fn second_factor_required_per_user_and_per_role() {
    let mut config = AuthConfig::insecure_for_tests();
    config.mfa_roles = vec!["admin".into()];
    let (_clock, auth) = setup(config);
    auth.users()
        .add_user("bob", "pw", &["trader"], Some(secret()))
        .unwrap();
    auth.users()
        .add_user("root", "pw", &["admin"], None)
        .unwrap();
    auth.users()
        .add_user("eve", "pw", &["admin"], Some(secret()))
        .unwrap();
    assert_eq!(
        auth.authenticate_user(&Credentials::new("bob", "pw")),
        AuthResult::SecondFactorRequired
    );
    assert_eq!(
        auth.authenticate_user(&Credentials::new("eve", "pw")),
        AuthResult::SecondFactorRequired
    );
    // Role requires MFA, user not enrolled: fail closed.
    assert_eq!(
        auth.authenticate_user(&Credentials::new("root", "pw")),
        AuthResult::Denied
    );
    // Wrong password never reveals the second-factor step.
    assert_eq!(
        auth.authenticate_user(&Credentials::new("bob", "nope")),
        AuthResult::Denied
    );
    assert_eq!(
        auth.authenticate_user(&Credentials::new("bob", "pw").with_totp("000000")),
        AuthResult::Denied
    );
}

#[test]
fn lockout_grows_and_success_resets() {
    let (clock, auth) = setup(AuthConfig::insecure_for_tests());
    auth.users().add_user("carol", "right", &[], None).unwrap();
    let bad = Credentials::new("carol", "wrong");
    let good = Credentials::new("carol", "right");
    let mut expected_delay = 60;
    for round in 0..4 {
        for _ in 0..5 {
            assert_eq!(
                auth.authenticate_user(&bad),
                AuthResult::Denied,
                "round {round}"
            );
        }
        let until = clock.unix_secs() + expected_delay;
        // Locked: even the right password is not checked.
        let before = auth.argon2_verifications();
        assert_eq!(
            auth.authenticate_user(&good),
            AuthResult::LockedOut { until }
        );
        assert_eq!(auth.argon2_verifications(), before);
        clock.advance_secs(expected_delay - 1);
        assert_eq!(
            auth.authenticate_user(&good),
            AuthResult::LockedOut { until }
        );
        clock.advance_secs(1);
        expected_delay *= 2;
    }
    assert_eq!(auth.consecutive_failures("carol"), 20);
    assert!(matches!(
        auth.authenticate_user(&good),
        AuthResult::Authenticated { .. }
    ));
    assert_eq!(auth.consecutive_failures("carol"), 0);
    for _ in 0..5 {
        assert_eq!(auth.authenticate_user(&bad), AuthResult::Denied);
    }
    assert_eq!(
        auth.authenticate_user(&good),
        AuthResult::LockedOut {
            until: clock.unix_secs() + 60
        }
    );
}

#[test]
fn lockout_delay_is_capped_and_hard_limit_is_100() {
    let p = LockoutPolicy::default();
    assert_eq!(
        (0..8).map(|n| p.delay(n)).collect::<Vec<_>>(),
        [60, 120, 240, 480, 960, 1920, 3600, 3600]
    );
    assert_eq!(p.delay(200), 3600);
    let mut config = AuthConfig::insecure_for_tests();
    config.lockout.hard_limit = 101;
    assert!(matches!(
        Authenticator::new(config, Arc::new(SystemClock), None),
        Err(AuthConfigError::Lockout(LockoutPolicyError::HardLimit(101)))
    ));
    let (clock, auth) = setup(AuthConfig::insecure_for_tests());
    for _ in 0..100 {
        let _ = auth.authenticate_user(&Credentials::new("ghost", "x"));
        clock.advance_secs(4000);
    }
    assert_eq!(auth.consecutive_failures("ghost"), 100);
    clock.advance_secs(1_000_000);
    assert_eq!(
        auth.authenticate_user(&Credentials::new("ghost", "x")),
        AuthResult::LockedOut { until: u64::MAX }
    );
    auth.unlock("ghost");
    assert_eq!(
        auth.authenticate_user(&Credentials::new("ghost", "x")),
        AuthResult::Denied
    );
}

#[test]
fn unknown_user_is_denied_after_a_dummy_hash() {
    let (_clock, auth) = setup(AuthConfig::insecure_for_tests());
    auth.users().add_user("dave", "pw", &[], None).unwrap();
    let v0 = auth.argon2_verifications();
    assert_eq!(
        auth.authenticate_user(&Credentials::new("nobody", "pw")),
        AuthResult::Denied
    );
    assert_eq!(auth.argon2_verifications(), v0 + 1);
    assert_eq!(
        auth.authenticate_user(&Credentials::new("dave", "bad")),
        AuthResult::Denied
    );
    assert_eq!(auth.argon2_verifications(), v0 + 2);
}

#[test]
fn oversized_inputs_are_refused_before_hashing() {
    let (_clock, auth) = setup(AuthConfig::insecure_for_tests());
    auth.users().add_user("erin", "pw", &[], None).unwrap();
    let long = "x".repeat(MAX_PASSWORD_LEN + 1);
    let v0 = auth.argon2_verifications();
    assert_eq!(
        auth.authenticate_user(&Credentials::new("erin", &long)),
        AuthResult::Denied
    );
    let long_name = "n".repeat(MAX_USERNAME_LEN + 1);
    assert_eq!(
        auth.authenticate_user(&Credentials::new(&long_name, "pw")),
        AuthResult::Denied
    );
    assert_eq!(auth.argon2_verifications(), v0);
    assert_eq!(
        auth.users().add_user("frank", &long, &[], None),
        Err(AddUserError::Password(HashError::TooLong { len: 1025 }))
    );
    assert!(matches!(
        auth.users().add_user(&long_name, "pw", &[], None),
        Err(AddUserError::Username(UsernameError::TooLong { .. }))
    ));
    assert_eq!(
        auth.users().add_user("erin", "pw2", &[], None),
        Err(AddUserError::Exists)
    );
    assert_eq!(
        auth.users().set_password("nobody", "pw"),
        Err(SetPasswordError::UnknownUser)
    );
    // A password of exactly 1 KiB is fine.
    auth.users()
        .set_password("erin", &"y".repeat(MAX_PASSWORD_LEN))
        .unwrap();
    assert!(matches!(
        auth.authenticate_user(&Credentials::new("erin", &"y".repeat(MAX_PASSWORD_LEN))),
        AuthResult::Authenticated { .. }
    ));
}

#[test]
fn sessions_expire_idle_out_and_revoke() {
    let mut config = AuthConfig::insecure_for_tests();
    config.session = SessionConfig {
        absolute_timeout_secs: 1000,
        idle_timeout_secs: 100,
    };
    let (clock, auth) = setup(config);
    auth.users()
        .add_user("gina", "pw", &["trader"], None)
        .unwrap();
    let login = || match auth.authenticate_user(&Credentials::new("gina", "pw")) {
        AuthResult::Authenticated { session } => session,
        other => panic!("{other:?}"),
    };
    let s = login();
    assert_eq!(s.token.as_str().len(), 43);
    assert_eq!(s.expires_at, clock.unix_secs() + 1000);
    // Idle refresh keeps it alive up to the absolute limit.
    for _ in 0..9 {
        clock.advance_secs(99);
        let info = auth.lookup_session(s.token.as_str()).unwrap();
        assert_eq!(info.roles, ["trader"]);
    }
    clock.advance_secs(99); // 990 s idle-fresh, but absolute expiry at 1000
    assert!(auth.lookup_session(s.token.as_str()).is_some());
    clock.advance_secs(10);
    assert!(auth.lookup_session(s.token.as_str()).is_none());

    let s2 = login();
    clock.advance_secs(100);
    assert!(auth.lookup_session(s2.token.as_str()).is_none(), "idle out");

    let s3 = login();
    let s4 = login();
    assert_ne!(s3.token, s4.token);
    assert!(auth.revoke_session(s3.token.as_str()));
    assert!(!auth.revoke_session(s3.token.as_str()));
    assert!(auth.lookup_session(s3.token.as_str()).is_none());
    assert!(auth.lookup_session(s4.token.as_str()).is_some());
    assert!(auth.lookup_session("not-a-token").is_none());
    assert!(!format!("{s4:?}").contains(s4.token.as_str()));
}
