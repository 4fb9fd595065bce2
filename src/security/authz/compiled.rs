//! Validation and compilation of a [`Policy`] into the lookup structure decisions use.
//!
//! Compiling flattens inheritance once: each distinct set of roles a user holds (with every
//! inherited role added) gets one [`Table`] listing its permissions, split by effect and
//! indexed by action (`*` permissions apart), in policy order. A decision is then two hash
//! lookups (user, action), a binary search in the user's table and a walk over the
//! candidate patterns, all on borrowed data.

use std::collections::BTreeMap;

use crate::hash::FastMap;

use super::authorizer::Rule;
use super::pattern::ResourcePattern;
use super::policy::{Effect, Policy, PolicyError, Role};

/// One permission, compiled.
#[derive(Debug)]
pub(crate) struct CompiledPerm {
    pub(crate) pattern: ResourcePattern,
    pub(crate) rule: Rule,
}

/// A candidate permission, with what is needed to skip it without touching its pattern.
#[derive(Debug, Clone, Copy)]
struct Cand {
    perm: u32,
    /// Segments before any final `**`.
    fixed: u32,
    /// The pattern ends in `**` (then the resource needs more than `fixed` segments).
    rest: bool,
}

impl Cand {
    #[inline]
    fn fits(self, segments: usize) -> bool {
        if self.rest {
            segments > self.fixed as usize
        } else {
            segments == self.fixed as usize
        }
    }
}

/// The permissions one set of effective roles holds for one action.
#[derive(Debug)]
struct ActionEntry {
    action: u32,
    deny: Box<[Cand]>,
    allow: Box<[Cand]>,
}

/// The permissions of one distinct effective role set.
#[derive(Debug, Default)]
struct Table {
    by_action: Box<[ActionEntry]>,
    any_deny: Box<[Cand]>,
    any_allow: Box<[Cand]>,
}

