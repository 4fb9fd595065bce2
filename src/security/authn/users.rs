//! The user store: argon2id PHC strings, roles and optional TOTP secrets, in memory
//! (thread-safe, `&self`), loaded from and saved to TOML or JSON.
//!
//! File form (TOML; JSON has the same shape):
//!
//! ```toml
//! [[users]]
//! username = "alice"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$...$..."
//! roles = ["trader"]
//! totp = { secret = "JBSWY3DPEHPK3PXP...", algorithm = "SHA1", digits = 6 }
//! ```

use crate::hash::KeyedMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::security::crypto::SecretText;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::password::{HashError, PasswordConfig, PasswordHasher, PhcError};
use super::totp::{TotpAlgorithm, TotpSecret, TotpSecretError};

/// Longest username, in bytes.
pub const MAX_USERNAME_LEN: usize = 64;
/// Most roles per user.
pub const MAX_ROLES: usize = 64;

/// A username that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsernameError {
    /// Empty: give a name.
    Empty,
    /// Longer than [`MAX_USERNAME_LEN`] bytes: shorten it.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Contains a control character or whitespace: use printable characters only.
    BadCharacter,
}

impl fmt::Display for UsernameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsernameError::Empty => f.write_str("username is empty"),
            UsernameError::TooLong { len } => {
                write!(
                    f,
                    "username of {len} bytes is longer than {MAX_USERNAME_LEN}"
                )
            }
            UsernameError::BadCharacter => {
                f.write_str("username contains whitespace or a control character")
            }
        }
    }
}

impl std::error::Error for UsernameError {}

/// Checks a username: 1 to [`MAX_USERNAME_LEN`] bytes, no whitespace or control characters.
pub fn check_username(name: &str) -> Result<(), UsernameError> {
    if name.is_empty() {
        return Err(UsernameError::Empty);
    }
    if name.len() > MAX_USERNAME_LEN {
        return Err(UsernameError::TooLong { len: name.len() });
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UsernameError::BadCharacter);
    }
    Ok(())
}

/// One user as the store holds it.
#[derive(Debug)]
pub(crate) struct UserEntry {
    pub(crate) username: String,
    pub(crate) phc: String,
    pub(crate) roles: Vec<String>,
    pub(crate) totp: Option<TotpSecret>,
    /// Last accepted TOTP step + 1 (0: none yet). Shared across password changes.
    pub(crate) last_step: Arc<AtomicU64>,
}

impl UserEntry {
    /// Marks `step` used if it is later than the last used one; false if it was not (a replay
    /// racing with another login).
    pub(crate) fn claim_step(&self, step: u64) -> bool {
        self.last_step.fetch_max(step + 1, Ordering::AcqRel) < step + 1
    }

    pub(crate) fn last_used_step(&self) -> Option<u64> {
        self.last_step.load(Ordering::Acquire).checked_sub(1)
    }
}

/// Adding a user failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddUserError {
    /// The username is unusable.
    Username(UsernameError),
    /// A user with this name exists: pick another name, or use `set_password`.
    Exists,
    /// More than [`MAX_ROLES`] roles, or an empty role name.
    Roles,
    /// The password could not be hashed (too long, empty, no randomness).
    Password(HashError),
}

impl fmt::Display for AddUserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddUserError::Username(e) => write!(f, "{e}"),
            AddUserError::Exists => f.write_str("user exists"),
            AddUserError::Roles => write!(f, "roles must be 0..={MAX_ROLES} non-empty names"),
            AddUserError::Password(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AddUserError {}

/// Changing a password failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetPasswordError {
    /// No such user: check the name, or add the user.
    UnknownUser,
    /// The password could not be hashed (too long, empty, no randomness).
    Password(HashError),
}

impl fmt::Display for SetPasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetPasswordError::UnknownUser => f.write_str("no such user"),
            SetPasswordError::Password(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SetPasswordError {}

/// What is wrong with one entry of a user file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryError {
    /// The username is unusable.
    Username(UsernameError),
    /// An earlier entry has the same username: remove one.
    Duplicate,
    /// The password hash is unusable.
    PasswordHash(PhcError),
    /// The TOTP secret is unusable.
    Totp(TotpSecretError),
    /// More than [`MAX_ROLES`] roles, or an empty role name.
    Roles,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::Username(e) => write!(f, "{e}"),
            EntryError::Duplicate => f.write_str("duplicate username"),
            EntryError::PasswordHash(e) => write!(f, "password_hash: {e}"),
            EntryError::Totp(e) => write!(f, "totp: {e}"),
            EntryError::Roles => write!(f, "roles must be 0..={MAX_ROLES} non-empty names"),
        }
    }
}

