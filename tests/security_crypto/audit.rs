//! Audit records.

use super::*;

#[test]
fn every_ring_operation_leaves_exactly_one_audit_record() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let ring = KeyRing::builder()
        .audit(tw.audit_log())
        .key("a", key(1))
        .use_budget(1)
        .build()
        .unwrap(); // create
    ring.add_key("b", key(2)).unwrap(); // add
    ring.rotate_to("c", key(3)).unwrap(); // rotate
    let _ = ring.rotate().unwrap(); // rotate
    ring.activate("c").unwrap(); // activate
    ring.retire("a").unwrap(); // retire
    assert!(ring.retire("a").is_err()); // retire (unknown_key)
    ring.encrypt_data(b"x").unwrap(); // not audited
    assert!(ring.encrypt_data(b"x").is_err()); // exhausted (refused)
    assert!(ring.encrypt_data(b"x").is_err()); // exhausted again: not audited twice
    let e = ring.encrypt_data_with(b"x", "b").unwrap();
    ring.decrypt_data(&e).unwrap(); // not audited
    assert!(KeyRing::builder()
        .audit(tw.audit_log())
        .key("bad id", key(1))
        .build()
        .is_err()); // create (error)
    let auto = KeyRing::builder()
        .audit(tw.audit_log())
        .key("z", key(1))
        .use_budget(1)
        .on_exhaustion(Exhaustion::Rotate)
        .build()
        .unwrap(); // create
    auto.encrypt_data(b"1").unwrap();
    auto.encrypt_data(b"2").unwrap(); // auto_rotate
    tw.flush().unwrap();
    let audits: Vec<(String, String, String)> = mem
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Audit {
                actor,
                action,
                resource,
                outcome,
                ..
            } => {
                assert_eq!(actor, "keyring");
                Some((action, resource, outcome))
            }
            _ => None,
        })
        .collect();
    let actions: Vec<(&str, &str)> = audits
        .iter()
        .map(|(a, _, o)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("create", "ok"),
            ("add", "ok"),
            ("rotate", "ok"),
            ("rotate", "ok"),
            ("activate", "ok"),
            ("retire", "ok"),
            ("retire", "unknown_key"),
            ("exhausted", "refused"),
            ("create", "error"),
            ("create", "ok"),
            ("auto_rotate", "ok"),
        ]
    );
    assert_eq!(audits[0].1, "a");
    assert_eq!(audits[2].1, "c");
    assert_eq!(audits[7].1, "c");
    tw.shutdown().unwrap();
}
