//! Authorization: deny by default, deny overrides allow, inheritance, wildcards, hot swap
//! under concurrent readers, loader errors, and one audit record per decision.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tickwatch::security::authz::{
    Authorizer, Decision, LoadPolicyError, PatternError, Permission, Policy, PolicyError,
    PolicyFormat, Reason, Role, User,
};
use tickwatch::sink::{MemorySink, Record};
use tickwatch::Telemetry;

fn authz(roles: Vec<Role>, users: Vec<User>) -> Authorizer {
    Authorizer::new(Policy { roles, users }, None).unwrap()
}

/// `(decision, rule id or "")`.
fn d(a: &Authorizer, user: &str, action: &str, resource: &str) -> (Decision, String) {
    let r = a.authorize_action(user, action, resource);
    let rule = r.rule().map(|r| r.id().to_owned()).unwrap_or_default();
    // The decision and the reason never disagree.
    match (&r.decision, &r.reason) {
        (Decision::Allow, Reason::MatchedAllow { .. })
        | (Decision::Deny, Reason::MatchedDeny { .. })
        | (Decision::Deny, Reason::NoMatch)
        | (Decision::Deny, Reason::UnknownUser) => {}
        other => panic!("inconsistent result {other:?}"),
    }
    (r.decision, rule)
}

const ALLOW: Decision = Decision::Allow;
const DENY: Decision = Decision::Deny;

#[test]
fn deny_by_default() {
    let a = authz(
        vec![Role::new("viewer").permission(Permission::allow("read", "orders/*").with_id("r"))],
        vec![User::new("alice", &["viewer"]), User::new("bob", &[])],
    );
    assert_eq!(d(&a, "alice", "read", "orders/1"), (ALLOW, "r".into()));
    // Other action, other resource, a user without roles, an unknown user: all denied.
    let r = a.authorize_action("alice", "write", "orders/1");
    assert_eq!((r.decision, r.reason), (DENY, Reason::NoMatch));
    assert_eq!(d(&a, "alice", "read", "fills/1"), (DENY, "".into()));
    assert_eq!(d(&a, "bob", "read", "orders/1"), (DENY, "".into()));
    let r = a.authorize_action("mallory", "read", "orders/1");
    assert_eq!((r.decision, r.reason), (DENY, Reason::UnknownUser));
    // An empty policy allows nothing.
    let empty = Authorizer::new(Policy::default(), None).unwrap();
    assert_eq!(d(&empty, "alice", "read", "orders/1"), (DENY, "".into()));
}

#[test]
fn deny_overrides_allow_across_roles_and_inheritance() {
    let a = authz(
        vec![
            Role::new("base").permission(Permission::deny("*", "orders/HALT/*").with_id("halt")),
            Role::new("trader")
                .parent("base")
                .permission(Permission::allow("cancel", "orders/*/*").with_id("cancel-any")),
            Role::new("restricted")
                .permission(Permission::deny("cancel", "orders/XLON/*").with_id("no-xlon")),
            Role::new("plain").permission(Permission::allow("cancel", "orders/*/*").with_id("p")),
        ],
        vec![
            User::new("alice", &["trader"]),
            User::new("bob", &["trader", "restricted"]),
            User::new("carol", &["plain", "restricted"]),
        ],
    );
    assert_eq!(
        d(&a, "alice", "cancel", "orders/XNAS/1"),
        (ALLOW, "cancel-any".into())
    );
    // Inherited deny overrides the role's own allow.
    let r = a.authorize_action("alice", "cancel", "orders/HALT/1");
    assert_eq!(r.decision, DENY);
    match &r.reason {
        Reason::MatchedDeny { rule } => {
            assert_eq!(rule.id(), "halt");
            assert_eq!(rule.role(), "base");
        }
        other => panic!("{other:?}"),
    }
    // Deny from another held role overrides an allow, in either role order.
    assert_eq!(
        d(&a, "bob", "cancel", "orders/XLON/1"),
        (DENY, "no-xlon".into())
    );
    assert_eq!(
        d(&a, "carol", "cancel", "orders/XLON/1"),
        (DENY, "no-xlon".into())
    );
    assert_eq!(
        d(&a, "carol", "cancel", "orders/XNAS/1"),
        (ALLOW, "p".into())
    );
    // Policy order does not matter: the deny written after the allow in the same role wins.
    let a = authz(
        vec![Role::new("r")
            .permission(Permission::allow("x", "a").with_id("allow"))
            .permission(Permission::deny("x", "a").with_id("deny"))],
        vec![User::new("u", &["r"])],
    );
    assert_eq!(d(&a, "u", "x", "a"), (DENY, "deny".into()));
}

