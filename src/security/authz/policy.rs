//! The policy document: roles with permissions and parents, users with roles; its TOML and
//! JSON loaders and its validation errors.
//!
//! ```toml
//! [[roles]]
//! name = "viewer"
//! permissions = [
//!     { action = "read", resource = "orders/**" },
//! ]
//!
//! [[roles]]
//! name = "trader"
//! parents = ["viewer"]
//! permissions = [
//!     { id = "trade-xnas", action = "cancel_order", resource = "orders/XNAS/*" },
//!     { id = "no-halted", action = "*", resource = "orders/HALT/**", effect = "deny" },
//! ]
//!
//! [[users]]
//! id = "alice"
//! roles = ["trader"]
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pattern::PatternError;

/// Whether a matching permission allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Allows the action, unless a matching `Deny` exists (deny overrides allow).
    #[default]
    Allow,
    /// Denies the action, whatever else matches.
    Deny,
}

/// One permission of a role: `effect` for `action` on resources matching `resource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// The rule id reported in decisions and audit records. Unique in the policy; when
    /// absent it is `"<role>/<index>"` (0-based index within the role's permissions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An action name, or `*` for every action.
    pub action: String,
    /// A resource pattern (see [`super::ResourcePattern`]): `orders/*/42`, `orders/**`.
    pub resource: String,
    /// `allow` (the default when omitted) or `deny`.
    #[serde(default)]
    pub effect: Effect,
}

impl Permission {
    /// An allow permission without an explicit id.
    pub fn allow(action: &str, resource: &str) -> Self {
        Permission {
            id: None,
            action: action.to_owned(),
            resource: resource.to_owned(),
            effect: Effect::Allow,
        }
    }

    /// A deny permission without an explicit id.
    pub fn deny(action: &str, resource: &str) -> Self {
        Permission {
            effect: Effect::Deny,
            ..Permission::allow(action, resource)
        }
    }

    /// The same permission with id `id`.
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }
}

/// A named set of permissions, inheriting every permission of its parents (transitively).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Unique role name.
    pub name: String,
    /// Roles whose permissions this role inherits (any number; no cycles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
    /// The role's own permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
}

impl Role {
    /// A role with no parents and no permissions.
    pub fn new(name: &str) -> Self {
        Role {
            name: name.to_owned(),
            parents: Vec::new(),
            permissions: Vec::new(),
        }
    }

    /// Adds a parent.
    pub fn parent(mut self, parent: &str) -> Self {
        self.parents.push(parent.to_owned());
        self
    }

    /// Adds a permission.
    pub fn permission(mut self, p: Permission) -> Self {
        self.permissions.push(p);
        self
    }
}

/// A user and the roles it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Unique user id (what [`super::Authorizer::authorize_action`] is given).
    pub id: String,
    /// Names of the roles held.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl User {
    /// A user holding `roles`.
    pub fn new(id: &str, roles: &[&str]) -> Self {
        User {
            id: id.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

/// An authorization policy as written: roles and users. Validate and compile it with
/// [`super::Authorizer::new`] or [`Policy::validate`]; load it with [`Policy::from_toml_str`]
/// or [`Policy::from_json_str`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Every role.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Every user.
    #[serde(default)]
    pub users: Vec<User>,
}

/// The text format of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyFormat {
    /// TOML (`[[roles]]`, `[[users]]` arrays of tables).
    Toml,
    /// JSON (`{"roles": [...], "users": [...]}`).
    Json,
}

