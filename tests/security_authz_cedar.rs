//! Differential test: our authorizer against `cedar-policy` as an oracle.
//!
//! Each generated policy is translated to Cedar:
//!
//! * role `r` → entity `Role::"r"`, its parents → the entity's parents (Cedar's `in` is
//!   transitive, like our inheritance);
//! * user `u` → entity `User::"u"` whose parents are the `Role` entities it holds (three
//!   users per policy; a quarter of the requests come from a fourth, unknown user);
//! * resource `a/b/c` → entity `Resource::"a/b/c"` with attributes `len` (3) and
//!   `seg0`..`seg2`;
//! * permission `p` of role `r` → `permit` (allow) or `forbid` (deny) with policy id `p`:
//!   `permit(principal in Role::"r", action == Action::"read", resource)
//!    when { resource.len == 3 && resource.seg0 == "a" };` — `action` unconstrained for `*`,
//!   `*` segments omitted, and a final `**` after `k - 1` segments → `resource.len >= k`.
//!
//! Cedar denies by default and a satisfied `forbid` overrides every `permit`, like us. We
//! compare decisions and check that our deciding rule is among the policies Cedar reports
//! as determining (`diagnostics().reason()`), and that Cedar reports none exactly when we
//! report no match.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use cedar_policy::{
    Context, Decision as CDecision, Entities, Entity, EntityUid, Policy as CPolicy, PolicyId,
    PolicySet, Request, RestrictedExpression,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tickwatch::security::authz::{Authorizer, Decision, Permission, Policy, Reason, Role, User};

const PERM_ACTIONS: [&str; 3] = ["*", "read", "write"];
const REQ_ACTIONS: [&str; 3] = ["read", "write", "cancel"];
const PAT_SEGS: [&str; 3] = ["*", "a", "b"];
const REQ_SEGS: [&str; 3] = ["a", "b", "c"];
const REQUESTS_PER_POLICY: usize = 32;
const POLICIES: u32 = 800;

#[derive(Debug, Clone)]
struct GenPerm {
    action: usize,
    segs: Vec<usize>,
    rest: bool,
    deny: bool,
    explicit_id: bool,
}

#[derive(Debug, Clone)]
struct GenRole {
    parents: u8,
    perms: Vec<GenPerm>,
}

#[derive(Debug, Clone)]
struct GenCase {
    roles: Vec<GenRole>,
    users: Vec<u8>,
    requests: Vec<(usize, usize, Vec<usize>)>,
}

fn case_strategy() -> impl Strategy<Value = GenCase> {
    let perm = (
        0..PERM_ACTIONS.len(),
        prop::collection::vec(0..PAT_SEGS.len(), 1..=3),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.35),
        any::<bool>(),
    )
        .prop_map(|(action, segs, rest, deny, explicit_id)| GenPerm {
            action,
            segs,
            rest,
            deny,
            explicit_id,
        });
    let role = (any::<u8>(), prop::collection::vec(perm, 0..=5))
        .prop_map(|(parents, perms)| GenRole { parents, perms });
    let request = (
        0..4usize,
        0..REQ_ACTIONS.len(),
        prop::collection::vec(0..REQ_SEGS.len(), 1..=3),
    );
    (
        prop::collection::vec(role, 1..=4),
        prop::collection::vec(any::<u8>(), 3),
        prop::collection::vec(request, REQUESTS_PER_POLICY),
    )
        .prop_map(|(roles, users, requests)| GenCase {
            roles,
            users,
            requests,
        })
}

fn perm_id(role: usize, k: usize, p: &GenPerm) -> String {
    if p.explicit_id {
        format!("p{role}_{k}")
    } else {
        format!("r{role}/{k}")
    }
}

fn pattern(p: &GenPerm) -> String {
    let mut s: Vec<&str> = p.segs.iter().map(|&i| PAT_SEGS[i]).collect();
    if p.rest {
        s.push("**");
    }
    s.join("/")
}