#[test]
fn inheritance_multi_level_and_diamond() {
    // top <- left, right <- bottom (diamond), and a chain c0 <- c1 <- c2 <- c3.
    let a = authz(
        vec![
            Role::new("top").permission(Permission::allow("read", "t").with_id("top-read")),
            Role::new("left")
                .parent("top")
                .permission(Permission::allow("read", "l")),
            Role::new("right")
                .parent("top")
                .permission(Permission::deny("read", "l").with_id("right-no-l")),
            Role::new("bottom").parent("left").parent("right"),
            Role::new("c0").permission(Permission::allow("deep", "x").with_id("deep")),
            Role::new("c1").parent("c0"),
            Role::new("c2").parent("c1"),
            Role::new("c3").parent("c2"),
        ],
        vec![
            User::new("b", &["bottom"]),
            User::new("l", &["left"]),
            User::new("c", &["c3"]),
            User::new("c0", &["c0"]),
        ],
    );
    assert_eq!(d(&a, "b", "read", "t"), (ALLOW, "top-read".into()));
    assert_eq!(d(&a, "l", "read", "l"), (ALLOW, "left/0".into()));
    assert_eq!(d(&a, "b", "read", "l"), (DENY, "right-no-l".into()));
    assert_eq!(d(&a, "c", "deep", "x"), (ALLOW, "deep".into()));
    // Inheritance goes up, never down.
    let a2 = authz(
        vec![
            Role::new("parent"),
            Role::new("child")
                .parent("parent")
                .permission(Permission::allow("x", "y")),
        ],
        vec![User::new("p", &["parent"])],
    );
    assert_eq!(d(&a2, "p", "x", "y"), (DENY, "".into()));
}

#[test]
fn wildcards() {
    let a = authz(
        vec![Role::new("r")
            .permission(Permission::allow("read", "orders/*/42").with_id("one"))
            .permission(Permission::allow("*", "fills/*").with_id("any-action"))
            .permission(Permission::allow("list", "books/**").with_id("rest"))],
        vec![User::new("u", &["r"])],
    );
    assert_eq!(d(&a, "u", "read", "orders/XNAS/42"), (ALLOW, "one".into()));
    assert_eq!(d(&a, "u", "read", "orders/XNAS/43"), (DENY, "".into()));
    // `*` is exactly one segment: counts must match.
    assert_eq!(d(&a, "u", "read", "orders/42"), (DENY, "".into()));
    assert_eq!(d(&a, "u", "read", "orders/X/Y/42"), (DENY, "".into()));
    assert_eq!(d(&a, "u", "read", "orders/XNAS/42/x"), (DENY, "".into()));
    // Action `*` covers any action, literal `*` included; a request for action `*` does not
    // get a specific permission.
    for action in ["read", "write", "anything", "*"] {
        assert_eq!(d(&a, "u", action, "fills/7"), (ALLOW, "any-action".into()));
    }
    assert_eq!(d(&a, "u", "*", "orders/XNAS/42"), (DENY, "".into()));
    assert_eq!(d(&a, "u", "write", "fills/7/8"), (DENY, "".into()));
    // `**`: one or more further segments.
    assert_eq!(d(&a, "u", "list", "books"), (DENY, "".into()));
    assert_eq!(d(&a, "u", "list", "books/a"), (ALLOW, "rest".into()));
    assert_eq!(d(&a, "u", "list", "books/a/b/c"), (ALLOW, "rest".into()));
    // Resources with empty segments never match.
    for r in ["", "fills/", "fills//", "/fills/7", "books//a"] {
        assert_eq!(d(&a, "u", "list", r), (DENY, "".into()), "{r:?}");
    }
    // A literal `*` in a resource is just a segment, matched only by a `*` pattern.
    assert_eq!(d(&a, "u", "read", "orders/*/42"), (ALLOW, "one".into()));
    assert_eq!(d(&a, "u", "read", "*/*/42"), (DENY, "".into()));
}

