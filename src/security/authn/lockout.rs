//! Account lockout: consecutive failures counted per account name, locks that grow with each
//! further lock, and NIST SP 800-63B's ceiling of 100 consecutive failures.
//!
//! With the default policy an account locks after 5 consecutive failures for 1 minute; each
//! further 5 failures (without a success in between) lock it again for twice as long as the
//! previous lock (1, 2, 4, 8, ... minutes), capped at 1 hour. After 100 consecutive failures
//! the account stays locked until [`crate::security::authn::Authenticator::unlock`]: NIST SP
//! 800-63B §5.2.2 allows no more than 100 consecutive failed attempts. A success resets it all.
//!
//! Names that are not accounts are counted too, so a lockout tells nothing about whether an
//! account exists.
//!
//! An attempt is counted before its password is hashed (`Lockout::begin`), so concurrent
//! guesses stop at the threshold and at the hard limit instead of all passing the check while
//! the others hash. Refusals that cost nothing (a username or password past its length bound:
//! no stored password is that long, so it cannot be a guess) are not counted and so cannot fill
//! the table. The table of names that are not accounts is bounded by [`MAX_TRACKED_NAMES`];
//! evicting from it never touches an account's state. What a flood can still learn: after
//! [`MAX_TRACKED_NAMES`] distinct unknown names, each costing a full (dummy) argon2
//! verification, an unknown name's count may have been forgotten while an account's was not.

use crate::hash::KeyedMap;
use std::fmt;

use parking_lot::Mutex;

/// NIST SP 800-63B's ceiling on consecutive failed attempts.
pub const NIST_MAX_CONSECUTIVE_FAILURES: u32 = 100;

/// Most names that are not accounts tracked at once; beyond it, those that are not locked are
/// forgotten (accounts of the user store are never forgotten).
pub const MAX_TRACKED_NAMES: usize = 100_000;

/// When accounts lock and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account (default 5).
    pub threshold: u32,
    /// Length of the first lock, in seconds (default 60).
    pub base_delay_secs: u64,
    /// Longest lock, in seconds (default 3600).
    pub max_delay_secs: u64,
    /// Consecutive failures after which the account stays locked until unlocked by hand
    /// (default and maximum 100).
    pub hard_limit: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            threshold: 5,
            base_delay_secs: 60,
            max_delay_secs: 3600,
            hard_limit: NIST_MAX_CONSECUTIVE_FAILURES,
        }
    }
}

/// A [`LockoutPolicy`] that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockoutPolicyError {
    /// `threshold` must be 1 or more, and no more than `hard_limit`.
    Threshold(u32),
    /// `hard_limit` must be 1 to 100 (NIST SP 800-63B).
    HardLimit(u32),
    /// Delays must satisfy 0 < `base_delay_secs` <= `max_delay_secs`.
    Delays {
        /// The first lock.
        base: u64,
        /// The cap.
        max: u64,
    },
}

impl fmt::Display for LockoutPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockoutPolicyError::Threshold(t) => {
                write!(f, "lockout threshold {t} must be 1..=hard_limit")
            }
            LockoutPolicyError::HardLimit(h) => {
                write!(f, "hard limit {h} must be 1..=100 (NIST SP 800-63B)")
            }
            LockoutPolicyError::Delays { base, max } => {
                write!(f, "lock delays need 0 < base ({base}) <= max ({max})")
            }
        }
    }
}

impl std::error::Error for LockoutPolicyError {}

impl LockoutPolicy {
    /// Checks the policy.
    pub fn validate(&self) -> Result<(), LockoutPolicyError> {
        if self.hard_limit == 0 || self.hard_limit > NIST_MAX_CONSECUTIVE_FAILURES {
            return Err(LockoutPolicyError::HardLimit(self.hard_limit));
        }
        if self.threshold == 0 || self.threshold > self.hard_limit {
            return Err(LockoutPolicyError::Threshold(self.threshold));
        }
        if self.base_delay_secs == 0 || self.base_delay_secs > self.max_delay_secs {
            return Err(LockoutPolicyError::Delays {
                base: self.base_delay_secs,
                max: self.max_delay_secs,
            });
        }
        Ok(())
    }

    /// Length of the `n`-th lock (0-based): base * 2^n, capped at the maximum.
    pub fn delay(&self, n: u32) -> u64 {
        let factor = 1u64.checked_shl(n.min(63)).unwrap_or(u64::MAX);
        self.base_delay_secs
            .saturating_mul(factor)
            .min(self.max_delay_secs)
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    failures: u32,
    locks: u32,
    until: u64,
}

/// Failure counts per account name.
///
/// Two tables: one for names that are accounts in the user store, never evicted (it is
/// bounded by the store itself), and one for names that are not, bounded by
/// [`MAX_TRACKED_NAMES`]. A flood of junk names can only evict other junk names: the bound
/// never resets a real account's failures.
#[derive(Debug)]
pub(crate) struct Lockout {
    policy: LockoutPolicy,
    tables: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    accounts: KeyedMap<String, State>,
    others: KeyedMap<String, State>,
}

impl Tables {
    fn get(&self, name: &str) -> Option<&State> {
        self.accounts.get(name).or_else(|| self.others.get(name))
    }

