//! Authentication: published vectors (RFC 6238, RFC 4226, RFC 9106, Wycheproof HMAC), replay,
//! skew, lockout, unknown users, sessions, loaders, audit.

use std::sync::Arc;

use tickwatch::security::authn::totp::{base32_decode, hmac};
use tickwatch::security::authn::*;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::Telemetry;

mod audit;
mod concurrent_guesses;
mod factors_and_lockout;
mod user_files;

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

fn test_hasher() -> Arc<PasswordHasher> {
    Arc::new(PasswordHasher::new(PasswordConfig::insecure_for_tests()).unwrap())
}
