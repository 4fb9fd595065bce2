use super::filter::{check_target, covers, Filters};
use super::TargetFilterError;
use crate::logging::Level;

#[test]
fn a_target_covers_itself_and_its_submodules_only() {
    assert!(covers("engine", "engine"));
    assert!(covers("engine", "engine::risk"));
    assert!(covers("engine::risk", "engine::risk::limits"));
    assert!(!covers("engine", "engine2"));
    assert!(!covers("engine", "engin"));
    assert!(!covers("engine::risk", "engine"));
}

#[test]
fn the_longest_target_rule_wins_and_the_default_covers_the_rest() {
    let mut f = Filters::default();
    f.default = Level::Info;
    f.set_target("engine".into(), Level::Warn);
    f.set_target("engine::risk".into(), Level::Debug);
    assert_eq!(f.level_for("engine::book"), Level::Warn);
    assert_eq!(f.level_for("engine::risk::limits"), Level::Debug);
    assert_eq!(f.level_for("gateway"), Level::Info);
    assert!(f.admits("engine::risk", Level::Debug));
    assert!(!f.admits("engine::book", Level::Info));
    assert_eq!(f.lowest(), Level::Debug);
    // Setting a rule again replaces it.
    f.set_target("engine::risk".into(), Level::Error);
    assert_eq!(f.level_for("engine::risk"), Level::Error);
    assert_eq!(f.lowest(), Level::Info);
}

#[test]
fn spans_are_timed_by_name_or_target() {
    let mut f = Filters::default();
    f.span_latency.push("order_roundtrip".into());
    f.span_latency.push("engine::risk".into());
    assert!(f.times_span("order_roundtrip", "gateway"));
    assert!(f.times_span("check", "engine::risk::limits"));
    assert!(!f.times_span("check", "engine::book"));
}

#[test]
fn targets_that_are_not_module_paths_are_refused_with_the_fix() {
    assert_eq!(check_target(String::new()), Err(TargetFilterError::Empty));
    let e = check_target("engine=warn".into()).unwrap_err();
    assert!(
        e.to_string().contains(".target(\"engine\", Level::Warn)"),
        "{e}"
    );
    assert!(check_target("engine risk".into()).is_err());
    assert_eq!(
        check_target("engine::risk".into()).as_deref(),
        Ok("engine::risk")
    );
}
