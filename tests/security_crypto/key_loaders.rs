//! Key loaders' bad inputs.

use super::*;

#[test]
fn hex_and_base64_loaders_accept_good_keys() {
    let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let from_hex = SecretKey::from_hex(hex).unwrap();
    let from_b64 = SecretKey::from_base64(b64).unwrap();
    let unpadded = SecretKey::from_base64(b64.trim_end_matches('=')).unwrap();
    assert_eq!(from_hex.expose_base64().as_str(), b64);
    assert_eq!(from_b64.expose_base64().as_str(), b64);
    assert_eq!(unpadded.expose_base64().as_str(), b64);
    assert_eq!(SecretKey::parse(hex).unwrap().expose_base64().as_str(), b64);
    assert_eq!(
        SecretKey::parse(&format!(" {b64}\n"))
            .unwrap()
            .expose_base64()
            .as_str(),
        b64
    );
    assert_eq!(format!("{from_hex:?}"), "SecretKey(..)");
}

#[test]
fn key_loaders_reject_bad_inputs_with_typed_errors() {
    use KeyError::*;
    let wl = |e: KeyError, enc: Encoding, n: usize| {
        assert!(
            matches!(e, WrongLength { encoding, decoded_len } if encoding == enc && decoded_len == n),
            "{e:?}"
        )
    };
    assert!(matches!(SecretKey::from_hex(""), Err(Empty)));
    assert!(matches!(SecretKey::from_hex("  "), Err(Empty)));
    assert!(matches!(SecretKey::from_base64(""), Err(Empty)));
    assert!(matches!(SecretKey::parse(""), Err(Empty)));
    wl(
        SecretKey::from_hex(&"ab".repeat(31)).unwrap_err(),
        Encoding::Hex,
        31,
    );
    wl(
        SecretKey::from_hex(&"ab".repeat(33)).unwrap_err(),
        Encoding::Hex,
        33,
    );
    wl(
        SecretKey::parse(&"ab".repeat(16)).unwrap_err(),
        Encoding::Hex,
        16,
    );
    assert!(matches!(
        SecretKey::from_hex(&"a".repeat(63)),
        Err(InvalidEncoding {
            encoding: Encoding::Hex,
            ..
        })
    ));
    assert!(matches!(
        SecretKey::from_hex(&format!("{}zz", "ab".repeat(31))),
        Err(InvalidCharacter {
            encoding: Encoding::Hex,
            position: 62
        })
    ));
    wl(
        SecretKey::from_base64("c2hvcnQ=").unwrap_err(),
        Encoding::Base64,
        5,
    );
    wl(
        SecretKey::from_base64(&"A".repeat(48)).unwrap_err(),
        Encoding::Base64,
        36,
    );
    wl(
        SecretKey::from_base64(&"A".repeat(400)).unwrap_err(),
        Encoding::Base64,
        300,
    );
    assert!(matches!(
        SecretKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd*h8="),
        Err(InvalidCharacter {
            encoding: Encoding::Base64,
            position: 40
        })
    ));
    assert!(matches!(
        SecretKey::from_base64("A"),
        Err(InvalidEncoding {
            encoding: Encoding::Base64,
            ..
        })
    ));
    wl(
        SecretKey::from_bytes(&[0; 16]).unwrap_err(),
        Encoding::Raw,
        16,
    );
    // Errors never show key material.
    let e = SecretKey::from_hex(&format!("{}zz", "ab".repeat(31))).unwrap_err();
    assert!(!e.to_string().contains("abab"));
}