/// What a compiled policy decides for one request, borrowing the deciding permission.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome<'a> {
    Allow(&'a CompiledPerm),
    Deny(&'a CompiledPerm),
    NoMatch,
    UnknownUser,
}

/// A validated policy, compiled for lookups.
#[derive(Debug)]
pub(crate) struct CompiledPolicy {
    actions: FastMap<Box<str>, u32>,
    users: FastMap<Box<str>, u32>,
    tables: Vec<Table>,
    perms: Vec<CompiledPerm>,
    pub(crate) role_count: usize,
}

impl CompiledPolicy {
    /// Validates and compiles `policy`; the first problem found is returned.
    pub(crate) fn compile(policy: &Policy) -> Result<CompiledPolicy, PolicyError> {
        // Roles: names, duplicates.
        let mut role_ix: FastMap<&str, u32> =
            FastMap::with_capacity_and_hasher(policy.roles.len(), Default::default());
        for (i, r) in policy.roles.iter().enumerate() {
            if r.name.is_empty() {
                return Err(PolicyError::EmptyName {
                    entry: format!("roles[{i}].name"),
                });
            }
            if role_ix.insert(&r.name, i as u32).is_some() {
                return Err(PolicyError::DuplicateRole {
                    role: r.name.clone(),
                });
            }
        }
        // Parents known.
        let mut parents: Vec<Vec<u32>> = Vec::with_capacity(policy.roles.len());
        for r in &policy.roles {
            let mut ps = Vec::with_capacity(r.parents.len());
            for p in &r.parents {
                match role_ix.get(p.as_str()) {
                    Some(&ix) => ps.push(ix),
                    None => {
                        return Err(PolicyError::UnknownParent {
                            role: r.name.clone(),
                            parent: p.clone(),
                        })
                    }
                }
            }
            parents.push(ps);
        }
        // Users: ids, duplicates, roles known.
        let mut user_roles: Vec<(&str, Vec<u32>)> = Vec::with_capacity(policy.users.len());
        let mut seen_users: FastMap<&str, ()> =
            FastMap::with_capacity_and_hasher(policy.users.len(), Default::default());
        for (i, u) in policy.users.iter().enumerate() {
            if u.id.is_empty() {
                return Err(PolicyError::EmptyName {
                    entry: format!("users[{i}].id"),
                });
            }
            if seen_users.insert(&u.id, ()).is_some() {
                return Err(PolicyError::DuplicateUser { user: u.id.clone() });
            }
            let mut rs = Vec::with_capacity(u.roles.len());
            for r in &u.roles {
                match role_ix.get(r.as_str()) {
                    Some(&ix) => rs.push(ix),
                    None => {
                        return Err(PolicyError::UnknownRole {
                            user: u.id.clone(),
                            role: r.clone(),
                        })
                    }
                }
            }
            user_roles.push((&u.id, rs));
        }
        check_cycles(policy, &parents)?;
        // Permissions: ids, actions, patterns.
        let mut perm_ids: FastMap<String, u32> = FastMap::default();
        let mut actions: FastMap<Box<str>, u32> = FastMap::default();
        let mut perms: Vec<CompiledPerm> = Vec::new();
        // Per permission: (action index or None for `*`, effect).
        let mut perm_meta: Vec<(Option<u32>, Effect)> = Vec::new();
        let mut perm_start: Vec<u32> = Vec::with_capacity(policy.roles.len() + 1);
        for (ri, role) in policy.roles.iter().enumerate() {
            perm_start.push(perms.len() as u32);
            for (pi, p) in role.permissions.iter().enumerate() {
                let id = Policy::permission_id(role, pi);
                if id.is_empty() {
                    return Err(PolicyError::EmptyName {
                        entry: format!("roles[{ri}].permissions[{pi}].id"),
                    });
                }
                if let Some(&first) = perm_ids.get(&id) {
                    return Err(PolicyError::DuplicatePermission {
                        id,
                        first_role: policy.roles[first as usize].name.clone(),
                        second_role: role.name.clone(),
                    });
                }
                let action = compile_action(role, &id, &p.action, &mut actions)?;
                let pattern = ResourcePattern::parse(&p.resource).map_err(|error| {
                    PolicyError::BadPattern {
                        role: role.name.clone(),
                        permission: id.clone(),
                        pattern: p.resource.clone(),
                        error,
                    }
                })?;
                perm_ids.insert(id.clone(), ri as u32);
                perms.push(CompiledPerm {
                    pattern,
                    rule: Rule::new(&id, &role.name),
                });
                perm_meta.push((action, p.effect));
            }
        }
        perm_start.push(perms.len() as u32);
        // Effective role sets, one table per distinct set.
        let mut tables: Vec<Table> = Vec::new();
        let mut table_of: FastMap<Vec<u32>, u32> = FastMap::default();
        let mut users: FastMap<Box<str>, u32> = FastMap::default();
        let mut stamp = vec![u32::MAX; policy.roles.len()];
        for (ui, (id, roles)) in user_roles.iter().enumerate() {
            let set = effective_roles(roles, &parents, &mut stamp, ui as u32);
            let t = match table_of.get(&set) {
                Some(&t) => t,
                None => {
                    let t = tables.len() as u32;
                    tables.push(build_table(&set, &perm_start, &perm_meta, &perms));
                    table_of.insert(set, t);
                    t
                }
            };
            users.insert((*id).into(), t);
        }
        Ok(CompiledPolicy {
            actions,
            users,
            tables,
            perms,
            role_count: policy.roles.len(),
        })
    }

    /// Number of permissions.
    pub(crate) fn permission_count(&self) -> usize {
        self.perms.len()
    }

    /// Number of users.
    pub(crate) fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Decides; allocates nothing.
    #[inline]
    pub(crate) fn decide(&self, user: &str, action: &str, resource: &str) -> Outcome<'_> {
        let Some(&t) = self.users.get(user) else {
            return Outcome::UnknownUser;
        };
        let table = &self.tables[t as usize];
        let entry = self.actions.get(action).and_then(|&a| {
            table
                .by_action
                .binary_search_by_key(&a, |e| e.action)
                .ok()
                .map(|i| &table.by_action[i])
        });
        let (deny, allow): (&[Cand], &[Cand]) = match entry {
            Some(e) => (&e.deny, &e.allow),
            None => (&[], &[]),
        };
        // Count the segments once: most candidates are then skipped without reading their
        // pattern.
        let segments = resource.bytes().filter(|&b| b == b'/').count() + 1;
        if let Some(p) = self.first_match(deny, &table.any_deny, resource, segments) {
            return Outcome::Deny(p);
        }
        if let Some(p) = self.first_match(allow, &table.any_allow, resource, segments) {
            return Outcome::Allow(p);
        }
        Outcome::NoMatch
    }

    #[inline]
    fn first_match(
        &self,
        a: &[Cand],
        b: &[Cand],
        resource: &str,
        segments: usize,
    ) -> Option<&CompiledPerm> {
        a.iter()
            .chain(b.iter())
            .filter(|c| c.fits(segments))
            .map(|c| &self.perms[c.perm as usize])
            .find(|p| p.pattern.matches(resource))
    }
}

