//! Arbitrary bytes as a TOML and as a JSON policy: loading must never panic (only typed
//! errors), and a policy that loads must answer requests without panicking.
#![no_main]

use tickwatch::security::authz::{Authorizer, Policy};

const REQUESTS: [(&str, &str, &str); 6] = [
    ("alice", "read", "orders/XNAS/42"),
    ("alice", "*", "a"),
    ("u", "x", ""),
    ("u", "", "a//b"),
    ("", "read", "/"),
    ("bob", "write", "a/b/c/d/e/f/g"),
];

fn exercise(policy: Policy) {
    // Requests built from the policy's own names hit its rules, not just the default.
    let mut requests: Vec<(String, String, String)> = REQUESTS
        .iter()
        .map(|(u, a, r)| ((*u).to_owned(), (*a).to_owned(), (*r).to_owned()))
        .collect();
    for user in policy.users.iter().take(4) {
        for role in &policy.roles {
            for p in role.permissions.iter().take(4) {
                let resource = p.resource.replace("**", "x/y").replace('*', "z");
                requests.push((user.id.clone(), p.action.clone(), resource));
            }
        }
    }
    let authz = match Authorizer::new(policy.clone(), None) {
        Ok(a) => a,
        Err(e) => panic!("validated policy refused: {e}"),
    };
    for (u, a, r) in requests.iter().take(64) {
        let result = authz.authorize_action(u, a, r);
        assert_eq!(
            result.is_allowed(),
            matches!(
                result.reason,
                tickwatch::security::authz::Reason::MatchedAllow { .. }
            )
        );
    }
    // A swap to the same policy succeeds too.
    authz.replace_policy(policy).unwrap();
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Policy::from_toml_str(text) {
        exercise(p);
    }
    if let Ok(p) = Policy::from_json_str(text) {
        exercise(p);
    }
});
