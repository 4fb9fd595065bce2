//! Authorization decisions on a generated policy of 1,000 roles and 10,000 permissions:
//! ours (`authorize_action`, with and without an audit log) and `cedar-policy` deciding the
//! same requests on the equivalent Cedar policy set (translation as in
//! `tests/security_authz_cedar.rs`).
//!
//! Medians: `target/criterion/authz/*/new/estimates.json`.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use cedar_policy::{
    Context, Entities, Entity, EntityUid, Policy as CPolicy, PolicyId, PolicySet, Request,
    RestrictedExpression,
};
use criterion::{criterion_group, criterion_main, Criterion};
use tickwatch::security::authz::{Authorizer, Effect, Permission, Policy, Role, User};
use tickwatch::Telemetry;

const ROLES: usize = 1_000;
const PERMS_PER_ROLE: usize = 10;
const USERS: usize = 2_000;
const ACTIONS: [&str; 12] = [
    "read",
    "write",
    "cancel_order",
    "place_order",
    "amend_order",
    "view_fills",
    "export",
    "approve",
    "halt",
    "resume",
    "rotate_key",
    "admin",
];
const KINDS: [&str; 8] = [
    "orders",
    "fills",
    "positions",
    "books",
    "accounts",
    "keys",
    "reports",
    "limits",
];
const VENUES: [&str; 10] = [
    "XNAS", "XNYS", "XLON", "XPAR", "XETR", "XTKS", "XHKG", "XASX", "XSWX", "XTSE",
];

/// SplitMix64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn pattern(rng: &mut Rng) -> String {
    let kind = KINDS[rng.below(KINDS.len())];
    match rng.below(10) {
        0..=3 => format!("{kind}/{}/*", VENUES[rng.below(VENUES.len())]),
        4..=5 => format!("{kind}/*/*"),
        6 => format!("{kind}/**"),
        7 => format!(
            "{kind}/{}/{}",
            VENUES[rng.below(VENUES.len())],
            rng.below(100)
        ),
        _ => format!("{kind}/{}/**", VENUES[rng.below(VENUES.len())]),
    }
}

fn generate() -> (Policy, Vec<(String, String, String)>) {
    let mut rng = Rng(0x71c6_0a7c_5eed);
    let mut roles = Vec::with_capacity(ROLES);
    for i in 0..ROLES {
        let mut role = Role::new(&format!("role{i}"));
        if i > 0 && rng.chance(40) {
            role = role.parent(&format!("role{}", rng.below(i)));
            if rng.chance(25) {
                role = role.parent(&format!("role{}", rng.below(i)));
            }
        }
        for _ in 0..PERMS_PER_ROLE {
            let action = if rng.chance(3) {
                "*"
            } else {
                ACTIONS[rng.below(ACTIONS.len())]
            };
            let p = pattern(&mut rng);
            role = role.permission(if rng.chance(10) {
                Permission::deny(action, &p)
            } else {
                Permission::allow(action, &p)
            });
        }
        roles.push(role);
    }
    let users: Vec<User> = (0..USERS)
        .map(|u| {
            let n = 1 + rng.below(3);
            let held: Vec<String> = (0..n)
                .map(|_| format!("role{}", rng.below(ROLES)))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let held: Vec<&str> = held.iter().map(String::as_str).collect();
            User::new(&format!("user{u}"), &held)
        })
        .collect();
    let requests = (0..1024)
        .map(|_| {
            let user = format!("user{}", rng.below(USERS));
            let action = ACTIONS[rng.below(ACTIONS.len())].to_owned();
            let resource = format!(
                "{}/{}/{}",
                KINDS[rng.below(KINDS.len())],
                VENUES[rng.below(VENUES.len())],
                rng.below(100)
            );
            (user, action, resource)
        })
        .collect();
    (Policy { roles, users }, requests)
}

fn uid(s: &str) -> EntityUid {
    EntityUid::from_str(s).unwrap()
}

