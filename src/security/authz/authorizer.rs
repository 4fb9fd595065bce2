//! The [`Authorizer`]: decisions on a compiled policy swapped atomically at run time.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::compiled::{CompiledPolicy, Outcome};
use super::policy::{LoadPolicyError, Policy, PolicyError, PolicyFormat};
use crate::security::audit::AuditSlot;
use crate::{Audit, AuditLog};

/// Allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The action may proceed.
    Allow,
    /// The action must not proceed.
    Deny,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RuleName {
    id: Box<str>,
    role: Box<str>,
}

/// The permission that decided: its id and the role that defines it (for an inherited
/// permission, the ancestor role, not the role the user holds). Cloning is one reference
/// count increment, so decisions allocate nothing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Rule(Arc<RuleName>);

impl Rule {
    pub(crate) fn new(id: &str, role: &str) -> Self {
        Rule(Arc::new(RuleName {
            id: id.into(),
            role: role.into(),
        }))
    }

    /// The permission id (explicit, or derived as `role/index`).
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The role that defines the permission.
    pub fn role(&self) -> &str {
        &self.0.role
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id())
            .field("role", &self.role())
            .finish()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (role {})", self.id(), self.role())
    }
}

/// Why a decision was made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// An allow permission matched and no deny did.
    MatchedAllow {
        /// The allow permission (the first matching one in policy order, action-specific
        /// permissions before `*` ones).
        rule: Rule,
    },
    /// A deny permission matched: it overrides every allow.
    MatchedDeny {
        /// The deny permission (chosen like an allow's).
        rule: Rule,
    },
    /// No permission of the user's roles matched: denied by default.
    NoMatch,
    /// The user is not in the policy: denied by default.
    UnknownUser,
}

/// The result of [`Authorizer::authorize_action`]: a decision that is dropped unread is
/// almost certainly a bug (the action goes ahead unchecked), hence `#[must_use]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an authorization decision that is not checked authorizes nothing"]
pub struct AuthzResult {
    /// Allowed or denied.
    pub decision: Decision,
    /// The deciding rule, or why there was none.
    pub reason: Reason,
}

impl AuthzResult {
    /// Whether the action is allowed.
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// The deciding rule, if a permission matched.
    pub fn rule(&self) -> Option<&Rule> {
        match &self.reason {
            Reason::MatchedAllow { rule } | Reason::MatchedDeny { rule } => Some(rule),
            Reason::NoMatch | Reason::UnknownUser => None,
        }
    }
}

/// Role-based authorization: deny by default, any matching deny overrides any allow, every
/// decision audited.
///
/// The compiled policy sits behind an [`ArcSwap`]: [`Authorizer::authorize_action`] reads it
/// with `load` (no lock, no allocation) while [`Authorizer::replace_policy`] or
/// [`Authorizer::reload_from_str`] swaps in a new one; a decision sees either the old or the
/// new policy, never a mix. `Send + Sync`: share it by reference or in an `Arc`.
///
/// ```
/// use tickwatch::security::authz::{Authorizer, Decision, Permission, Policy, Role, User};
/// let policy = Policy {
///     roles: vec![
///         Role::new("viewer").permission(Permission::allow("read", "orders/**")),
///         Role::new("trader")
///             .parent("viewer")
///             .permission(Permission::allow("cancel", "orders/XNAS/*").with_id("cancel-xnas"))
///             .permission(Permission::deny("*", "orders/HALT/**").with_id("halted")),
///     ],
///     users: vec![User::new("alice", &["trader"])],
/// };
/// let authz = Authorizer::new(policy, None).unwrap();
/// let r = authz.authorize_action("alice", "cancel", "orders/XNAS/42");
/// assert_eq!(r.decision, Decision::Allow);
/// assert_eq!(r.rule().unwrap().id(), "cancel-xnas");
/// assert!(!authz.authorize_action("alice", "read", "orders/HALT/7").is_allowed());
/// assert!(!authz.authorize_action("alice", "cancel", "orders/XLON/1").is_allowed());
/// ```
pub struct Authorizer {
    policy: ArcSwap<CompiledPolicy>,
    audit: AuditSlot,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.policy.load();
        f.debug_struct("Authorizer")
            .field("roles", &p.role_count)
            .field("permissions", &p.permission_count())
            .field("users", &p.user_count())
            .field("audit", &self.audit)
            .finish()
    }
}

impl Authorizer {
    /// Validates and compiles `policy`; each decision (and each policy swap) is recorded in
    /// `audit` when given.
    pub fn new(policy: Policy, audit: Option<AuditLog>) -> Result<Authorizer, PolicyError> {
        let compiled = CompiledPolicy::compile(&policy)?;
        Ok(Authorizer {
            policy: ArcSwap::from_pointee(compiled),
            audit: AuditSlot::new(audit),
        })
    }

