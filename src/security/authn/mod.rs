//! Authentication: passwords (argon2id), a TOTP second factor, lockout, sessions, and one
//! audit record per attempt.
//!
//! * [`password`]: argon2id PHC strings at no less than OWASP's minimum (m = 19 MiB, t = 2,
//!   p = 1) unless configured `insecure_for_tests`; passwords over 1 KiB are refused.
//! * [`totp`]: RFC 6238 codes, one step of skew each way, each step accepted once per user.
//! * [`users`]: the in-memory store, loaded from and saved to TOML/JSON.
//! * [`lockout`]: failures per account name, growing locks, NIST's 100-failure ceiling.
//! * [`session`]: random 256-bit tokens with absolute and idle timeouts.
//! * Time comes from the crate's one [`WallClock`] (a [`ManualClock`] in tests).
//!
//! An unknown user costs one argon2 verification (against a dummy hash) and is answered
//! [`AuthResult::Denied`], exactly like a wrong password.
//!
//! ```
//! use std::sync::Arc;
//! use tickwatch::security::authn::*;
//!
//! let clock = Arc::new(ManualClock::from_unix_secs(1_700_000_000));
//! let auth = Authenticator::new(AuthConfig::insecure_for_tests(), clock.clone(), None).unwrap();
//! auth.users().add_user("alice", "correct horse", &["trader"], None).unwrap();
//! let ok = auth.authenticate_user(&Credentials::new("alice", "correct horse"));
//! let AuthResult::Authenticated { session } = ok else { panic!("{ok:?}") };
//! assert_eq!(auth.lookup_session(session.token.as_str()).unwrap().user, "alice");
//! assert!(matches!(
//!     auth.authenticate_user(&Credentials::new("alice", "wrong")),
//!     AuthResult::Denied
//! ));
//! ```

pub mod lockout;
pub mod password;
pub mod session;
pub mod totp;
pub mod users;

pub use crate::time::{ManualClock, SystemClock, WallClock};
pub use lockout::{
    LockoutPolicy, LockoutPolicyError, MAX_TRACKED_NAMES, NIST_MAX_CONSECUTIVE_FAILURES,
};
pub use password::{
    Argon2Params, HashError, PasswordConfig, PasswordConfigError, PasswordHasher, PhcError,
    MAX_PASSWORD_LEN,
};
pub use session::{Session, SessionConfig, SessionError, SessionInfo, SessionStore, SessionToken};
pub use totp::{TotpAlgorithm, TotpSecret, TotpSecretError, TotpVerdict};
pub use users::{
    AddUserError, EntryError, SetPasswordError, UserFileError, UserStore, UsernameError,
    MAX_USERNAME_LEN,
};

use std::fmt;
use std::sync::Arc;

use crate::security::audit::AuditSlot;
use crate::{Audit, AuditLog};
use lockout::{Gate, Lockout};

/// What a user presents. Borrowed: the caller owns (and should wipe) the secrets; `Debug`
/// shows neither the password nor the code.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// Account name.
    pub username: &'a str,
    /// Password (at most [`MAX_PASSWORD_LEN`] bytes, or the attempt is denied unhashed).
    pub password: &'a str,
    /// The current TOTP code, when the user has one.
    pub totp: Option<&'a str>,
}

impl<'a> Credentials<'a> {
    /// Username and password, no second factor.
    pub fn new(username: &'a str, password: &'a str) -> Self {
        Credentials {
            username,
            password,
            totp: None,
        }
    }

    /// The same credentials with a TOTP code.
    pub fn with_totp(mut self, code: &'a str) -> Self {
        self.totp = Some(code);
        self
    }
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("totp", &self.totp.map(|_| "<redacted>"))
            .finish()
    }
}

/// How an authentication attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum AuthResult {
    /// Let in: a new session.
    Authenticated {
        /// The session opened.
        session: Session,
    },
    /// The password is right but this user needs a TOTP code: ask for it and try again with
    /// [`Credentials::with_totp`].
    SecondFactorRequired,
    /// Not let in: wrong password, wrong or replayed code, unknown user or oversized input
    /// (deliberately indistinguishable).
    Denied,
    /// Too many consecutive failures: no attempt is checked before `until` (Unix seconds;
    /// `u64::MAX`: until unlocked by hand).
    LockedOut {
        /// When attempts are checked again.
        until: u64,
    },
}

