//! Password hashing: argon2id in PHC strings, with parameters no weaker than OWASP's minimum
//! unless a configuration explicitly says it is for tests.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

/// Longest password accepted, in bytes (1 KiB); longer ones are refused before any hashing.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// OWASP's minimum argon2id memory cost, in KiB (19 MiB).
pub const OWASP_MIN_M_KIB: u32 = 19 * 1024;
/// OWASP's minimum argon2id iteration count (with [`OWASP_MIN_M_KIB`]).
pub const OWASP_MIN_T: u32 = 2;
/// OWASP's argon2id parallelism (with [`OWASP_MIN_M_KIB`] and [`OWASP_MIN_T`]).
pub const OWASP_MIN_P: u32 = 1;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism (lanes).
    pub p: u32,
}

impl Default for Argon2Params {
    /// OWASP's minimum: m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Argon2Params {
            m_kib: OWASP_MIN_M_KIB,
            t: OWASP_MIN_T,
            p: OWASP_MIN_P,
        }
    }
}

impl Argon2Params {
    /// Whether these parameters are at least OWASP's minimum (m >= 19 MiB and t >= 2, p >= 1).
    pub fn meets_owasp_minimum(&self) -> bool {
        self.m_kib >= OWASP_MIN_M_KIB && self.t >= OWASP_MIN_T && self.p >= OWASP_MIN_P
    }

    fn to_argon2(self) -> Result<Params, argon2::Error> {
        Params::new(self.m_kib, self.t, self.p, Some(Params::DEFAULT_OUTPUT_LEN))
    }
}

/// How passwords are hashed and which stored hashes are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PasswordConfig {
    /// Parameters of new hashes (and the floor for stored ones).
    pub params: Argon2Params,
    /// Accept parameters below OWASP's minimum. Only for tests: it makes every hash cheap to
    /// brute-force.
    pub insecure_for_tests: bool,
}

impl PasswordConfig {
    /// The OWASP minimum (m = 19 MiB, t = 2, p = 1), checked.
    pub fn owasp() -> Self {
        PasswordConfig::default()
    }

    /// Cheap parameters (m = 64 KiB, t = 1, p = 1) with `insecure_for_tests` set; never in
    /// production.
    pub fn insecure_for_tests() -> Self {
        PasswordConfig {
            params: Argon2Params {
                m_kib: 64,
                t: 1,
                p: 1,
            },
            insecure_for_tests: true,
        }
    }

    /// Checks the parameters: weaker than OWASP's minimum needs `insecure_for_tests`, and the
    /// argon2 crate must accept them.
    pub fn validate(&self) -> Result<(), PasswordConfigError> {
        if !self.params.meets_owasp_minimum() && !self.insecure_for_tests {
            return Err(PasswordConfigError::BelowOwaspMinimum(self.params));
        }
        self.params
            .to_argon2()
            .map_err(|e| PasswordConfigError::Invalid(e.to_string()))?;
        Ok(())
    }
}

/// A [`PasswordConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordConfigError {
    /// Below m = 19456 KiB, t = 2, p = 1: raise them, or set `insecure_for_tests` in tests.
    BelowOwaspMinimum(Argon2Params),
    /// The argon2 crate refuses these parameters (e.g. m < 8 p): fix them as the message says.
    Invalid(String),
}

impl fmt::Display for PasswordConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordConfigError::BelowOwaspMinimum(p) => write!(
                f,
                "argon2id parameters m={} KiB, t={}, p={} are below the OWASP minimum \
                 (m=19456, t=2, p=1); raise them or set insecure_for_tests in tests",
                p.m_kib, p.t, p.p
            ),
            PasswordConfigError::Invalid(m) => write!(f, "invalid argon2 parameters: {m}"),
        }
    }
}

impl std::error::Error for PasswordConfigError {}

/// Hashing a new password failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashError {
    /// Longer than [`MAX_PASSWORD_LEN`] bytes: use a shorter password.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Empty: choose a non-empty password.
    Empty,
    /// The OS gave no randomness for the salt: check `getrandom` on this platform.
    Rng(String),
    /// argon2 failed (should not happen with validated parameters).
    Argon2(String),
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashError::TooLong { len } => {
                write!(
                    f,
                    "password of {len} bytes is longer than {MAX_PASSWORD_LEN}"
                )
            }
            HashError::Empty => f.write_str("password is empty"),
            HashError::Rng(m) => write!(f, "no OS randomness for the salt: {m}"),
            HashError::Argon2(m) => write!(f, "argon2 failed: {m}"),
        }
    }
}

impl std::error::Error for HashError {}

