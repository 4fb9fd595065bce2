//! The alert manager: deduplication, token-bucket rate limits, the active cap, resolve and
//! auto-resolve, all on an injected clock.

use std::sync::Arc;
use std::time::Duration;
use tickwatch::alerts::*;
use tickwatch::Timestamp;

fn setup(config: AlertsConfig) -> (Arc<ManualClock>, Alerts) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_nanos(
        1_000_000_000_000,
    )));
    let alerts = Alerts::new(config, clock.clone());
    (clock, alerts)
}

fn unlimited() -> AlertsConfig {
    AlertsConfig {
        per_name: None,
        global: None,
        ..AlertsConfig::default()
    }
}

fn stale(venue: &str) -> Alert {
    Alert::new("feed_stale", Severity::Critical, "no ticks").label("venue", venue)
}

fn accepted(r: AlertResponse) -> AlertId {
    match r {
        AlertResponse::Accepted { id } => id,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

#[test]
fn dedup_grows_the_count_and_notifies_once() {
    let (_, a) = setup(unlimited());
    let id = accepted(a.send_alert(stale("XNAS").label("desk", "eq")));
    // Same name and labels, in another order: the same alert.
    let again = Alert::new("feed_stale", Severity::Critical, "still no ticks")
        .label("desk", "eq")
        .label("venue", "XNAS");
    assert_eq!(
        a.send_alert(again.clone()),
        AlertResponse::Deduplicated { id, count: 2 }
    );
    assert_eq!(
        a.send_alert(again),
        AlertResponse::Deduplicated { id, count: 3 }
    );
    let notes = a.drain_notifications();
    assert_eq!(notes.len(), 1, "one notification for three sends");
    assert_eq!(notes[0].transition, Transition::Firing);
    assert_eq!(notes[0].id, id);
    assert_eq!(notes[0].source, AlertSource::Manual);
    assert_eq!(
        notes[0].labels,
        vec![
            ("desk".into(), "eq".into()),
            ("venue".into(), "XNAS".into())
        ]
    );
    let active = a.active();
    assert_eq!(active.len(), 1);
    assert_eq!(
        (active[0].count, active[0].message.as_str()),
        (3, "no ticks")
    );
    let s = a.stats();
    assert_eq!((s.accepted, s.deduplicated, s.active), (1, 2, 1));
    assert!(a.drain_notifications().is_empty());
}

#[test]
fn other_labels_are_another_alert() {
    let (_, a) = setup(unlimited());
    let x = accepted(a.send_alert(stale("XNAS")));
    let y = accepted(a.send_alert(stale("XLON")));
    assert_ne!(x, y);
    assert_eq!(a.drain_notifications().len(), 2);
}

#[test]
fn resolve_notifies_and_ends_dedup() {
    let (clock, a) = setup(unlimited());
    let id = accepted(a.send_alert(stale("XNAS")));
    clock.advance(Duration::from_secs(7));
    assert_eq!(a.resolve("feed_stale", &[("venue", "XLON")]), None);
    assert_eq!(a.resolve("feed_stale", &[("venue", "XNAS")]), Some(id));
    assert_eq!(a.resolve("feed_stale", &[("venue", "XNAS")]), None, "once");
    let notes = a.drain_notifications();
    assert_eq!(notes.len(), 2);
    let r = &notes[1];
    assert_eq!((r.transition, r.id), (Transition::Resolved, id));
    assert_eq!(
        r.ends_at.unwrap().unix_nanos() - r.starts_at.unix_nanos(),
        7_000_000_000
    );
    assert!(a.active().is_empty());
    let id2 = accepted(a.send_alert(stale("XNAS")));
    assert_ne!(id2, id, "a new occurrence gets a new id");
}

#[test]
fn per_name_rate_limit_refuses_then_recovers_with_time() {
    let (clock, a) = setup(AlertsConfig {
        per_name: Some(RateLimit::new(2, Duration::from_secs(10))),
        global: None,
        ..AlertsConfig::default()
    });
    accepted(a.send_alert(stale("A")));
    accepted(a.send_alert(stale("B")));
    // Deduplicated sends cost no token.
    assert!(matches!(
        a.send_alert(stale("A")),
        AlertResponse::Deduplicated { .. }
    ));
    assert_eq!(
        a.send_alert(stale("C")),
        AlertResponse::RateLimited {
            retry_after: Duration::from_secs(10)
        }
    );
    // Another name has its own bucket.
    accepted(a.send_alert(Alert::new("disk_full", Severity::Warning, "")));
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        a.send_alert(stale("C")),
        AlertResponse::RateLimited {
            retry_after: Duration::from_secs(6)
        }
    );
    clock.advance(Duration::from_secs(6));
    accepted(a.send_alert(stale("C")));
    assert!(
        matches!(a.send_alert(stale("D")), AlertResponse::RateLimited { .. }),
        "one token per 10 s"
    );
    let s = a.stats();
    assert_eq!((s.accepted, s.rate_limited), (4, 3));
    assert_eq!(
        a.drain_notifications().len(),
        4,
        "refused sends notify nothing"
    );
}

#[test]
fn global_rate_limit_spans_names_and_refills_to_burst_only() {
    let (clock, a) = setup(AlertsConfig {
        per_name: None,
        global: Some(RateLimit::new(3, Duration::from_secs(1))),
        ..AlertsConfig::default()
    });
    for name in ["a", "b", "c"] {
        accepted(a.send_alert(Alert::new(name, Severity::Info, "")));
    }
    assert!(matches!(
        a.send_alert(Alert::new("d", Severity::Info, "")),
        AlertResponse::RateLimited { .. }
    ));
    // An hour of quiet earns a full bucket, not 3,600 tokens.
    clock.advance(Duration::from_secs(3600));
    for name in ["d", "e", "f"] {
        accepted(a.send_alert(Alert::new(name, Severity::Info, "")));
    }
    assert!(matches!(
        a.send_alert(Alert::new("g", Severity::Info, "")),
        AlertResponse::RateLimited { .. }
    ));
}

#[test]
fn per_name_buckets_are_bounded() {
    let (clock, a) = setup(AlertsConfig {
        per_name: Some(RateLimit::new(1, Duration::from_secs(10))),
        global: None,
        max_rate_limited_names: 2,
        ..AlertsConfig::default()
    });
    accepted(a.send_alert(Alert::new("a", Severity::Info, "")));
    accepted(a.send_alert(Alert::new("b", Severity::Info, "")));
    // Two buckets, both still refilling: a third name is limited rather than tracked.
    assert!(matches!(
        a.send_alert(Alert::new("c", Severity::Info, "")),
        AlertResponse::RateLimited { .. }
    ));
    clock.advance(Duration::from_secs(10));
    // Both refilled: forgotten losslessly, so the new name gets a bucket.
    accepted(a.send_alert(Alert::new("c", Severity::Info, "")));
}

#[test]
fn the_active_cap_refuses_and_counts() {
    let (_, a) = setup(AlertsConfig {
        max_active: 2,
        ..unlimited()
    });
    accepted(a.send_alert(stale("A")));
    accepted(a.send_alert(stale("B")));
    assert_eq!(
        a.send_alert(stale("C")),
        AlertResponse::Refused {
            reason: Refusal::TooManyActive { cap: 2 }
        }
    );
    // Dedup into an existing alert still works at the cap.
    assert!(matches!(
        a.send_alert(stale("A")),
        AlertResponse::Deduplicated { .. }
    ));
    assert_eq!(a.stats().refused, 1);
    let _ = a.resolve("feed_stale", &[("venue", "A")]);
    accepted(a.send_alert(stale("C")));
}

#[test]
fn auto_resolve_after_silence() {
    let (clock, a) = setup(AlertsConfig {
        auto_resolve: Some(Duration::from_secs(60)),
        ..unlimited()
    });
    let id = accepted(a.send_alert(stale("A")));
    clock.advance(Duration::from_secs(50));
    assert!(
        matches!(a.send_alert(stale("A")), AlertResponse::Deduplicated { .. }),
        "refreshes"
    );
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        a.drain_notifications().len(),
        1,
        "still active 59 s after the last send"
    );
    clock.advance(Duration::from_secs(1));
    let notes = a.drain_notifications();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].transition, notes[0].id),
        (Transition::Resolved, id)
    );
    assert!(a.active().is_empty());
    assert_eq!(a.stats().resolved, 1);
}