fn policy_a() -> Policy {
    Policy {
        roles: vec![Role::new("r").permission(Permission::allow("read", "x/*").with_id("a"))],
        users: vec![User::new("u", &["r"])],
    }
}

fn policy_b() -> Policy {
    Policy {
        roles: vec![Role::new("r")
            .permission(Permission::allow("read", "x/*").with_id("b-allow"))
            .permission(Permission::deny("read", "x/2").with_id("b-deny"))
            .permission(Permission::allow("write", "x/*").with_id("b-write"))],
        users: vec![User::new("u", &["r"])],
    }
}

#[test]
fn hot_swap_under_concurrent_readers() {
    let a = Arc::new(Authorizer::new(policy_a(), None).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let seen_a = Arc::new(AtomicU64::new(0));
    let seen_b = Arc::new(AtomicU64::new(0));
    let requests = [
        ("read", "x/1"),
        ("read", "x/2"),
        ("write", "x/1"),
        ("read", "y"),
    ];
    // Expected (decision, rule) per request under each policy.
    let ea: Vec<(Decision, String)> = {
        let x = Authorizer::new(policy_a(), None).unwrap();
        requests.iter().map(|(ac, r)| d(&x, "u", ac, r)).collect()
    };
    let eb: Vec<(Decision, String)> = {
        let x = Authorizer::new(policy_b(), None).unwrap();
        requests.iter().map(|(ac, r)| d(&x, "u", ac, r)).collect()
    };
    assert_ne!(ea, eb);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (a, stop, seen_a, seen_b) =
                (a.clone(), stop.clone(), seen_a.clone(), seen_b.clone());
            let (ea, eb) = (ea.clone(), eb.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) || n < 1000 {
                    for (i, (ac, r)) in requests.iter().enumerate() {
                        let got = d(&a, "u", ac, r);
                        if got != ea[i] && got != eb[i] {
                            panic!("{ac} {r}: {got:?} is neither {:?} nor {:?}", ea[i], eb[i]);
                        }
                        if ea[i] != eb[i] {
                            let seen = if got == ea[i] { &seen_a } else { &seen_b };
                            seen.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let started = std::time::Instant::now();
    let mut i = 0u64;
    // Swap at least 2,000 times and 200 ms, and until the readers have seen both policies:
    // on a loaded machine the readers may not be scheduled during the first swaps at all
    // (bounded by a generous deadline; the asserts below then report it).
    let both_seen = || seen_a.load(Ordering::Relaxed) > 0 && seen_b.load(Ordering::Relaxed) > 0;
    while i < 2_000
        || started.elapsed() < std::time::Duration::from_millis(200)
        || (!both_seen() && started.elapsed() < std::time::Duration::from_secs(30))
    {
        let p = if i.is_multiple_of(2) {
            policy_b()
        } else {
            policy_a()
        };
        i += 1;
        a.replace_policy(p).unwrap();
        if i.is_multiple_of(64) {
            std::thread::yield_now();
        }
    }
    // End on policy_a.
    if i % 2 == 1 {
        a.replace_policy(policy_a()).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 1000);
    }
    assert!(seen_a.load(Ordering::Relaxed) > 0);
    assert!(seen_b.load(Ordering::Relaxed) > 0);
    // After the last swap (policy_a), every decision is policy_a's.
    for (i, (ac, r)) in requests.iter().enumerate() {
        assert_eq!(d(&a, "u", ac, r), ea[i]);
    }
}

#[test]
fn loader_accepts_toml_and_json() {
    let toml = r#"
        [[roles]]
        name = "viewer"
        permissions = [{ action = "read", resource = "orders/**" }]

        [[roles]]
        name = "trader"
        parents = ["viewer"]
        permissions = [
            { id = "cancel-xnas", action = "cancel", resource = "orders/XNAS/*" },
            { id = "halt", action = "*", resource = "orders/HALT/*", effect = "deny" },
        ]

        [[users]]
        id = "alice"
        roles = ["trader"]
    "#;
    let p = Policy::from_toml_str(toml).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(Policy::from_json_str(&json).unwrap(), p);
    for a in [
        Authorizer::from_str_as(toml, PolicyFormat::Toml, None).unwrap(),
        Authorizer::from_str_as(&json, PolicyFormat::Json, None).unwrap(),
    ] {
        assert_eq!(
            d(&a, "alice", "read", "orders/XNAS/1"),
            (ALLOW, "viewer/0".into())
        );
        assert_eq!(
            d(&a, "alice", "cancel", "orders/XNAS/1"),
            (ALLOW, "cancel-xnas".into())
        );
        assert_eq!(
            d(&a, "alice", "read", "orders/HALT/1"),
            (DENY, "halt".into())
        );
    }
}

fn invalid(toml: &str) -> PolicyError {
    match Policy::from_toml_str(toml) {
        Err(LoadPolicyError::Invalid(e)) => {
            // The same text as JSON gives the same error.
            let v: toml::Value = toml::from_str(toml).unwrap();
            let json = serde_json::to_string(&v).unwrap();
            match Policy::from_json_str(&json) {
                Err(LoadPolicyError::Invalid(e2)) => assert_eq!(e, e2),
                other => panic!("json: {other:?}"),
            }
            assert!(!e.to_string().is_empty());
            e
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn loader_validation_errors_name_the_entry() {
    assert_eq!(
        invalid("[[users]]\nid = 'alice'\nroles = ['ghost']"),
        PolicyError::UnknownRole {
            user: "alice".into(),
            role: "ghost".into()
        }
    );
    assert_eq!(
        invalid("[[roles]]\nname = 'a'\nparents = ['ghost']"),
        PolicyError::UnknownParent {
            role: "a".into(),
            parent: "ghost".into()
        }
    );
    assert_eq!(
        invalid(
            "[[roles]]\nname = 'a'\nparents = ['b']\n[[roles]]\nname = 'b'\nparents = ['c']\n\
             [[roles]]\nname = 'c'\nparents = ['a']"
        ),
        PolicyError::InheritanceCycle {
            cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()]
        }
    );
    assert_eq!(
        invalid("[[roles]]\nname = 'self'\nparents = ['self']"),
        PolicyError::InheritanceCycle {
            cycle: vec!["self".into(), "self".into()]
        }
    );
    for (pattern, error) in [
        ("", PatternError::Empty),
        ("a//b", PatternError::EmptySegment { index: 1 }),
        ("a/", PatternError::EmptySegment { index: 1 }),
        (
            "a/ab*",
            PatternError::WildcardInSegment {
                index: 1,
                segment: "ab*".into(),
            },
        ),
        ("**/a", PatternError::DoubleStarNotLast { index: 0 }),
    ] {
        assert_eq!(
            invalid(&format!(
                "[[roles]]\nname = 'r'\npermissions = [{{ action = 'read', resource = '{pattern}' }}]"
            )),
            PolicyError::BadPattern {
                role: "r".into(),
                permission: "r/0".into(),
                pattern: pattern.into(),
                error,
            }
        );
    }
    for action in ["", "read*", "**"] {
        assert_eq!(
            invalid(&format!(
                "[[roles]]\nname = 'r'\npermissions = [{{ id = 'p', action = '{action}', resource = 'x' }}]"
            )),
            PolicyError::BadAction {
                role: "r".into(),
                permission: "p".into(),
                action: action.into(),
            }
        );
    }
    assert_eq!(
        invalid("[[roles]]\nname = 'a'\n[[roles]]\nname = 'a'"),
        PolicyError::DuplicateRole { role: "a".into() }
    );
    assert_eq!(
        invalid("[[users]]\nid = 'u'\n[[users]]\nid = 'u'"),
        PolicyError::DuplicateUser { user: "u".into() }
    );
    // An explicit id colliding with another role's explicit id, and with a derived one.
    assert_eq!(
        invalid(
            "[[roles]]\nname = 'a'\npermissions = [{ id = 'p', action = 'x', resource = 'y' }]\n\
             [[roles]]\nname = 'b'\npermissions = [{ id = 'p', action = 'x', resource = 'y' }]"
        ),
        PolicyError::DuplicatePermission {
            id: "p".into(),
            first_role: "a".into(),
            second_role: "b".into()
        }
    );
    assert_eq!(
        invalid(
            "[[roles]]\nname = 'a'\npermissions = [{ action = 'x', resource = 'y' }]\n\
             [[roles]]\nname = 'b'\npermissions = [{ id = 'a/0', action = 'x', resource = 'y' }]"
        ),
        PolicyError::DuplicatePermission {
            id: "a/0".into(),
            first_role: "a".into(),
            second_role: "b".into()
        }
    );
    assert_eq!(
        invalid("[[roles]]\nname = ''"),
        PolicyError::EmptyName {
            entry: "roles[0].name".into()
        }
    );
    assert_eq!(
        invalid("[[users]]\nid = ''"),
        PolicyError::EmptyName {
            entry: "users[0].id".into()
        }
    );
}

#[test]
fn loader_malformed_text_is_a_typed_error() {
    for text in [
        "[[roles]",
        "roles = 3",
        "[[roles]]\nname = 'a'\ncolour = 'red'",
        "[[roles]]\nname = 'a'\npermissions = [{ action = 'x', resource = 'y', effect = 'maybe' }]",
        "[[roles]]\nparents = []",
        "\u{0}",
    ] {
        assert!(
            matches!(Policy::from_toml_str(text), Err(LoadPolicyError::Toml(_))),
            "{text:?}"
        );
    }
    for text in [
        "",
        "{",
        "null",
        "{\"roles\": [{\"name\": 1}]}",
        "{\"roles\": [], \"extra\": true}",
        "{\"users\": [{\"id\": \"u\", \"roles\": \"admin\"}]}",
    ] {
        assert!(
            matches!(Policy::from_json_str(text), Err(LoadPolicyError::Json(_))),
            "{text:?}"
        );
    }
}

#[test]
fn failed_reload_keeps_the_current_policy() {
    let a = Authorizer::new(policy_a(), None).unwrap();
    assert!(matches!(
        a.reload_from_str("[[roles]", PolicyFormat::Toml),
        Err(LoadPolicyError::Toml(_))
    ));
    assert!(matches!(
        a.reload_from_str(
            "{\"users\": [{\"id\": \"u\", \"roles\": [\"x\"]}]}",
            PolicyFormat::Json
        ),
        Err(LoadPolicyError::Invalid(PolicyError::UnknownRole { .. }))
    ));
    assert_eq!(d(&a, "u", "read", "x/1"), (ALLOW, "a".into()));
    a.reload_from_str(
        "[[roles]]\nname = 'r'\n[[users]]\nid = 'u'\nroles = ['r']",
        PolicyFormat::Toml,
    )
    .unwrap();
    assert_eq!(d(&a, "u", "read", "x/1"), (DENY, "".into()));
}

#[test]
fn one_audit_record_per_decision_with_the_deciding_rule() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let a = Authorizer::new(policy_b(), Some(tw.audit_log())).unwrap();
    let requests = [
        ("u", "read", "x/1", "allowed", "b-allow", ""),
        ("u", "read", "x/2", "denied", "b-deny", "deny-override"),
        ("u", "read", "y", "denied", "", "no-match"),
        ("nobody", "read", "x/1", "denied", "", "unknown-user"),
        ("u", "write", "x/9", "allowed", "b-write", ""),
    ];
    for (u, ac, r, ..) in requests {
        let _ = a.authorize_action(u, ac, r);
    }
    a.replace_policy(policy_a()).unwrap();
    assert!(a
        .replace_policy(Policy {
            roles: vec![Role::new("r").parent("r")],
            users: vec![]
        })
        .is_err());
    tw.flush().unwrap();
    let audits: Vec<_> = mem
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Audit {
                actor,
                action,
                resource,
                outcome,
                rule,
                detail,
                ..
            } => Some((actor, action, resource, outcome, rule, detail)),
            _ => None,
        })
        .collect();
    assert_eq!(audits.len(), requests.len() + 2);
    for (got, want) in audits.iter().zip(requests.iter()) {
        assert_eq!(
            (
                got.0.as_str(),
                got.1.as_str(),
                got.2.as_str(),
                got.3.as_str(),
                got.4.as_str(),
                got.5.as_str()
            ),
            *want
        );
    }
    let swap = &audits[requests.len()];
    assert_eq!(
        (swap.0.as_str(), swap.1.as_str(), swap.3.as_str()),
        ("authorizer", "replace_policy", "replaced")
    );
    let rejected = &audits[requests.len() + 1];
    assert_eq!(rejected.3, "rejected");
    assert!(rejected.5.contains("cycle"), "{}", rejected.5);
    tw.shutdown().unwrap();
}