#[test]
fn env_loader_reports_missing_and_bad_variables() {
    let var = "TICKWATCH_TEST_KEY_MISSING_7f3a";
    std::env::remove_var(var);
    assert!(matches!(
        SecretKey::from_env(var),
        Err(KeyError::EnvVarMissing { var: v }) if v == var
    ));
    let bad = "TICKWATCH_TEST_KEY_BAD_7f3a";
    std::env::set_var(bad, "not a key");
    assert!(matches!(
        SecretKey::from_env(bad),
        Err(KeyError::InvalidCharacter { .. })
    ));
    let good = "TICKWATCH_TEST_KEY_GOOD_7f3a";
    std::env::set_var(good, "00".repeat(32));
    let ring = KeyRing::builder().key_env("env", good).build().unwrap();
    assert_eq!(ring.active_key_id().as_deref(), Some("env"));
    assert!(matches!(
        KeyRing::builder().key_env("env", var).build(),
        Err(KeyRingError::Key(KeyError::EnvVarMissing { .. }))
    ));
}

fn temp_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tickwatch-crypto-{}", std::process::id()))
}

/// Removes this file's temporary directory when the test ends, passing or failing.
struct RemoveTempDir;

impl Drop for RemoveTempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(temp_dir());
    }
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn key_file_loads_and_names_bad_lines() {
    let _cleanup = RemoveTempDir;
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let good = temp_file(
        "good.keys",
        &format!("# ring\n\nold = {b64}\nnew={}\n", "11".repeat(32)),
    );
    let ring = KeyRing::builder().key_file(&good).build().unwrap();
    assert_eq!(ring.key_ids(), vec!["old".to_string(), "new".into()]);
    assert_eq!(ring.active_key_id().as_deref(), Some("new"));

    let line_err = |text: &str| -> (usize, KeyError) {
        let p = temp_file("bad.keys", text);
        match KeyRing::builder().key_file(&p).build() {
            Err(KeyRingError::Key(KeyError::KeyFileLine { line, source, .. })) => (line, *source),
            other => panic!("{text:?}: {other:?}"),
        }
    };
    let (l, e) = line_err(&format!("a={b64}\nno separator here\n"));
    assert_eq!(l, 2);
    assert!(matches!(e, KeyError::MissingSeparator));
    let (l, e) = line_err(&format!("# c\na={b64}\na={b64}\n"));
    assert_eq!(l, 3);
    assert!(matches!(e, KeyError::DuplicateKeyId { .. }));
    let (l, e) = line_err(&format!("bad id!={b64}\n"));
    assert_eq!(l, 1);
    assert!(matches!(e, KeyError::InvalidKeyId { .. }));
    let (l, e) = line_err("a=c2hvcnQ=\n");
    assert_eq!(l, 1);
    assert!(matches!(e, KeyError::WrongLength { decoded_len: 5, .. }));
    let (_, e) = line_err("a=\n");
    assert!(matches!(e, KeyError::Empty));
    let (_, e) = line_err(&format!("={b64}\n"));
    assert!(matches!(e, KeyError::InvalidKeyId { .. }));

    let empty = temp_file("empty.keys", "# nothing\n\n");
    assert!(matches!(
        KeyRing::builder().key_file(&empty).build(),
        Err(KeyRingError::Key(KeyError::EmptyKeyFile { .. }))
    ));
    assert!(matches!(
        KeyRing::builder()
            .key_file("/nonexistent/tickwatch.keys")
            .build(),
        Err(KeyRingError::Key(KeyError::Io { .. }))
    ));
    // Key file plus a key with the same id: duplicate.
    assert!(matches!(
        KeyRing::builder()
            .key_file(&good)
            .key("old", key(1))
            .build(),
        Err(KeyRingError::DuplicateKeyId { .. })
    ));
    assert!(matches!(
        KeyRing::builder().key("a", key(1)).active("b").build(),
        Err(KeyRingError::UnknownKey { .. })
    ));
    assert!(matches!(
        KeyRing::builder().key("x".repeat(65), key(1)).build(),
        Err(KeyRingError::Key(KeyError::InvalidKeyId { .. }))
    ));
}

#[test]
fn debug_never_shows_key_material() {
    let ring = KeyRing::builder().key("a", key(0xAB)).build().unwrap();
    let d = format!("{ring:?} {:?}", KeyRing::builder().key("b", key(0xAB)));
    assert!(d.contains("\"a\""));
    assert!(!d.to_lowercase().contains("abab"));
    assert!(!d.contains("171"));
}
