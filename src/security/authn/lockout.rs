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

use std::collections::HashMap;
use std::fmt;

use parking_lot::Mutex;

/// NIST SP 800-63B's ceiling on consecutive failed attempts.
pub const NIST_MAX_CONSECUTIVE_FAILURES: u32 = 100;

/// Most account names tracked at once; beyond it, names that are not locked are forgotten.
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
#[derive(Debug)]
pub(crate) struct Lockout {
    policy: LockoutPolicy,
    names: Mutex<HashMap<String, State>>,
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Open,
    Locked { until: u64 },
}

impl Lockout {
    pub(crate) fn new(policy: LockoutPolicy) -> Self {
        Lockout {
            policy,
            names: Mutex::new(HashMap::new()),
        }
    }

    /// `until == u64::MAX` means locked until unlocked by hand.
    pub(crate) fn check(&self, name: &str, now: u64) -> Gate {
        match self.names.lock().get(name) {
            Some(s) if s.until > now => Gate::Locked { until: s.until },
            _ => Gate::Open,
        }
    }

    /// Records a failure; returns the new lock deadline if this failure locked the account.
    pub(crate) fn fail(&self, name: &str, now: u64) -> Option<u64> {
        let mut names = self.names.lock();
        if names.len() >= MAX_TRACKED_NAMES && !names.contains_key(name) {
            names.retain(|_, s| s.until > now);
        }
        let s = names.entry(name.to_owned()).or_default();
        s.failures = s.failures.saturating_add(1);
        if s.failures >= self.policy.hard_limit {
            s.until = u64::MAX;
            return Some(s.until);
        }
        if s.failures.is_multiple_of(self.policy.threshold) {
            s.until = now.saturating_add(self.policy.delay(s.locks));
            s.locks += 1;
            return Some(s.until);
        }
        None
    }

    pub(crate) fn succeed(&self, name: &str) {
        self.names.lock().remove(name);
    }

    pub(crate) fn consecutive_failures(&self, name: &str) -> u32 {
        self.names.lock().get(name).map_or(0, |s| s.failures)
    }
}