    /// The entry for `name`, created if needed. A name that became an account takes its
    /// state along from the table of other names.
    fn entry(&mut self, name: &str, account: bool, now: u64) -> &mut State {
        if account || self.accounts.contains_key(name) {
            if !self.accounts.contains_key(name) {
                let carried = self.others.remove(name).unwrap_or_default();
                self.accounts.insert(name.to_owned(), carried);
            }
            return self.accounts.get_mut(name).expect("inserted above");
        }
        if self.others.len() >= MAX_TRACKED_NAMES && !self.others.contains_key(name) {
            // Forget names that are not locked; if every one is locked, forget one of them:
            // none of them is an account, so nothing real is lost.
            self.others.retain(|_, s| s.until > now);
            if self.others.len() >= MAX_TRACKED_NAMES {
                if let Some(k) = self.others.keys().next().cloned() {
                    self.others.remove(&k);
                }
            }
        }
        self.others.entry(name.to_owned()).or_default()
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut State> {
        match self.accounts.get_mut(name) {
            Some(s) => Some(s),
            None => self.others.get_mut(name),
        }
    }
}

/// Whether an attempt may go ahead.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Go ahead: the attempt is already counted as a failure (see [`Lockout::begin`]).
    Open(Attempt),
    Locked {
        until: u64,
    },
}

/// An admitted attempt, counted as a failure until [`Lockout::succeed`] clears the count or
/// [`Lockout::refund`] takes it back.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an attempt ends in a failure (drop), a success or a refund"]
pub(crate) struct Attempt {
    /// If counting this attempt locked the account: the failure count it reached and the
    /// lock state (locks, until) before it.
    locked_here: Option<(u32, u32, u64)>,
}

impl Lockout {
    pub(crate) fn new(policy: LockoutPolicy) -> Self {
        Lockout {
            policy,
            tables: Mutex::new(Tables::default()),
        }
    }

    /// Whether `name` is locked now, without counting anything. `until == u64::MAX` means
    /// locked until unlocked by hand.
    pub(crate) fn peek(&self, name: &str, now: u64) -> Option<u64> {
        match self.tables.lock().get(name) {
            Some(s) if s.until > now => Some(s.until),
            _ => None,
        }
    }

    /// Admits an attempt on `name` (`account`: whether it is a user of the store) unless the
    /// name is locked, and counts it as a failure at once, before the password is hashed:
    /// concurrent guesses are stopped at the threshold, not after every one of them has been
    /// checked. The attempt that reaches the threshold (or the hard limit) still goes ahead;
    /// the ones after it are refused. A success clears the count; an attempt that is neither
    /// (a right password still waiting for its second factor) is [`Lockout::refund`]ed.
    pub(crate) fn begin(&self, name: &str, account: bool, now: u64) -> Gate {
        let mut tables = self.tables.lock();
        let s = tables.entry(name, account, now);
        if s.until > now {
            return Gate::Locked { until: s.until };
        }
        let (locks, until) = (s.locks, s.until);
        s.failures = s.failures.saturating_add(1);
        let locked = if s.failures >= self.policy.hard_limit {
            s.until = u64::MAX;
            true
        } else if s.failures.is_multiple_of(self.policy.threshold) {
            s.until = now.saturating_add(self.policy.delay(s.locks));
            s.locks += 1;
            true
        } else {
            false
        };
        Gate::Open(Attempt {
            locked_here: locked.then_some((s.failures, locks, until)),
        })
    }

    /// Takes back an attempt that was neither a failure nor a success, undoing the lock it
    /// set if nothing was counted after it.
    pub(crate) fn refund(&self, name: &str, attempt: Attempt) {
        let mut tables = self.tables.lock();
        let Some(s) = tables.get_mut(name) else {
            return; // cleared by a success or an unlock meanwhile
        };
        if let Some((reached, locks, until)) = attempt.locked_here {
            if s.failures == reached {
                s.locks = locks;
                s.until = until;
            }
        }
        s.failures = s.failures.saturating_sub(1);
    }

    pub(crate) fn succeed(&self, name: &str) {
        let mut tables = self.tables.lock();
        tables.accounts.remove(name);
        tables.others.remove(name);
    }

    pub(crate) fn consecutive_failures(&self, name: &str) -> u32 {
        self.tables.lock().get(name).map_or(0, |s| s.failures)
    }
}