fn compile_action(
    role: &Role,
    id: &str,
    action: &str,
    actions: &mut FastMap<Box<str>, u32>,
) -> Result<Option<u32>, PolicyError> {
    if action == "*" {
        return Ok(None);
    }
    if action.is_empty() || action.contains('*') {
        return Err(PolicyError::BadAction {
            role: role.name.clone(),
            permission: id.to_owned(),
            action: action.to_owned(),
        });
    }
    let next = actions.len() as u32;
    Ok(Some(*actions.entry(action.into()).or_insert(next)))
}

/// Finds a cycle in the parent graph (iteratively: a long chain cannot overflow the stack).
fn check_cycles(policy: &Policy, parents: &[Vec<u32>]) -> Result<(), PolicyError> {
    const WHITE: u8 = 0;
    const GRAY: u8 = 1;
    const BLACK: u8 = 2;
    let n = parents.len();
    let mut color = vec![WHITE; n];
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for start in 0..n {
        if color[start] != WHITE {
            continue;
        }
        color[start] = GRAY;
        stack.push((start as u32, 0));
        while let Some(top) = stack.last_mut() {
            let (node, next) = (top.0 as usize, top.1);
            if next < parents[node].len() {
                top.1 += 1;
                let p = parents[node][next] as usize;
                match color[p] {
                    WHITE => {
                        color[p] = GRAY;
                        stack.push((p as u32, 0));
                    }
                    GRAY => {
                        let from = stack
                            .iter()
                            .position(|&(r, _)| r as usize == p)
                            .unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|&(r, _)| policy.roles[r as usize].name.clone())
                            .collect();
                        cycle.push(policy.roles[p].name.clone());
                        return Err(PolicyError::InheritanceCycle { cycle });
                    }
                    _ => {}
                }
            } else {
                color[node] = BLACK;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// The sorted set of roles `roles` and all their ancestors (`stamp` marks visits with `gen`).
fn effective_roles(roles: &[u32], parents: &[Vec<u32>], stamp: &mut [u32], gen: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo: Vec<u32> = roles.to_vec();
    while let Some(r) = todo.pop() {
        if stamp[r as usize] == gen {
            continue;
        }
        stamp[r as usize] = gen;
        out.push(r);
        todo.extend_from_slice(&parents[r as usize]);
    }
    out.sort_unstable();
    out
}

fn build_table(
    roles: &[u32],
    perm_start: &[u32],
    meta: &[(Option<u32>, Effect)],
    perms: &[CompiledPerm],
) -> Table {
    let mut by_action: BTreeMap<u32, (Vec<Cand>, Vec<Cand>)> = BTreeMap::new();
    let (mut any_deny, mut any_allow) = (Vec::new(), Vec::new());
    for &r in roles {
        for p in perm_start[r as usize]..perm_start[r as usize + 1] {
            let (action, effect) = meta[p as usize];
            let lists = match action {
                Some(a) => {
                    let e = by_action.entry(a).or_default();
                    (&mut e.0, &mut e.1)
                }
                None => (&mut any_deny, &mut any_allow),
            };
            let pattern = &perms[p as usize].pattern;
            let cand = Cand {
                perm: p,
                fixed: pattern.segments().len() as u32,
                rest: pattern.has_rest(),
            };
            match effect {
                Effect::Deny => lists.0.push(cand),
                Effect::Allow => lists.1.push(cand),
            }
        }
    }
    Table {
        by_action: by_action
            .into_iter()
            .map(|(action, (d, a))| ActionEntry {
                action,
                deny: d.into_boxed_slice(),
                allow: a.into_boxed_slice(),
            })
            .collect(),
        any_deny: any_deny.into_boxed_slice(),
        any_allow: any_allow.into_boxed_slice(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::authz::{Permission, Role, User};

    #[test]
    fn long_chain_does_not_overflow() {
        let n = 100_000;
        let mut roles: Vec<Role> = (0..n)
            .map(|i| {
                let r = Role::new(&format!("r{i}"));
                if i > 0 {
                    r.parent(&format!("r{}", i - 1))
                } else {
                    r.permission(Permission::allow("read", "x"))
                }
            })
            .collect();
        let p = Policy {
            roles: roles.clone(),
            users: vec![User::new("u", &[&format!("r{}", n - 1)])],
        };
        let c = CompiledPolicy::compile(&p).unwrap();
        assert!(matches!(c.decide("u", "read", "x"), Outcome::Allow(_)));
        roles[0] = roles[0].clone().parent(&format!("r{}", n - 1));
        let p = Policy {
            roles,
            users: Vec::new(),
        };
        match CompiledPolicy::compile(&p) {
            Err(PolicyError::InheritanceCycle { cycle }) => assert_eq!(cycle.len(), n + 1),
            other => panic!("{other:?}"),
        }
    }
}