/// A stored PHC string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhcError {
    /// Not a PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`): re-hash the password.
    Malformed(String),
    /// Not argon2id (argon2i, argon2d, bcrypt, ...): re-hash with argon2id.
    NotArgon2id(String),
    /// Parameters below OWASP's minimum: re-hash at the configured parameters.
    Weak(Argon2Params),
}

impl fmt::Display for PhcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhcError::Malformed(m) => write!(f, "malformed PHC string: {m}"),
            PhcError::NotArgon2id(a) => write!(f, "algorithm {a} is not argon2id"),
            PhcError::Weak(p) => write!(
                f,
                "hash parameters m={} KiB, t={}, p={} are below the OWASP minimum",
                p.m_kib, p.t, p.p
            ),
        }
    }
}

impl std::error::Error for PhcError {}

/// Hashes and verifies passwords with argon2id under a validated [`PasswordConfig`], and
/// counts every argon2 verification (including the dummy one done for unknown users).
pub struct PasswordHasher {
    config: PasswordConfig,
    argon: Argon2<'static>,
    verifications: AtomicU64,
    dummy: OnceLock<String>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("config", &self.config)
            .field("verifications", &self.verifications())
            .finish()
    }
}

impl PasswordHasher {
    /// A hasher for `config`, refused if [`PasswordConfig::validate`] refuses it.
    pub fn new(config: PasswordConfig) -> Result<Self, PasswordConfigError> {
        config.validate()?;
        let params = config
            .params
            .to_argon2()
            .map_err(|e| PasswordConfigError::Invalid(e.to_string()))?;
        Ok(PasswordHasher {
            config,
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            verifications: AtomicU64::new(0),
            dummy: OnceLock::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PasswordConfig {
        &self.config
    }

    /// Argon2 verifications done so far (real and dummy); lets tests observe that an unknown
    /// user costs the same work as a known one.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Hashes `password` with a fresh 16-byte salt into a PHC string.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(HashError::TooLong {
                len: password.len(),
            });
        }
        if password.is_empty() {
            return Err(HashError::Empty);
        }
        let mut salt = Zeroizing::new([0u8; 16]);
        getrandom::getrandom(salt.as_mut()).map_err(|e| HashError::Rng(e.to_string()))?;
        let salt =
            SaltString::encode_b64(salt.as_ref()).map_err(|e| HashError::Argon2(e.to_string()))?;
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError::Argon2(e.to_string()))
    }

    /// Checks that `phc` is an argon2id PHC string whose parameters this configuration accepts.
    pub fn check_phc(&self, phc: &str) -> Result<(), PhcError> {
        let parsed = PasswordHash::new(phc).map_err(|e| PhcError::Malformed(e.to_string()))?;
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return Err(PhcError::NotArgon2id(parsed.algorithm.to_string()));
        }
        let p = Params::try_from(&parsed).map_err(|e| PhcError::Malformed(e.to_string()))?;
        if parsed.hash.is_none() || parsed.salt.is_none() {
            return Err(PhcError::Malformed("no salt or no hash".into()));
        }
        let params = Argon2Params {
            m_kib: p.m_cost(),
            t: p.t_cost(),
            p: p.p_cost(),
        };
        if !params.meets_owasp_minimum() && !self.config.insecure_for_tests {
            return Err(PhcError::Weak(params));
        }
        Ok(())
    }

    /// Verifies `password` against `phc` (argon2 compares in constant time). A malformed
    /// `phc` verifies as false after the same dummy work.
    ///
    /// The work follows the parameters inside `phc`; the dummy hash uses the configured ones.
    /// A stored hash made at other parameters therefore costs a different time than an
    /// unknown user: re-hash such passwords (e.g. with `set_password` at the next login).
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        match PasswordHash::new(phc) {
            Ok(parsed) => {
                self.verifications.fetch_add(1, Ordering::Relaxed);
                self.argon
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            }
            Err(_) => {
                self.verify_dummy(password);
                false
            }
        }
    }

    /// Does the work of one verification against a hash no password matches; for unknown
    /// users, so that they cost the same as known ones.
    pub fn verify_dummy(&self, password: &str) {
        let dummy = self.dummy_phc();
        if let Ok(parsed) = PasswordHash::new(dummy) {
            self.verifications.fetch_add(1, Ordering::Relaxed);
            let _ = self.argon.verify_password(password.as_bytes(), &parsed);
        }
    }

    /// The dummy hash, computed once at the configured parameters (call this at start-up so
    /// the first unknown user does not pay for it).
    pub fn dummy_phc(&self) -> &str {
        self.dummy.get_or_init(|| {
            let mut pw = Zeroizing::new([0u8; 32]);
            let _ = getrandom::getrandom(pw.as_mut());
            let salt = SaltString::encode_b64(&[0x5a; 16]).expect("16-byte salt is valid");
            self.argon
                .hash_password(pw.as_ref(), &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
    }
}
