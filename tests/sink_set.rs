//! `sink::SinkSet` and `sink::SinkSpec` driven by a real instance: batch-boundary changes,
//! flush-then-close, failing members, a change racing a recording thread, a JSON-lines sink
//! built from its spec. (Integration tests: the sink module sits below `Telemetry`.)

#[path = "common/temp.rs"]
mod temp;
use temp::temp_dir;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwatch::sink::{
    Batch, MemorySink, Record, Sink, SinkError, SinkNotice, SinkSet, SinkSetChange, SinkSpec,
};
use tickwatch::Telemetry;

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, entry: String) {
    log.lock().unwrap().push(entry);
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// Logs every call as `<name>.<call>`, its drop included; a name starting with
/// `broken` fails every call and reports itself degraded.
struct Probe(&'static str, Log);

impl Probe {
    fn note(&self, call: &str) -> Result<(), SinkError> {
        push(&self.1, format!("{}.{call}", self.0));
        match self.0.starts_with("broken") {
            true => Err(SinkError::new(format!("{} is broken", self.0))),
            false => Ok(()),
        }
    }
}

impl Sink for Probe {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        self.note("write")
    }
    fn end_pass(&mut self) -> Result<(), SinkError> {
        self.note("end_pass")
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.note("flush")
    }
    fn tick(&mut self) -> Result<(), SinkError> {
        self.note("tick")
    }
    fn take_notice(&mut self) -> Option<SinkNotice> {
        let message = "down".to_owned();
        self.0.starts_with("broken").then_some(SinkNotice {
            degraded: true,
            message,
        })
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        push(&self.1, format!("{}.drop", self.0));
    }
}

/// Probes, each a member under its own name.
fn probes(log: &Log, names: &[&'static str]) -> Vec<(String, Box<dyn Sink>)> {
    let probe = |n: &'static str| (n.to_owned(), Box::new(Probe(n, log.clone())) as _);
    names.iter().map(|&n| probe(n)).collect()
}

fn replace(old: &str, new: &str, sink: impl Sink) -> SinkSetChange {
    SinkSetChange::default().removing(old).adding(new, sink)
}

/// An instance writing to `set` (Miri runs the whole collector slowly: no flush timeout).
fn start(set: SinkSet) -> Telemetry {
    let flush_timeout = Duration::from_secs(if cfg!(miri) { 3600 } else { 10 });
    let builder = Telemetry::builder().flush_timeout(flush_timeout);
    builder.sink(set).start().unwrap()
}

/// The values of the metric records called `name`, in delivery order.
fn values(mem: &MemorySink, name: &str) -> Vec<u64> {
    let records = mem.records();
    let named = records.iter().filter_map(|r| match r {
        Record::Metric { name: n, value, .. } if n == name => Some(*value as u64),
        _ => None,
    });
    named.collect()
}

#[test]
fn records_before_a_change_reach_the_removed_member_and_after_it_the_added_one() {
    let (a, b) = (MemorySink::new(), MemorySink::new());
    let (set, handle) = SinkSet::new(vec![("a".into(), Box::new(a.clone()))]);
    let tw = start(set);
    tw.log_metric("x", 1.0, &[]);
    tw.flush().unwrap();
    let generation = handle.change(replace("a", "b", b.clone()));
    tw.log_metric("x", 2.0, &[]);
    tw.log_metric("x", 3.0, &[]);
    tw.flush().unwrap();
    assert_eq!((values(&a, "x"), values(&b, "x")), (vec![1], vec![2, 3]));
    assert!(handle.wait_applied(generation, Duration::ZERO));
    assert_eq!(handle.members(), ["b"]);
    assert_eq!(tw.stats().sink_errors, 0);
}

#[test]
fn a_removed_or_replaced_member_is_flushed_then_dropped() {
    let log = Log::default();
    let (mut set, handle) = SinkSet::new(probes(&log, &["a", "b"]));
    set.tick().unwrap();
    assert_eq!(taken(&log), ["a.tick", "b.tick"]);
    handle.change(SinkSetChange::default().removing("a").removing("nobody"));
    set.tick().unwrap();
    assert_eq!(taken(&log), ["a.flush", "a.drop", "b.tick"]);
    assert_eq!(handle.unknown_removals(), 1);
    // Adding a name present replaces its member: flushed, dropped, then appended.
    let mut add = probes(&log, &["c", "b2"]);
    add[1].0 = "b".into();
    let change = SinkSetChange {
        add,
        ..SinkSetChange::default()
    };
    handle.change(change);
    set.end_pass().unwrap();
    let log_now = taken(&log);
    assert_eq!(log_now, ["b.flush", "b.drop", "c.end_pass", "b2.end_pass"]);
    assert_eq!(handle.members(), ["c", "b"]);
    drop(set);
    assert_eq!(taken(&log), ["c.drop", "b2.drop"]);
}

#[test]
fn a_failing_member_does_not_stop_the_others_and_the_error_names_it() {
    let log = Log::default();
    let (set, handle) = SinkSet::new(probes(&log, &["first", "broken", "last"]));
    let mut set = set.named("outputs");
    assert_eq!(set.name(), "outputs");
    for call in ["flush", "tick", "end_pass"] {
        let r = match call {
            "flush" => set.flush(),
            "tick" => set.tick(),
            _ => set.end_pass(),
        };
        let e = r.expect_err(call).to_string();
        let want = format!("outputs: member \"broken\" failed in {call}: broken is broken");
        assert!(e.ends_with(&want), "{e}");
        let calls = ["first", "broken", "last"].map(|m| format!("{m}.{call}"));
        assert_eq!(taken(&log), calls);
    }
    let notice = set.take_notice().expect("the broken member's notice");
    assert!(
        notice.degraded && notice.message == "broken: down",
        "{notice:?}"
    );
    // Removing it: its failed flush is the applying call's error; then the set is healthy.
    handle.change(SinkSetChange::default().removing("broken"));
    let e = set.tick().expect_err("the removed member's flush failed");
    assert!(e
        .to_string()
        .contains("\"broken\" failed in flush before removal"));
    let log_now = taken(&log);
    assert_eq!(
        log_now,
        ["broken.flush", "broken.drop", "first.tick", "last.tick"]
    );
    let notice = set.take_notice().expect("the degraded member is gone");
    assert!(!notice.degraded, "{notice:?}");
    set.flush().unwrap();
    assert_eq!(set.take_notice(), None);
}

#[test]
fn a_change_while_a_thread_records_loses_and_duplicates_nothing() {
    let some: usize = if cfg!(miri) { 5 } else { 1_000 };
    let (a, b) = (MemorySink::new(), MemorySink::new());
    let (set, handle) = SinkSet::new(vec![("a".into(), Box::new(a.clone()))]);
    let tw = Arc::new(start(set));
    let written = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (tw, written, stop) = (tw.clone(), written.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Relaxed) {
                tw.log_metric("seq", n as f64, &[]);
                n += 1;
                written.store(n, Relaxed);
                if n % 16 == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            n as u64
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let wait_for = |done: &dyn Fn() -> bool| {
        while !done() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for(&|| a.len() >= some);
    let generation = handle.change(replace("a", "b", b.clone()));
    assert!(handle.wait_applied(generation, Duration::from_secs(30)));
    let after = written.load(Relaxed);
    wait_for(&|| written.load(Relaxed) >= after + some && b.len() >= some);
    stop.store(true, Relaxed);
    let n = producer.join().unwrap();
    tw.flush().unwrap();
    let (in_a, in_b) = (values(&a, "seq"), values(&b, "seq"));
    assert!(!in_a.is_empty() && !in_b.is_empty());
    // One thread: its records arrive in order, so a's then b's are 0..n, each once.
    let all: Vec<u64> = in_a.iter().chain(&in_b).copied().collect();
    assert!(
        all.iter().copied().eq(0..n),
        "a {}, b {}",
        in_a.len(),
        in_b.len()
    );
    assert_eq!(tw.stats().dropped, 0);
}

#[test]
fn generations_count_up_and_apply_in_order() {
    let log = Log::default();
    let (mut set, handle) = SinkSet::new(probes(&log, &["a"]));
    assert_eq!((handle.applied(), handle.members()), (0, vec!["a".into()]));
    assert!(handle.wait_applied(0, Duration::ZERO));
    let change = replace("x", "b", MemorySink::new());
    let shown = r#"SinkSetChange { remove: ["x"], add: ["b"] }"#;
    assert_eq!(format!("{change:?}"), shown);
    assert_eq!(handle.change(change), 1);
    assert_eq!(handle.change(SinkSetChange::default().removing("a")), 2);
    assert_eq!(handle.change(replace("y", "c", MemorySink::new())), 3);
    assert_eq!(
        handle.applied(),
        0,
        "nothing applies before the set's next call"
    );
    assert!(!handle.wait_applied(1, Duration::from_millis(5)));
    assert_eq!(handle.members(), ["a"]);
    set.flush().unwrap();
    assert_eq!(
        (handle.applied(), handle.members()),
        (3, vec!["b".into(), "c".into()])
    );
    assert!(handle.wait_applied(3, Duration::ZERO));
    // A waiter on another thread wakes when the collector applies its change.
    let waiter = {
        let handle = handle.clone();
        std::thread::spawn(move || handle.wait_applied(4, Duration::from_secs(30)))
    };
    assert_eq!(handle.change(SinkSetChange::default().removing("b")), 4);
    set.tick().unwrap();
    assert!(waiter.join().unwrap());
    assert!(
        format!("{handle:?}").contains("generation: 4"),
        "{handle:?}"
    );
    // Once the set is gone, a change is never applied and nobody waits for it.
    drop(set);
    assert_eq!(handle.change(SinkSetChange::default().removing("c")), 5);
    assert!(!handle.wait_applied(5, Duration::from_secs(30)));
    assert_eq!((handle.applied(), handle.members()), (4, vec!["c".into()]));
    assert_eq!(handle.unknown_removals(), 2);
}

#[test]
fn build_appends_json_lines_to_the_file() {
    let tmp = temp_dir("sink-spec");
    let path = tmp.join("out.jsonl");
    std::fs::write(&path, "{\"before\":true}\n").unwrap();
    let spec = SinkSpec::JsonLines {
        path: path.clone(),
        name: None,
        samples: true,
    };
    let tw = Telemetry::builder()
        .boxed_sink(spec.build().unwrap())
        .start()
        .unwrap();
    tw.log_metric("spread", 0.5, &[]);
    tw.counter("orders", &[]).add(2);
    tw.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "{\"before\":true}", "appended, not truncated");
    assert!(
        lines.iter().any(|l| l.contains("\"name\":\"spread\"")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.contains("\"delta\":2")), "{text}");
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
    tw.shutdown().unwrap();
    std::fs::remove_dir_all(&tmp).ok();
}