fn our_policy(c: &GenCase) -> Policy {
    let roles = c
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut role = Role::new(&format!("r{i}"));
            for j in 0..i {
                if r.parents & (1 << j) != 0 {
                    role = role.parent(&format!("r{j}"));
                }
            }
            for (k, p) in r.perms.iter().enumerate() {
                let action = PERM_ACTIONS[p.action];
                let pat = pattern(p);
                let mut perm = if p.deny {
                    Permission::deny(action, &pat)
                } else {
                    Permission::allow(action, &pat)
                };
                if p.explicit_id {
                    perm = perm.with_id(&perm_id(i, k, p));
                }
                role = role.permission(perm);
            }
            role
        })
        .collect();
    let users = c
        .users
        .iter()
        .enumerate()
        .map(|(u, mask)| {
            let held: Vec<String> = (0..c.roles.len())
                .filter(|j| mask & (1 << j) != 0)
                .map(|j| format!("r{j}"))
                .collect();
            let held: Vec<&str> = held.iter().map(String::as_str).collect();
            User::new(&format!("u{u}"), &held)
        })
        .collect();
    Policy { roles, users }
}

fn uid(s: &str) -> EntityUid {
    EntityUid::from_str(s).unwrap()
}

fn cedar_policies(c: &GenCase) -> PolicySet {
    let mut set = PolicySet::new();
    for (i, r) in c.roles.iter().enumerate() {
        for (k, p) in r.perms.iter().enumerate() {
            let effect = if p.deny { "forbid" } else { "permit" };
            let action = match PERM_ACTIONS[p.action] {
                "*" => "action".to_owned(),
                a => format!("action == Action::\"{a}\""),
            };
            let mut conds = vec![if p.rest {
                format!("resource.len >= {}", p.segs.len() + 1)
            } else {
                format!("resource.len == {}", p.segs.len())
            }];
            for (j, &s) in p.segs.iter().enumerate() {
                if PAT_SEGS[s] != "*" {
                    conds.push(format!("resource.seg{j} == \"{}\"", PAT_SEGS[s]));
                }
            }
            let text = format!(
                "{effect}(principal in Role::\"r{i}\", {action}, resource) when {{ {} }};",
                conds.join(" && ")
            );
            let id = PolicyId::new(perm_id(i, k, p));
            set.add(CPolicy::parse(Some(id), &text).unwrap()).unwrap();
        }
    }
    set
}

fn cedar_entities(c: &GenCase, resources: &HashSet<String>) -> Entities {
    let mut es = Vec::new();
    for (i, r) in c.roles.iter().enumerate() {
        let parents = (0..i)
            .filter(|j| r.parents & (1 << j) != 0)
            .map(|j| uid(&format!("Role::\"r{j}\"")))
            .collect();
        es.push(Entity::new_no_attrs(
            uid(&format!("Role::\"r{i}\"")),
            parents,
        ));
    }
    for (u, mask) in c.users.iter().enumerate() {
        let parents = (0..c.roles.len())
            .filter(|j| mask & (1 << j) != 0)
            .map(|j| uid(&format!("Role::\"r{j}\"")))
            .collect();
        es.push(Entity::new_no_attrs(
            uid(&format!("User::\"u{u}\"")),
            parents,
        ));
    }
    for res in resources {
        let segs: Vec<&str> = res.split('/').collect();
        let mut attrs: HashMap<String, RestrictedExpression> = HashMap::new();
        attrs.insert(
            "len".into(),
            RestrictedExpression::new_long(segs.len() as i64),
        );
        for (j, s) in segs.iter().enumerate() {
            attrs.insert(
                format!("seg{j}"),
                RestrictedExpression::new_string((*s).into()),
            );
        }
        es.push(Entity::new(uid(&format!("Resource::\"{res}\"")), attrs, HashSet::new()).unwrap());
    }
    Entities::from_entities(es, None).unwrap()
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    policies: AtomicU64,
    allow: AtomicU64,
    deny: AtomicU64,
    no_match: AtomicU64,
    unknown_user: AtomicU64,
}

