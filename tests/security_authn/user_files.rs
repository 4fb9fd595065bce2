//! User files: TOML and JSON round trips, loaders that name the bad entry, weak parameters.

use super::*;

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
