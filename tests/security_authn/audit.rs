//! One audit record per attempt without secrets, Debug output, concurrent logins, revocation.

use super::*;

#[test]
fn one_audit_record_per_attempt_without_secrets() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let clock = Arc::new(ManualClock::from_unix_secs(T0));
    let auth = Authenticator::new(
        AuthConfig::insecure_for_tests(),
        clock.clone(),
        Some(tw.audit_log()),
    )
    .unwrap();
    auth.users()
        .add_user("hal", "hal-pass", &[], Some(secret()))
        .unwrap();
    let code = secret().code_at(T0);
    let long_name = "z".repeat(500);
    let attempts: Vec<Credentials<'_>> = vec![
        Credentials::new("hal", "hal-pass"),
        Credentials::new("hal", "hal-pass").with_totp(&code),
        Credentials::new("hal", "wrong-pass"),
        Credentials::new("nobody", "x"),
        Credentials::new(&long_name, "x"),
        Credentials::new("hal", "wrong-pass"),
        Credentials::new("hal", "wrong-pass"),
        Credentials::new("hal", "wrong-pass"),
        Credentials::new("hal", "wrong-pass"),
        Credentials::new("hal", "hal-pass"),
    ];
    for c in &attempts {
        let _ = auth.authenticate_user(c);
    }
    tw.flush().unwrap();
    let audits: Vec<(String, String, String, String)> = mem
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Audit {
                actor,
                action,
                outcome,
                rule,
                detail,
                ..
            } => {
                assert_eq!(action, "authenticate");
                Some((actor, outcome, rule, detail))
            }
            _ => None,
        })
        .collect();
    assert_eq!(audits.len(), attempts.len());
    let outcomes: Vec<&str> = audits.iter().map(|a| a.1.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "second_factor_required",
            "authenticated",
            "denied",
            "denied",
            "denied",
            "denied",
            "denied",
            "denied",
            "denied",
            "locked_out"
        ]
    );
    assert_eq!(audits[1].2, "password+totp");
    assert_eq!(audits[9].2, "lockout");
    assert_eq!(audits[4].0.len(), MAX_AUDIT_ACTOR_LEN);
    for (actor, _, rule, detail) in &audits {
        for secret in ["hal-pass", "wrong-pass", code.as_str()] {
            assert!(!actor.contains(secret) && !rule.contains(secret) && !detail.contains(secret));
        }
    }
    tw.shutdown().unwrap();
}

#[test]
fn debug_output_hides_secrets() {
    let s = TotpSecret::from_bytes(&[0xAB; 20], TotpAlgorithm::Sha1, 6).unwrap();
    let b32 = s.to_base32();
    assert!(!format!("{s:?}").contains(b32.as_str()));
    let c = Credentials::new("u", "hunter2-password").with_totp("123456");
    let d = format!("{c:?}");
    assert!(!d.contains("hunter2") && !d.contains("123456"), "{d}");
}

#[test]
fn concurrent_logins_accept_a_code_once() {
    let (_clock, auth) = setup(AuthConfig::insecure_for_tests());
    auth.users()
        .add_user("ivy", "pw", &[], Some(secret()))
        .unwrap();
    let auth = Arc::new(auth);
    let code = secret().code_at(T0);
    let wins: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let auth = auth.clone();
                let code = code.clone();
                s.spawn(move || {
                    matches!(
                        auth.authenticate_user(&Credentials::new("ivy", "pw").with_totp(&code)),
                        AuthResult::Authenticated { .. }
                    ) as usize
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1);
}

#[test]
fn revoke_leaves_one_audit_record() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let auth = Authenticator::new(
        AuthConfig::insecure_for_tests(),
        Arc::new(ManualClock::from_unix_secs(T0)),
        Some(tw.audit_log()),
    )
    .unwrap();
    auth.users().add_user("jo", "pw", &[], None).unwrap();
    let AuthResult::Authenticated { session } =
        auth.authenticate_user(&Credentials::new("jo", "pw"))
    else {
        panic!("not authenticated")
    };
    assert!(auth.revoke_session(session.token.as_str()));
    tw.flush().unwrap();
    let revokes: Vec<(String, String)> = mem
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Audit {
                actor,
                action,
                outcome,
                ..
            } if action == "revoke" => Some((actor, outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(revokes, [("jo".to_owned(), "revoked".to_owned())]);
    tw.shutdown().unwrap();
}
