//! Authorization: role-based, deny by default, deny overrides allow, every decision audited.
//!
//! * A [`Policy`] holds [`Role`]s and [`User`]s. A role has [`Permission`]s — `(action,
//!   resource pattern, effect)` with an id — and may inherit from any number of parent roles
//!   (transitively, no cycles); a user holds roles.
//! * Actions are names; a permission's action `*` covers every action.
//! * Resources are `/`-separated paths (`orders/XNAS/42`); patterns use `*` for exactly one
//!   segment and a final `**` for one or more segments (see [`ResourcePattern`]).
//! * [`Authorizer::authorize_action`] denies by default; any matching deny (from any held or
//!   inherited role) overrides any allow; the [`AuthzResult`] names the deciding [`Rule`]
//!   (permission id and defining role) or says none matched. One [`crate::Audit`] record is
//!   written per decision through the optional [`crate::AuditLog`].
//! * The policy is validated and compiled once (inheritance flattened, permissions indexed
//!   by action, patterns pre-split) so a decision is a few lookups on borrowed data, without
//!   allocation or lock; it can be replaced at run time ([`Authorizer::replace_policy`],
//!   [`Authorizer::reload_from_str`]) without blocking decisions.
//! * Policies load from TOML or JSON ([`Policy::from_toml_str`], [`Policy::from_json_str`]);
//!   errors ([`LoadPolicyError`], [`PolicyError`]) name the bad entry.
//!
//! The semantics equal Cedar's (`forbid` overrides `permit`, default deny) on the translation
//! described in `tests/security_authz_cedar.rs`, which checks them against `cedar-policy`.

mod authorizer;
mod compiled;
mod pattern;
mod policy;

pub use authorizer::{Authorizer, AuthzResult, Decision, Reason, Rule};
pub use pattern::{PatternError, ResourcePattern};
pub use policy::{
    Effect, LoadPolicyError, Permission, Policy, PolicyError, PolicyFormat, Role, User,
};