#[test]
fn a_send_after_the_timeout_but_before_the_sweep_starts_a_new_alert() {
    let (clock, a) = setup(AlertsConfig {
        auto_resolve: Some(Duration::from_secs(60)),
        ..unlimited()
    });
    let id = accepted(a.send_alert(stale("A")));
    clock.advance(Duration::from_secs(61));
    let id2 = accepted(a.send_alert(stale("A")));
    assert_ne!(id, id2);
    let t: Vec<_> = a
        .drain_notifications()
        .iter()
        .map(|n| (n.transition, n.id))
        .collect();
    assert_eq!(
        t,
        vec![
            (Transition::Firing, id),
            (Transition::Resolved, id),
            (Transition::Firing, id2)
        ]
    );
}

#[test]
fn bad_alerts_are_refused_not_panicked_on() {
    let (_, a) = setup(unlimited());
    let r = |alert| match a.send_alert(alert) {
        AlertResponse::Refused { reason } => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(r(Alert::new("", Severity::Info, "")), Refusal::BadName);
    assert_eq!(
        r(Alert::new("x".repeat(257), Severity::Info, "")),
        Refusal::BadName
    );
    assert_eq!(
        r(Alert::new("a", Severity::Info, "").label("", "v")),
        Refusal::BadLabel { key: String::new() }
    );
    assert!(matches!(
        r(Alert::new("a", Severity::Info, "").label("k", "v".repeat(300))),
        Refusal::BadLabel { .. }
    ));
    let mut many = Alert::new("a", Severity::Info, "");
    for i in 0..33 {
        many = many.label(format!("k{i}"), "v");
    }
    assert_eq!(r(many), Refusal::TooManyLabels { count: 33 });
    assert_eq!(a.stats().refused, 5);
    // A long multi-byte message is cut at a character boundary, not refused.
    accepted(a.send_alert(Alert::new("a", Severity::Info, "é".repeat(5000))));
    assert_eq!(a.active()[0].message.len(), MAX_MESSAGE_LEN);
}

#[test]
fn a_full_outbox_refuses_new_alerts() {
    let (_, a) = setup(AlertsConfig {
        outbox_capacity: 1,
        ..unlimited()
    });
    accepted(a.send_alert(stale("A")));
    assert_eq!(
        a.send_alert(stale("B")),
        AlertResponse::Refused {
            reason: Refusal::OutboxFull { capacity: 1 }
        }
    );
    // The resolve of A cannot be queued either: dropped and counted, A still resolves.
    assert!(a.resolve("feed_stale", &[("venue", "A")]).is_some());
    assert_eq!(a.stats().notifications_dropped, 1);
    assert_eq!(a.drain_notifications().len(), 1);
    accepted(a.send_alert(stale("B")));
}

#[test]
fn concurrent_senders_see_one_acceptance() {
    let (_, a) = setup(unlimited());
    let accepted_count = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    if matches!(a.send_alert(stale("A")), AlertResponse::Accepted { .. }) {
                        accepted_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(accepted_count.into_inner(), 1);
    assert_eq!(a.active()[0].count, 400);
    assert_eq!(a.drain_notifications().len(), 1);
}

#[test]
fn responses_and_active_alerts_serialize() {
    let (_, a) = setup(unlimited());
    let r = a.send_alert(stale("A"));
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.starts_with(r#"{"outcome":"accepted","id":"#), "{json}");
    let json = serde_json::to_string(&a.active()).unwrap();
    assert!(
        json.contains(r#""severity":"critical""#) && json.contains(r#""source":"manual""#),
        "{json}"
    );
}