/// Loading or saving a user file failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserFileError {
    /// Not valid TOML/JSON of the expected shape (`users = [...]`): fix the syntax as the
    /// message says.
    Syntax {
        /// `"toml"` or `"json"`.
        format: &'static str,
        /// The parser's message (it names the line or field).
        message: String,
    },
    /// Entry `index` (0-based, in file order), named `username`, is wrong for `reason`.
    Entry {
        /// Position in the `users` list.
        index: usize,
        /// Its username (cut to [`MAX_USERNAME_LEN`] bytes).
        username: String,
        /// What is wrong.
        reason: EntryError,
    },
    /// Serialising failed (should not happen).
    Serialize(String),
}

impl fmt::Display for UserFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserFileError::Syntax { format, message } => {
                write!(f, "user file is not valid {format}: {message}")
            }
            UserFileError::Entry {
                index,
                username,
                reason,
            } => write!(f, "user file entry {index} ({username:?}): {reason}"),
            UserFileError::Serialize(m) => write!(f, "cannot serialise the user file: {m}"),
        }
    }
}

impl std::error::Error for UserFileError {}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    #[serde(default)]
    users: Vec<UserRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRecord {
    username: String,
    password_hash: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    totp: Option<TotpRecord>,
}

#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct TotpRecord {
    secret: String,
    #[serde(default)]
    #[zeroize(skip)]
    algorithm: TotpAlgorithm,
    #[serde(default = "six")]
    digits: u32,
}

fn six() -> u32 {
    6
}

fn roles_ok(roles: &[String]) -> bool {
    roles.len() <= MAX_ROLES && roles.iter().all(|r| !r.is_empty() && r.len() <= 128)
}

fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Users by name. `&self` everywhere; thread-safe.
pub struct UserStore {
    hasher: Arc<PasswordHasher>,
    users: RwLock<KeyedMap<String, Arc<UserEntry>>>,
}

impl fmt::Debug for UserStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserStore")
            .field("hasher", &self.hasher)
            .field("users", &self.users.read().len())
            .finish()
    }
}

impl UserStore {
    /// An empty store hashing with `hasher`.
    pub fn new(hasher: Arc<PasswordHasher>) -> Self {
        UserStore {
            hasher,
            users: RwLock::new(KeyedMap::default()),
        }
    }

    /// The hasher.
    pub fn hasher(&self) -> &Arc<PasswordHasher> {
        &self.hasher
    }

    /// The password configuration.
    pub fn password_config(&self) -> &PasswordConfig {
        self.hasher.config()
    }

    /// Adds a user, hashing `password` at the configured parameters.
    pub fn add_user(
        &self,
        username: &str,
        password: &str,
        roles: &[&str],
        mfa: Option<TotpSecret>,
    ) -> Result<(), AddUserError> {
        check_username(username).map_err(AddUserError::Username)?;
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        if !roles_ok(&roles) {
            return Err(AddUserError::Roles);
        }
        if self.users.read().contains_key(username) {
            return Err(AddUserError::Exists);
        }
        let phc = self.hasher.hash(password).map_err(AddUserError::Password)?;
        let mut users = self.users.write();
        if users.contains_key(username) {
            return Err(AddUserError::Exists);
        }
        users.insert(
            username.to_owned(),
            Arc::new(UserEntry {
                username: username.to_owned(),
                phc,
                roles,
                totp: mfa,
                last_step: Arc::new(AtomicU64::new(0)),
            }),
        );
        Ok(())
    }

    /// Replaces a user's password.
    pub fn set_password(&self, username: &str, password: &str) -> Result<(), SetPasswordError> {
        if !self.users.read().contains_key(username) {
            return Err(SetPasswordError::UnknownUser);
        }
        let phc = self
            .hasher
            .hash(password)
            .map_err(SetPasswordError::Password)?;
        let mut users = self.users.write();
        let old = users
            .get(username)
            .ok_or(SetPasswordError::UnknownUser)?
            .clone();
        users.insert(
            username.to_owned(),
            Arc::new(UserEntry {
                username: old.username.clone(),
                phc,
                roles: old.roles.clone(),
                totp: old.totp.clone(),
                last_step: old.last_step.clone(),
            }),
        );
        Ok(())
    }