/// Everything an [`Authenticator`] needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthConfig {
    /// Argon2id parameters.
    pub password: PasswordConfig,
    /// Lockout rules.
    pub lockout: LockoutPolicy,
    /// Session lifetimes.
    pub session: SessionConfig,
    /// Users holding any of these roles must give a TOTP code (users with a TOTP secret always
    /// must). A user in such a role without a secret is denied (`mfa_not_enrolled`).
    pub mfa_roles: Vec<String>,
}

impl AuthConfig {
    /// Defaults with cheap argon2 parameters ([`PasswordConfig::insecure_for_tests`]).
    pub fn insecure_for_tests() -> Self {
        AuthConfig {
            password: PasswordConfig::insecure_for_tests(),
            ..AuthConfig::default()
        }
    }
}

/// An [`AuthConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// The argon2 parameters are refused.
    Password(PasswordConfigError),
    /// The lockout policy is refused.
    Lockout(LockoutPolicyError),
    /// Both session timeouts must be over 0 seconds.
    Session,
}

impl fmt::Display for AuthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthConfigError::Password(e) => write!(f, "{e}"),
            AuthConfigError::Lockout(e) => write!(f, "{e}"),
            AuthConfigError::Session => f.write_str("session timeouts must be over 0 seconds"),
        }
    }
}

impl std::error::Error for AuthConfigError {}

/// Most bytes of a username kept as an audit record's actor.
pub const MAX_AUDIT_ACTOR_LEN: usize = MAX_USERNAME_LEN;

/// Checks credentials against a [`UserStore`], applies lockout, opens sessions and leaves one
/// audit record per attempt. `Send + Sync`; share it behind an `Arc`.
pub struct Authenticator {
    users: UserStore,
    lockout: Lockout,
    sessions: SessionStore,
    mfa_roles: Vec<String>,
    clock: Arc<dyn WallClock>,
    audit: AuditSlot,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("users", &self.users)
            .field("sessions", &self.sessions)
            .field("mfa_roles", &self.mfa_roles)
            .field("audit", &self.audit)
            .finish()
    }
}

struct Outcome {
    result: AuthResult,
    rule: &'static str,
    detail: &'static str,
}

fn deny(rule: &'static str, detail: &'static str) -> Outcome {
    Outcome {
        result: AuthResult::Denied,
        rule,
        detail,
    }
}

impl Authenticator {
    /// An authenticator with an empty user store (fill it with [`Authenticator::users`]).
    pub fn new(
        config: AuthConfig,
        clock: Arc<dyn WallClock>,
        audit: Option<AuditLog>,
    ) -> Result<Self, AuthConfigError> {
        let hasher = PasswordHasher::new(config.password).map_err(AuthConfigError::Password)?;
        Self::with_users(config, UserStore::new(Arc::new(hasher)), clock, audit)
    }

    /// An authenticator over `users` (e.g. from [`UserStore::from_toml`]). The store's own
    /// hasher is used; `config.password` must still validate.
    pub fn with_users(
        config: AuthConfig,
        users: UserStore,
        clock: Arc<dyn WallClock>,
        audit: Option<AuditLog>,
    ) -> Result<Self, AuthConfigError> {
        config
            .password
            .validate()
            .map_err(AuthConfigError::Password)?;
        config
            .lockout
            .validate()
            .map_err(AuthConfigError::Lockout)?;
        if config.session.absolute_timeout_secs == 0 || config.session.idle_timeout_secs == 0 {
            return Err(AuthConfigError::Session);
        }
        // Pay for the dummy hash now, not on the first unknown user.
        let _ = users.hasher().dummy_phc();
        Ok(Authenticator {
            users,
            lockout: Lockout::new(config.lockout),
            sessions: SessionStore::new(config.session, clock.clone()),
            mfa_roles: config.mfa_roles,
            clock,
            audit: AuditSlot::new(audit),
        })
    }

    /// Records into `log` from now on, unless an audit log was given at construction (the
    /// instance this is installed with attaches its own).
    pub(crate) fn attach_audit(&self, log: AuditLog) {
        self.audit.attach(log);
    }

    /// The user store.
    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// The session store.
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// Argon2 verifications done so far, dummy ones included.
    pub fn argon2_verifications(&self) -> u64 {
        self.users.hasher().verifications()
    }

    /// Consecutive failures recorded for `username` (known or not).
    pub fn consecutive_failures(&self, username: &str) -> u32 {
        self.lockout.consecutive_failures(username)
    }

    /// Clears `username`'s failures and lock (an administrator's action).
    pub fn unlock(&self, username: &str) {
        self.lockout.succeed(username);
    }