fn check(c: &GenCase, counts: &Counts) -> Result<(), TestCaseError> {
    let ours = Authorizer::new(our_policy(c), None).unwrap();
    let policies = cedar_policies(c);
    let resources: Vec<String> = c
        .requests
        .iter()
        .map(|(_, _, segs)| {
            segs.iter()
                .map(|&s| REQ_SEGS[s])
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    let entities = cedar_entities(c, &resources.iter().cloned().collect());
    let cedar = cedar_policy::Authorizer::new();
    counts.policies.fetch_add(1, Relaxed);
    for ((user, action, _), resource) in c.requests.iter().zip(&resources) {
        let user = format!("u{user}");
        let action = REQ_ACTIONS[*action];
        let got = ours.authorize_action(&user, action, resource);
        let req = Request::new(
            uid(&format!("User::\"{user}\"")),
            uid(&format!("Action::\"{action}\"")),
            uid(&format!("Resource::\"{resource}\"")),
            Context::empty(),
            None,
        )
        .unwrap();
        let resp = cedar.is_authorized(&req, &policies, &entities);
        let errors: Vec<String> = resp.diagnostics().errors().map(|e| e.to_string()).collect();
        prop_assert!(errors.is_empty(), "cedar errors: {errors:?}");
        let reasons: HashSet<String> = resp.diagnostics().reason().map(|p| p.to_string()).collect();
        let want = match resp.decision() {
            CDecision::Allow => Decision::Allow,
            CDecision::Deny => Decision::Deny,
        };
        prop_assert_eq!(
            got.decision,
            want,
            "{} {} {}: ours {:?}, cedar reasons {:?}",
            user,
            action,
            resource,
            got.reason,
            reasons
        );
        match &got.reason {
            Reason::MatchedAllow { rule } | Reason::MatchedDeny { rule } => {
                prop_assert!(
                    reasons.contains(rule.id()),
                    "{user} {action} {resource}: our rule {} not among cedar's {reasons:?}",
                    rule.id()
                );
            }
            Reason::NoMatch | Reason::UnknownUser => {
                prop_assert!(reasons.is_empty(), "cedar matched {reasons:?}, we did not");
            }
            other => prop_assert!(false, "a reason this oracle does not know: {other:?}"),
        }
        let counter = match got.reason {
            Reason::MatchedAllow { .. } => &counts.allow,
            Reason::MatchedDeny { .. } => &counts.deny,
            Reason::NoMatch => &counts.no_match,
            Reason::UnknownUser => &counts.unknown_user,
            other => unreachable!("checked above: {other:?}"),
        };
        counter.fetch_add(1, Relaxed);
        counts.requests.fetch_add(1, Relaxed);
    }
    Ok(())
}

#[test]
fn agrees_with_cedar() {
    let counts = Counts::default();
    let started = Instant::now();
    let mut runner = TestRunner::new(Config {
        cases: POLICIES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case_strategy(), |c| check(&c, &counts))
        .unwrap();
    let n = |a: &AtomicU64| a.load(Relaxed);
    let (requests, allow, deny, no_match, unknown) = (
        n(&counts.requests),
        n(&counts.allow),
        n(&counts.deny),
        n(&counts.no_match),
        n(&counts.unknown_user),
    );
    eprintln!(
        "cedar differential: {} policies, {requests} requests, {allow} allowed, {deny} denied by a rule, {no_match} no match, {unknown} unknown user, 0 disagreements, {:.1?}",
        n(&counts.policies),
        started.elapsed()
    );
    assert!(requests >= 10_000, "only {requests} requests compared");
    // Not vacuous: every kind of outcome occurs often (at least 2.5% of the requests).
    for (what, k) in [
        ("allow", allow),
        ("deny", deny),
        ("no-match", no_match),
        ("unknown", unknown),
    ] {
        // Typical shares: allow ~9%, deny ~6%, no match ~60%, unknown user ~25%.
        assert!(k * 40 >= requests, "only {k} {what} of {requests}");
    }
}