    /// Removes a user; whether it existed.
    pub fn remove_user(&self, username: &str) -> bool {
        self.users.write().remove(username).is_some()
    }

    /// Whether `username` exists.
    pub fn contains(&self, username: &str) -> bool {
        self.users.read().contains_key(username)
    }

    /// A user's roles, if the user exists.
    pub fn roles(&self, username: &str) -> Option<Vec<String>> {
        self.users.read().get(username).map(|u| u.roles.clone())
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.read().len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, username: &str) -> Option<Arc<UserEntry>> {
        self.users.read().get(username).cloned()
    }

    fn from_file(hasher: Arc<PasswordHasher>, file: UserFile) -> Result<Self, UserFileError> {
        let mut users = KeyedMap::with_capacity_and_hasher(file.users.len(), Default::default());
        for (index, r) in file.users.into_iter().enumerate() {
            let err = |reason| UserFileError::Entry {
                index,
                username: cut(&r.username, MAX_USERNAME_LEN),
                reason,
            };
            check_username(&r.username).map_err(|e| err(EntryError::Username(e)))?;
            if users.contains_key(&r.username) {
                return Err(err(EntryError::Duplicate));
            }
            hasher
                .check_phc(&r.password_hash)
                .map_err(|e| err(EntryError::PasswordHash(e)))?;
            if !roles_ok(&r.roles) {
                return Err(err(EntryError::Roles));
            }
            let totp = match &r.totp {
                None => None,
                Some(t) => Some(
                    TotpSecret::from_base32(&t.secret, t.algorithm, t.digits)
                        .map_err(|e| err(EntryError::Totp(e)))?,
                ),
            };
            users.insert(
                r.username.clone(),
                Arc::new(UserEntry {
                    username: r.username,
                    phc: r.password_hash,
                    roles: r.roles,
                    totp,
                    last_step: Arc::new(AtomicU64::new(0)),
                }),
            );
        }
        Ok(UserStore {
            hasher,
            users: RwLock::new(users),
        })
    }

    fn to_file(&self) -> UserFile {
        let users = self.users.read();
        let mut list: Vec<&Arc<UserEntry>> = users.values().collect();
        list.sort_by(|a, b| a.username.cmp(&b.username));
        UserFile {
            users: list
                .into_iter()
                .map(|u| UserRecord {
                    username: u.username.clone(),
                    password_hash: u.phc.clone(),
                    roles: u.roles.clone(),
                    totp: u.totp.as_ref().map(|t| TotpRecord {
                        secret: t.to_base32().to_string(),
                        algorithm: t.algorithm(),
                        digits: t.digits(),
                    }),
                })
                .collect(),
        }
    }

    /// Loads a TOML user file; every entry is checked (username, PHC string and its
    /// parameters against the hasher's configuration, roles, TOTP secret).
    pub fn from_toml(hasher: Arc<PasswordHasher>, text: &str) -> Result<Self, UserFileError> {
        let file: UserFile = toml::from_str(text).map_err(|e| UserFileError::Syntax {
            format: "toml",
            message: e.to_string(),
        })?;
        Self::from_file(hasher, file)
    }

    /// Loads a JSON user file (same shape and checks as [`UserStore::from_toml`]).
    pub fn from_json(hasher: Arc<PasswordHasher>, text: &str) -> Result<Self, UserFileError> {
        let file: UserFile = serde_json::from_str(text).map_err(|e| UserFileError::Syntax {
            format: "json",
            message: e.to_string(),
        })?;
        Self::from_file(hasher, file)
    }

    /// The store as TOML, users sorted by name. It holds TOTP secrets: keep it as secret as
    /// the secrets themselves (the returned string is wiped on drop).
    pub fn to_toml(&self) -> Result<SecretText, UserFileError> {
        toml::to_string(&self.to_file())
            .map(|t| SecretText::new(Zeroizing::new(t)))
            .map_err(|e| UserFileError::Serialize(e.to_string()))
    }

    /// The store as pretty JSON (see [`UserStore::to_toml`] about secrets).
    pub fn to_json(&self) -> Result<SecretText, UserFileError> {
        serde_json::to_string_pretty(&self.to_file())
            .map(|t| SecretText::new(Zeroizing::new(t)))
            .map_err(|e| UserFileError::Serialize(e.to_string()))
    }
}