/// Why a policy is invalid; each variant names the bad entry and says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// A role, user or permission id is empty (`entry` says which, e.g. `roles[3].name`):
    /// give it a name.
    EmptyName {
        /// Where, e.g. `roles[3].name` or `users[0].id`.
        entry: String,
    },
    /// Two roles have the same name: rename or merge them.
    DuplicateRole {
        /// The repeated name.
        role: String,
    },
    /// Two users have the same id: merge their role lists.
    DuplicateUser {
        /// The repeated id.
        user: String,
    },
    /// Two permissions have the same id (explicit, or derived as `role/index`): give one of
    /// them another `id`.
    DuplicatePermission {
        /// The repeated id.
        id: String,
        /// The role of the first permission with that id.
        first_role: String,
        /// The role of the second.
        second_role: String,
    },
    /// A user holds a role that is not defined: define it under `roles` or fix the name.
    UnknownRole {
        /// The user.
        user: String,
        /// The undefined role.
        role: String,
    },
    /// A role names a parent that is not defined: define it or fix the name.
    UnknownParent {
        /// The role.
        role: String,
        /// The undefined parent.
        parent: String,
    },
    /// Roles inherit from each other in a cycle: remove one of the `parents` links.
    InheritanceCycle {
        /// The cycle, first role repeated at the end: `["a", "b", "a"]` means `a` has parent
        /// `b` and `b` has parent `a`.
        cycle: Vec<String>,
    },
    /// A permission's resource pattern is malformed; `error` says how.
    BadPattern {
        /// The role.
        role: String,
        /// The permission's id (explicit or derived).
        permission: String,
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        error: PatternError,
    },
    /// A permission's action is empty or contains `*` without being exactly `*`: write one
    /// action name, or `*` for all actions.
    BadAction {
        /// The role.
        role: String,
        /// The permission's id (explicit or derived).
        permission: String,
        /// The action as written.
        action: String,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::EmptyName { entry } => write!(f, "{entry} is empty: give it a name"),
            PolicyError::DuplicateRole { role } => {
                write!(f, "role `{role}` is defined twice: rename or merge one")
            }
            PolicyError::DuplicateUser { user } => {
                write!(f, "user `{user}` is defined twice: merge their role lists")
            }
            PolicyError::DuplicatePermission {
                id,
                first_role,
                second_role,
            } => write!(
                f,
                "permission id `{id}` is used twice (roles `{first_role}` and `{second_role}`): give one another `id`"
            ),
            PolicyError::UnknownRole { user, role } => write!(
                f,
                "user `{user}` holds undefined role `{role}`: define it or fix the name"
            ),
            PolicyError::UnknownParent { role, parent } => write!(
                f,
                "role `{role}` inherits from undefined role `{parent}`: define it or fix the name"
            ),
            PolicyError::InheritanceCycle { cycle } => write!(
                f,
                "roles inherit in a cycle ({}): remove one of the parent links",
                cycle.join(" -> ")
            ),
            PolicyError::BadPattern {
                role,
                permission,
                pattern,
                error,
            } => write!(
                f,
                "permission `{permission}` of role `{role}`: resource pattern `{pattern}`: {error}"
            ),
            PolicyError::BadAction {
                role,
                permission,
                action,
            } => write!(
                f,
                "permission `{permission}` of role `{role}`: action `{action}` must be one non-empty name or `*`"
            ),
        }
    }
}

impl std::error::Error for PolicyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PolicyError::BadPattern { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why a policy could not be loaded from text.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadPolicyError {
    /// The text is not a TOML policy document (syntax, unknown field, wrong type); the
    /// message gives the line and column.
    Toml(toml::de::Error),
    /// The text is not a JSON policy document; the message gives the line and column.
    Json(serde_json::Error),
    /// The document parsed but is not a valid policy; see [`PolicyError`].
    Invalid(PolicyError),
}

impl fmt::Display for LoadPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadPolicyError::Toml(e) => write!(f, "policy is not valid TOML: {e}"),
            LoadPolicyError::Json(e) => write!(f, "policy is not valid JSON: {e}"),
            LoadPolicyError::Invalid(e) => write!(f, "invalid policy: {e}"),
        }
    }
}

impl std::error::Error for LoadPolicyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadPolicyError::Toml(e) => Some(e),
            LoadPolicyError::Json(e) => Some(e),
            LoadPolicyError::Invalid(e) => Some(e),
        }
    }
}

impl From<PolicyError> for LoadPolicyError {
    fn from(e: PolicyError) -> Self {
        LoadPolicyError::Invalid(e)
    }
}

impl Policy {
    /// Parses and validates a TOML policy.
    pub fn from_toml_str(text: &str) -> Result<Policy, LoadPolicyError> {
        let p: Policy = toml::from_str(text).map_err(LoadPolicyError::Toml)?;
        p.validate()?;
        Ok(p)
    }

    /// Parses and validates a JSON policy.
    pub fn from_json_str(text: &str) -> Result<Policy, LoadPolicyError> {
        let p: Policy = serde_json::from_str(text).map_err(LoadPolicyError::Json)?;
        p.validate()?;
        Ok(p)
    }

    /// Parses and validates a policy in `format`.
    pub fn from_str_as(text: &str, format: PolicyFormat) -> Result<Policy, LoadPolicyError> {
        match format {
            PolicyFormat::Toml => Policy::from_toml_str(text),
            PolicyFormat::Json => Policy::from_json_str(text),
        }
    }

    /// Checks the policy (names, duplicates, unknown roles, cycles, patterns, actions);
    /// the first problem found is returned.
    pub fn validate(&self) -> Result<(), PolicyError> {
        super::compiled::CompiledPolicy::compile(self).map(|_| ())
    }

    /// The rule id of permission `index` of `role`: its explicit id, else `role/index`.
    pub(crate) fn permission_id(role: &Role, index: usize) -> String {
        match role.permissions.get(index).and_then(|p| p.id.as_ref()) {
            Some(id) => id.clone(),
            None => format!("{}/{index}", role.name),
        }
    }
}