    /// Loads a policy from `text` in `format` (see [`Authorizer::new`]).
    pub fn from_str_as(
        text: &str,
        format: PolicyFormat,
        audit: Option<AuditLog>,
    ) -> Result<Authorizer, LoadPolicyError> {
        let policy = parse(text, format)?;
        Ok(Authorizer::new(policy, audit)?)
    }

    /// Records into `log` from now on, unless an audit log was given at construction (the
    /// instance this is installed with attaches its own).
    pub(crate) fn attach_audit(&self, log: AuditLog) {
        self.audit.attach(log);
    }

    /// Decides whether `user` may perform `action` on `resource`, and records one audit
    /// record (`outcome` `"allowed"`/`"denied"`, `rule` the deciding permission id or `""`,
    /// `detail` `""`, `"deny-override"`, `"no-match"` or `"unknown-user"`).
    ///
    /// Deny by default: without a matching allow (or for a user not in the policy, or a
    /// resource with an empty segment) the answer is [`Decision::Deny`]. A matching deny of
    /// any of the user's roles, inherited ones included, overrides every allow.
    /// Allocates nothing and takes no lock.
    pub fn authorize_action(&self, user: &str, action: &str, resource: &str) -> AuthzResult {
        let policy = self.policy.load();
        let outcome = policy.decide(user, action, resource);
        if let Some(log) = self.audit.get() {
            let (outcome_s, rule, detail) = match outcome {
                Outcome::Allow(p) => ("allowed", p.rule.id(), ""),
                Outcome::Deny(p) => ("denied", p.rule.id(), "deny-override"),
                Outcome::NoMatch => ("denied", "", "no-match"),
                Outcome::UnknownUser => ("denied", "", "unknown-user"),
            };
            log.record(&Audit {
                actor: user,
                action,
                resource,
                outcome: outcome_s,
                rule,
                detail,
            });
        }
        match outcome {
            Outcome::Allow(p) => AuthzResult {
                decision: Decision::Allow,
                reason: Reason::MatchedAllow {
                    rule: p.rule.clone(),
                },
            },
            Outcome::Deny(p) => AuthzResult {
                decision: Decision::Deny,
                reason: Reason::MatchedDeny {
                    rule: p.rule.clone(),
                },
            },
            Outcome::NoMatch => AuthzResult {
                decision: Decision::Deny,
                reason: Reason::NoMatch,
            },
            Outcome::UnknownUser => AuthzResult {
                decision: Decision::Deny,
                reason: Reason::UnknownUser,
            },
        }
    }

    /// Validates and compiles `policy`, then swaps it in atomically: decisions in flight
    /// finish on the old policy, later ones use the new. On error the current policy stays.
    /// Records one audit record (actor `"authorizer"`, action `"replace_policy"`, outcome
    /// `"replaced"` or `"rejected"`).
    pub fn replace_policy(&self, policy: Policy) -> Result<(), PolicyError> {
        match CompiledPolicy::compile(&policy) {
            Ok(compiled) => {
                let detail = format!(
                    "roles={} permissions={} users={}",
                    compiled.role_count,
                    compiled.permission_count(),
                    compiled.user_count()
                );
                self.policy.store(Arc::new(compiled));
                self.audit_swap("replaced", &detail);
                Ok(())
            }
            Err(e) => {
                self.audit_swap("rejected", &e.to_string());
                Err(e)
            }
        }
    }

    /// Parses `text` in `format` and swaps it in like [`Authorizer::replace_policy`].
    pub fn reload_from_str(&self, text: &str, format: PolicyFormat) -> Result<(), LoadPolicyError> {
        match parse(text, format) {
            Ok(p) => Ok(self.replace_policy(p)?),
            Err(e) => {
                self.audit_swap("rejected", &e.to_string());
                Err(e)
            }
        }
    }

    fn audit_swap(&self, outcome: &str, detail: &str) {
        if let Some(log) = self.audit.get() {
            log.record(&Audit {
                actor: "authorizer",
                action: "replace_policy",
                resource: "policy",
                outcome,
                rule: "",
                detail,
            });
        }
    }
}

/// Parses without validating (compiling validates).
fn parse(text: &str, format: PolicyFormat) -> Result<Policy, LoadPolicyError> {
    match format {
        PolicyFormat::Toml => toml::from_str(text).map_err(LoadPolicyError::Toml),
        PolicyFormat::Json => serde_json::from_str(text).map_err(LoadPolicyError::Json),
    }
}