/// The same policy in Cedar (one `permit`/`forbid` per permission, roles as parents).
fn cedar(policy: &Policy, requests: &[(String, String, String)]) -> (PolicySet, Entities) {
    let mut set = PolicySet::new();
    let mut entities = Vec::new();
    for role in &policy.roles {
        for (k, p) in role.permissions.iter().enumerate() {
            let effect = match p.effect {
                Effect::Allow => "permit",
                Effect::Deny => "forbid",
            };
            let action = if p.action == "*" {
                "action".to_owned()
            } else {
                format!("action == Action::\"{}\"", p.action)
            };
            let segs: Vec<&str> = p.resource.split('/').collect();
            let (fixed, rest) = match segs.last() {
                Some(&"**") => (&segs[..segs.len() - 1], true),
                _ => (&segs[..], false),
            };
            let mut conds = vec![if rest {
                format!("resource.len >= {}", segs.len())
            } else {
                format!("resource.len == {}", segs.len())
            }];
            for (j, s) in fixed.iter().enumerate() {
                if *s != "*" {
                    conds.push(format!("resource.seg{j} == \"{s}\""));
                }
            }
            let text = format!(
                "{effect}(principal in Role::\"{}\", {action}, resource) when {{ {} }};",
                role.name,
                conds.join(" && ")
            );
            let id = PolicyId::new(format!("{}/{k}", role.name));
            set.add(CPolicy::parse(Some(id), &text).unwrap()).unwrap();
        }
        let parents = role
            .parents
            .iter()
            .map(|p| uid(&format!("Role::\"{p}\"")))
            .collect();
        entities.push(Entity::new_no_attrs(
            uid(&format!("Role::\"{}\"", role.name)),
            parents,
        ));
    }
    for user in &policy.users {
        let parents = user
            .roles
            .iter()
            .map(|r| uid(&format!("Role::\"{r}\"")))
            .collect();
        entities.push(Entity::new_no_attrs(
            uid(&format!("User::\"{}\"", user.id)),
            parents,
        ));
    }
    let resources: HashSet<&str> = requests.iter().map(|r| r.2.as_str()).collect();
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
        entities.push(
            Entity::new(uid(&format!("Resource::\"{res}\"")), attrs, HashSet::new()).unwrap(),
        );
    }
    (set, Entities::from_entities(entities, None).unwrap())
}

fn bench(c: &mut Criterion) {
    let (policy, requests) = generate();
    let ours = Authorizer::new(policy.clone(), None).unwrap();
    let allowed = requests
        .iter()
        .filter(|(u, a, r)| ours.authorize_action(u, a, r).is_allowed())
        .count();
    let matched = requests
        .iter()
        .filter(|(u, a, r)| ours.authorize_action(u, a, r).rule().is_some())
        .count();
    eprintln!(
        "policy: {} roles, {} permissions, {} users; of {} requests {allowed} allowed, {matched} decided by a rule",
        policy.roles.len(),
        policy.roles.iter().map(|r| r.permissions.len()).sum::<usize>(),
        policy.users.len(),
        requests.len()
    );
    let mut group = c.benchmark_group("authz");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    let mut i = 0usize;
    group.bench_function("authorize_action", |b| {
        b.iter(|| {
            let (u, a, r) = &requests[i % requests.len()];
            i = i.wrapping_add(1);
            black_box(ours.authorize_action(black_box(u), black_box(a), black_box(r)))
        })
    });

    // With an audit log: one record per decision into a running instance (no sink).
    let tw = Telemetry::builder().start().unwrap();
    let audited = Authorizer::new(policy.clone(), Some(tw.audit_log())).unwrap();
    let mut i = 0usize;
    group.bench_function("authorize_action_audited", |b| {
        b.iter(|| {
            let (u, a, r) = &requests[i % requests.len()];
            i = i.wrapping_add(1);
            black_box(audited.authorize_action(black_box(u), black_box(a), black_box(r)))
        })
    });

    let (set, entities) = cedar(&policy, &requests);
    let cedar_requests: Vec<Request> = requests
        .iter()
        .map(|(u, a, r)| {
            Request::new(
                uid(&format!("User::\"{u}\"")),
                uid(&format!("Action::\"{a}\"")),
                uid(&format!("Resource::\"{r}\"")),
                Context::empty(),
                None,
            )
            .unwrap()
        })
        .collect();
    // Same answers (a sanity check, not the differential test).
    let authorizer = cedar_policy::Authorizer::new();
    for (req, (u, a, r)) in cedar_requests.iter().zip(&requests).take(64) {
        let want = ours.authorize_action(u, a, r).is_allowed();
        let got = authorizer.is_authorized(req, &set, &entities).decision()
            == cedar_policy::Decision::Allow;
        assert_eq!(got, want, "{u} {a} {r}");
    }
    group.sample_size(10);
    let mut i = 0usize;
    group.bench_function("cedar_is_authorized", |b| {
        b.iter(|| {
            let req = &cedar_requests[i % cedar_requests.len()];
            i = i.wrapping_add(1);
            black_box(authorizer.is_authorized(black_box(req), &set, &entities))
        })
    });
    group.finish();
    tw.shutdown().unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