    /// Checks `creds`; see [`AuthResult`]. Leaves exactly one audit record.
    pub fn authenticate_user(&self, creds: &Credentials<'_>) -> AuthResult {
        let o = self.decide(creds);
        if let Some(log) = self.audit.get() {
            let mut end = creds.username.len().min(MAX_AUDIT_ACTOR_LEN);
            while !creds.username.is_char_boundary(end) {
                end -= 1;
            }
            let outcome = match o.result {
                AuthResult::Authenticated { .. } => "authenticated",
                AuthResult::SecondFactorRequired => "second_factor_required",
                AuthResult::Denied => "denied",
                AuthResult::LockedOut { .. } => "locked_out",
            };
            log.record(&Audit {
                actor: &creds.username[..end],
                action: "authenticate",
                resource: "session",
                outcome,
                rule: o.rule,
                detail: o.detail,
            });
        }
        o.result
    }

    fn decide(&self, creds: &Credentials<'_>) -> Outcome {
        let name = creds.username;
        if users::check_username(name).is_err() {
            return deny("input_bounds", "bad_username");
        }
        let now = self.clock.unix_secs();
        let locked = |until: u64| Outcome {
            result: AuthResult::LockedOut { until },
            rule: "lockout",
            detail: if until == u64::MAX {
                "hard_limit"
            } else {
                "locked"
            },
        };
        if creds.password.len() > MAX_PASSWORD_LEN {
            // No stored password is this long, so this is not a guess: refused unhashed and
            // not counted (a free refusal must not fill the lockout table).
            return match self.lockout.peek(name, now) {
                Some(until) => locked(until),
                None => deny("input_bounds", "password_too_long"),
            };
        }
        let user = self.users.get(name);
        // Counted as a failure before hashing; cleared on success, refunded when the password
        // was right but the second factor is still to come.
        let attempt = match self.lockout.begin(name, user.is_some(), now) {
            Gate::Locked { until } => return locked(until),
            Gate::Open(attempt) => attempt,
        };
        let Some(user) = user else {
            self.users.hasher().verify_dummy(creds.password);
            return deny("password", "unknown_user");
        };
        if !self.users.hasher().verify(creds.password, &user.phc) {
            return deny("password", "bad_password");
        }
        let role_needs_mfa = user.roles.iter().any(|r| self.mfa_roles.contains(r));
        let Some(secret) = &user.totp else {
            if role_needs_mfa {
                self.lockout.refund(name, attempt);
                return deny("mfa_role", "mfa_not_enrolled");
            }
            return self.open(&user, "password");
        };
        let Some(code) = creds.totp else {
            self.lockout.refund(name, attempt);
            return Outcome {
                result: AuthResult::SecondFactorRequired,
                rule: "password+totp",
                detail: "totp_missing",
            };
        };
        match secret.verify(code, now, user.last_used_step()) {
            TotpVerdict::Accepted { step } if user.claim_step(step) => {
                self.open(&user, "password+totp")
            }
            TotpVerdict::Accepted { .. } | TotpVerdict::Replayed => {
                deny("password+totp", "totp_replayed")
            }
            TotpVerdict::Wrong | TotpVerdict::Malformed => deny("password+totp", "totp_wrong"),
        }
    }

    fn open(&self, user: &users::UserEntry, rule: &'static str) -> Outcome {
        self.lockout.succeed(&user.username);
        match self.sessions.create(&user.username, &user.roles) {
            Ok(session) => Outcome {
                result: AuthResult::Authenticated { session },
                rule,
                detail: "",
            },
            Err(_) => deny(rule, "no_randomness"),
        }
    }

    /// The live session behind `token` (its idle clock restarted).
    pub fn lookup_session(&self, token: &str) -> Option<SessionInfo> {
        self.sessions.lookup(token)
    }

    /// Ends the session behind `token`; whether it was open. Leaves one audit record
    /// (`action: "revoke"`, outcome `"revoked"` or `"not_found"`).
    pub fn revoke_session(&self, token: &str) -> bool {
        let user = self.sessions.revoke(token);
        if let Some(log) = self.audit.get() {
            log.record(&Audit {
                actor: user.as_deref().unwrap_or(""),
                action: "revoke",
                resource: "session",
                outcome: if user.is_some() {
                    "revoked"
                } else {
                    "not_found"
                },
                rule: "",
                detail: "",
            });
        }
        user.is_some()
    }
}
