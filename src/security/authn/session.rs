//! Sessions: random 256-bit tokens (base64url, no padding), absolute expiry and idle timeout.
//!
//! Only SHA-256 of each token is kept, as the map key: a lookup hashes the presented token
//! first, so the map's comparisons leak nothing useful about any live token, and a memory
//! dump of the store holds no usable token.

use crate::hash::KeyedMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::time::WallClock;

/// Session lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// A session ends this many seconds after it began, used or not (default 8 h).
    pub absolute_timeout_secs: u64,
    /// A session ends after this many seconds without a lookup (default 30 min).
    pub idle_timeout_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            absolute_timeout_secs: 8 * 3600,
            idle_timeout_secs: 30 * 60,
        }
    }
}

/// A bearer token: 32 random bytes in base64url without padding (43 characters). Wiped on
/// drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(Zeroizing<String>);

impl SessionToken {
    /// The token to hand to the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// A session just opened by a successful authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The bearer token.
    pub token: SessionToken,
    /// Who it belongs to.
    pub user: String,
    /// Absolute expiry (Unix seconds); the idle timeout may end it sooner.
    pub expires_at: u64,
}

/// What a live session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Who it belongs to.
    pub user: String,
    /// The user's roles when the session opened.
    pub roles: Vec<String>,
    /// When it opened (Unix seconds).
    pub created_at: u64,
    /// Absolute expiry (Unix seconds).
    pub expires_at: u64,
    /// Last lookup (Unix seconds); the session ends `idle_timeout_secs` after it.
    pub last_seen: u64,
}

/// Opening a session failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The OS gave no randomness for the token: check `getrandom` on this platform.
    Rng(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Rng(m) => write!(f, "no OS randomness for a session token: {m}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// Live sessions, keyed by SHA-256 of their token. Thread-safe.
pub struct SessionStore {
    config: SessionConfig,
    clock: Arc<dyn WallClock>,
    map: Mutex<KeyedMap<[u8; 32], SessionInfo>>,
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("config", &self.config)
            .field("live", &self.map.lock().len())
            .finish()
    }
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl SessionStore {
    /// An empty store.
    pub fn new(config: SessionConfig, clock: Arc<dyn WallClock>) -> Self {
        SessionStore {
            config,
            clock,
            map: Mutex::new(KeyedMap::default()),
        }
    }

    /// Opens a session for `user`; also forgets sessions that have ended.
    pub fn create(&self, user: &str, roles: &[String]) -> Result<Session, SessionError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(raw.as_mut()).map_err(|e| SessionError::Rng(e.to_string()))?;
        let token = Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*raw));
        let now = self.clock.unix_secs();
        let info = SessionInfo {
            user: user.to_owned(),
            roles: roles.to_vec(),
            created_at: now,
            expires_at: now.saturating_add(self.config.absolute_timeout_secs),
            last_seen: now,
        };
        let expires_at = info.expires_at;
        let mut map = self.map.lock();
        let idle = self.config.idle_timeout_secs;
        map.retain(|_, s| Self::live(s, now, idle));
        map.insert(key(&token), info);
        Ok(Session {
            token: SessionToken(token),
            user: user.to_owned(),
            expires_at,
        })
    }

    fn live(s: &SessionInfo, now: u64, idle: u64) -> bool {
        now < s.expires_at && now < s.last_seen.saturating_add(idle)
    }

    /// The live session behind `token`, its idle clock restarted; `None` (and the session
    /// forgotten) once it has expired or idled out.
    pub fn lookup(&self, token: &str) -> Option<SessionInfo> {
        let k = key(token);
        let now = self.clock.unix_secs();
        let mut map = self.map.lock();
        let s = map.get_mut(&k)?;
        if !Self::live(s, now, self.config.idle_timeout_secs) {
            map.remove(&k);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends the session behind `token`; the user it belonged to, if it was open.
    pub fn revoke(&self, token: &str) -> Option<String> {
        self.map.lock().remove(&key(token)).map(|s| s.user)
    }

    /// Ends every session of `user`; how many.
    pub fn revoke_user(&self, user: &str) -> usize {
        let mut map = self.map.lock();
        let before = map.len();
        map.retain(|_, s| s.user != user);
        before - map.len()
    }

    /// Sessions held (some may have ended and not yet been forgotten).
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
