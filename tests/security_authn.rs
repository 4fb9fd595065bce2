//! Authentication: published vectors (RFC 6238, RFC 4226, RFC 9106, Wycheproof HMAC), replay,
//! skew, lockout, unknown users, sessions, loaders, audit.

use std::sync::Arc;

use tickwatch::security::authn::totp::{base32_decode, hmac};
use tickwatch::security::authn::*;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::Telemetry;

const T0: u64 = 1_700_000_010; // step boundary + 10 s

fn seed(len: usize) -> Vec<u8> {
    b"1234567890".iter().copied().cycle().take(len).collect()
}

#[test]
fn rfc6238_full_table() {
    let rows: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];
    let s1 = TotpSecret::from_bytes(&seed(20), TotpAlgorithm::Sha1, 8).unwrap();
    let s256 = TotpSecret::from_bytes(&seed(32), TotpAlgorithm::Sha256, 8).unwrap();
    let s512 = TotpSecret::from_bytes(&seed(64), TotpAlgorithm::Sha512, 8).unwrap();
    let mut checked = 0;
    for (t, c1, c256, c512) in rows {
        for (s, want) in [(&s1, c1), (&s256, c256), (&s512, c512)] {
            assert_eq!(s.code_at(t), want, "t = {t}, {:?}", s.algorithm());
            assert!(
                matches!(s.verify(want, t, None), TotpVerdict::Accepted { step } if step == t / 30)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn rfc4226_hotp_table() {
    let want = [
        755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
    ];
    let s = TotpSecret::from_bytes(b"12345678901234567890", TotpAlgorithm::Sha1, 6).unwrap();
    for (counter, w) in want.into_iter().enumerate() {
        assert_eq!(s.hotp(counter as u64), w, "counter {counter}");
    }
}

#[test]
fn rfc9106_argon2id_vector() {
    use argon2::{Algorithm, Argon2, AssociatedData, ParamsBuilder, Version};
    // The same algorithm and version as PasswordHasher (Argon2id, v0x13), plus the vector's
    // secret and associated data.
    let params = ParamsBuilder::new()
        .m_cost(32)
        .t_cost(3)
        .p_cost(4)
        .data(AssociatedData::new(&[0x04; 12]).unwrap())
        .output_len(32)
        .build()
        .unwrap();
    let secret = [0x03u8; 8];
    let a = Argon2::new_with_secret(&secret, Algorithm::Argon2id, Version::V0x13, params).unwrap();
    let mut out = [0u8; 32];
    a.hash_password_into(&[0x01; 32], &[0x02; 16], &mut out)
        .unwrap();
    let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
    );
}

#[test]
fn wycheproof_hmac_through_totp_hmac() {
    use wycheproof::mac::{TestName, TestSet};
    let mut total = 0;
    for (name, alg) in [
        (TestName::HmacSha1, TotpAlgorithm::Sha1),
        (TestName::HmacSha256, TotpAlgorithm::Sha256),
        (TestName::HmacSha512, TotpAlgorithm::Sha512),
    ] {
        let set = TestSet::load(name).unwrap();
        for g in &set.test_groups {
            for t in &g.tests {
                let full = hmac(alg, &t.key, &t.msg);
                let n = g.tag_size / 8;
                let ok = n <= full.len() && full[..n] == t.tag[..];
                assert_eq!(
                    ok,
                    !t.result.must_fail(),
                    "{alg:?} tc {} {}",
                    t.tc_id,
                    t.comment
                );
                total += 1;
            }
        }
    }
    assert!(total > 300, "{total} cases");
}

#[test]
fn base32_rfc4648_vectors_and_errors() {
    for (plain, enc) in [
        ("", ""),
        ("f", "MY======"),
        ("fo", "MZXQ===="),
        ("foo", "MZXW6==="),
        ("foob", "MZXW6YQ="),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI======"),
    ] {
        assert_eq!(&base32_decode(enc).unwrap()[..], plain.as_bytes(), "{enc}");
        assert_eq!(
            &base32_decode(&enc.to_lowercase()).unwrap()[..],
            plain.as_bytes()
        );
        assert_eq!(
            totp::base32_encode(plain.as_bytes()).as_str(),
            enc.trim_end_matches('=')
        );
    }
    assert_eq!(
        base32_decode("MZXW1YTB"),
        Err(TotpSecretError::Base32 { at: 4 })
    );
    assert!(base32_decode("MZXW6YTBO").is_err()); // impossible length
    assert!(matches!(
        TotpSecret::from_base32("MZXW6YTB", TotpAlgorithm::Sha1, 6),
        Err(TotpSecretError::TooShort { len: 5 })
    ));
    assert!(matches!(
        TotpSecret::from_bytes(&[1; 20], TotpAlgorithm::Sha1, 9),
        Err(TotpSecretError::Digits(9))
    ));
}

fn setup(config: AuthConfig) -> (Arc<ManualClock>, Authenticator) {
    let clock = Arc::new(ManualClock::from_unix_secs(T0));
    let auth = Authenticator::new(config, clock.clone(), None).unwrap();
    (clock, auth)
}

fn secret() -> TotpSecret {
    TotpSecret::from_bytes(&seed(20), TotpAlgorithm::Sha1, 6).unwrap()
}

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

fn test_hasher() -> Arc<PasswordHasher> {
    Arc::new(PasswordHasher::new(PasswordConfig::insecure_for_tests()).unwrap())
}

#[test]
fn user_file_round_trips_through_toml_and_json() {
    let (_clock, auth) = setup(AuthConfig::insecure_for_tests());
    auth.users()
        .add_user("bob", "pw-bob", &["trader", "ops"], Some(secret()))
        .unwrap();
    auth.users().add_user("amy", "pw-amy", &[], None).unwrap();
    let toml = auth.users().to_toml().unwrap();
    let json = auth.users().to_json().unwrap();
    for store in [
        UserStore::from_toml(test_hasher(), &toml).unwrap(),
        UserStore::from_json(test_hasher(), &json).unwrap(),
    ] {
        assert_eq!(store.len(), 2);
        assert_eq!(store.roles("bob").unwrap(), ["trader", "ops"]);
        let a = Authenticator::with_users(
            AuthConfig::insecure_for_tests(),
            store,
            Arc::new(ManualClock::from_unix_secs(T0)),
            None,
        )
        .unwrap();
        let code = secret().code_at(T0);
        assert!(matches!(
            a.authenticate_user(&Credentials::new("bob", "pw-bob").with_totp(&code)),
            AuthResult::Authenticated { .. }
        ));
        assert!(matches!(
            a.authenticate_user(&Credentials::new("amy", "pw-amy")),
            AuthResult::Authenticated { .. }
        ));
    }
}

const GOOD_PHC_OWASP: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Wv1bBkTjJbAc4KovP0WcK/lXvMV7dCy0kiy0c9sgWtE";

fn entry_err(r: Result<UserStore, UserFileError>) -> (usize, String, EntryError) {
    match r {
        Err(UserFileError::Entry {
            index,
            username,
            reason,
        }) => (index, username, reason),
        Err(e) => panic!("not an entry error: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn loaders_name_the_bad_entry() {
    let h = test_hasher;
    let ok = format!("[[users]]\nusername = \"ok\"\npassword_hash = \"{GOOD_PHC_OWASP}\"\n");
    // Syntax errors.
    for bad in ["[[users]\n", "users = 3", "[[users]]\nusername = \"x\"\n"] {
        assert!(
            matches!(
                UserStore::from_toml(h(), bad),
                Err(UserFileError::Syntax { format: "toml", .. })
            ),
            "{bad}"
        );
    }
    for bad in [
        "{",
        "{\"users\": [{\"username\": 1}]}",
        "{\"users\": {}}",
        "{\"users\":[{\"username\":\"a\",\"password_hash\":\"x\",\"extra\":1}]}",
    ] {
        assert!(
            matches!(
                UserStore::from_json(h(), bad),
                Err(UserFileError::Syntax { format: "json", .. })
            ),
            "{bad}"
        );
    }
    // Bad PHC string, second entry.
    let t = format!("{ok}[[users]]\nusername = \"bad\"\npassword_hash = \"$argon2id$nonsense\"\n");
    let (i, u, r) = entry_err(UserStore::from_toml(h(), &t));
    assert_eq!((i, u.as_str()), (1, "bad"));
    assert!(
        matches!(r, EntryError::PasswordHash(PhcError::Malformed(_))),
        "{r:?}"
    );
    // Not argon2id.
    let t = format!("{ok}[[users]]\nusername = \"i\"\npassword_hash = \"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Wv1bBkTjJbAc4KovP0WcK/lXvMV7dCy0kiy0c9sgWtE\"\n");
    let (i, _, r) = entry_err(UserStore::from_toml(h(), &t));
    assert_eq!(i, 1);
    assert!(
        matches!(r, EntryError::PasswordHash(PhcError::NotArgon2id(_))),
        "{r:?}"
    );
    // Weak parameters, refused by an OWASP-configured hasher.
    let weak = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$Wv1bBkTjJbAc4KovP0WcK/lXvMV7dCy0kiy0c9sgWtE";
    let owasp = Arc::new(PasswordHasher::new(PasswordConfig::owasp()).unwrap());
    let j = format!("{{\"users\":[{{\"username\":\"w\",\"password_hash\":\"{weak}\"}}]}}");
    let (i, u, r) = entry_err(UserStore::from_json(owasp, &j));
    assert_eq!((i, u.as_str()), (0, "w"));
    assert_eq!(
        r,
        EntryError::PasswordHash(PhcError::Weak(Argon2Params {
            m_kib: 64,
            t: 1,
            p: 1
        }))
    );
    // Bad base32 secret.
    let t = format!("{ok}[[users]]\nusername = \"m\"\npassword_hash = \"{GOOD_PHC_OWASP}\"\ntotp = {{ secret = \"NOT*BASE32\" }}\n");
    let (i, u, r) = entry_err(UserStore::from_toml(h(), &t));
    assert_eq!((i, u.as_str()), (1, "m"));
    assert_eq!(r, EntryError::Totp(TotpSecretError::Base32 { at: 3 }));
    // Bad digits.
    let t = format!("{ok}[[users]]\nusername = \"d\"\npassword_hash = \"{GOOD_PHC_OWASP}\"\ntotp = {{ secret = \"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\", digits = 10 }}\n");
    assert_eq!(
        entry_err(UserStore::from_toml(h(), &t)).2,
        EntryError::Totp(TotpSecretError::Digits(10))
    );
    // Duplicate and bad username.
    let t = format!("{ok}{ok}");
    assert_eq!(
        entry_err(UserStore::from_toml(h(), &t)).2,
        EntryError::Duplicate
    );
    let t = format!("[[users]]\nusername = \"two words\"\npassword_hash = \"{GOOD_PHC_OWASP}\"\n");
    assert_eq!(
        entry_err(UserStore::from_toml(h(), &t)).2,
        EntryError::Username(UsernameError::BadCharacter)
    );
    // And the good one loads.
    assert_eq!(UserStore::from_toml(h(), &ok).unwrap().len(), 1);
}

#[test]
fn weak_params_refused_without_insecure_for_tests() {
    let weak = PasswordConfig {
        params: Argon2Params {
            m_kib: 8192,
            t: 2,
            p: 1,
        },
        insecure_for_tests: false,
    };
    assert!(matches!(
        PasswordHasher::new(weak),
        Err(PasswordConfigError::BelowOwaspMinimum(_))
    ));
    let config = AuthConfig {
        password: weak,
        ..AuthConfig::default()
    };
    assert!(matches!(
        Authenticator::new(config, Arc::new(SystemClock), None),
        Err(AuthConfigError::Password(
            PasswordConfigError::BelowOwaspMinimum(_)
        ))
    ));
    let t1 = PasswordConfig {
        params: Argon2Params {
            m_kib: 19456,
            t: 1,
            p: 1,
        },
        insecure_for_tests: false,
    };
    assert!(t1.validate().is_err());
    let invalid = PasswordConfig {
        params: Argon2Params {
            m_kib: 1,
            t: 1,
            p: 1,
        },
        insecure_for_tests: true,
    };
    assert!(matches!(
        invalid.validate(),
        Err(PasswordConfigError::Invalid(_))
    ));
}

#[test]
fn owasp_parameters_end_to_end() {
    let (_clock, auth) = setup(AuthConfig::default());
    auth.users().add_user("olga", "s3cret!", &[], None).unwrap();
    let toml = auth.users().to_toml().unwrap();
    assert!(
        toml.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        &*toml
    );
    assert!(matches!(
        auth.authenticate_user(&Credentials::new("olga", "s3cret!")),
        AuthResult::Authenticated { .. }
    ));
    assert_eq!(
        auth.authenticate_user(&Credentials::new("olga", "s3cret")),
        AuthResult::Denied
    );
}

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
