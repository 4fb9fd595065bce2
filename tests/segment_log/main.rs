//! The segment log from outside: every record kind written, sealed, reopened, queried and
//! decoded exactly; torn and corrupt segments; recovery; queries against a naive model.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tickwatch::sink::{MemorySink, Record, RecordKind};
use tickwatch::store::{
    Durability, Filter, LogQuery, LogReader, Order, QueryError, SegmentLog, VerifyProblem,
};
use tickwatch::{event, Audit, Backpressure, Event, FieldRef, Level, Telemetry};

mod damage;
mod headers_and_sequences;
mod queries;
mod retention;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("tw-seg-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bit-exact comparison (NaN equals NaN with the same bits).
fn same(a: &[Record], b: &[Record]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "twseg"))
        .collect();
    v.sort();
    v
}

/// Writes a mix of every record kind through an instance with both a memory sink and a
/// segment log; returns what the memory sink saw.
fn write_mix(dir: &Path, segment_bytes: u64) -> Vec<Record> {
    let mem = MemorySink::new();
    let log = SegmentLog::options(dir)
        .segment_bytes(segment_bytes)
        .open()
        .unwrap();
    let tw = Telemetry::builder()
        .sink(mem.clone())
        .segment_log(log)
        .ring_capacity(1 << 16)
        .start()
        .unwrap();
    let hostile = "quote\" back\\slash \u{0} nl\n tab\t \u{1F600} é";
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let tw = &tw;
            s.spawn(move || {
                for i in 0..400u64 {
                    tw.log_metric("px", i as f64 * 0.5, &[("venue", "XNAS"), ("k", hostile)]);
                    tw.log_metric("nan", f64::NAN, &[]);
                    tw.counter("fills", &[("desk", "a")]).add(i);
                    tw.measure_latency("rtt", Duration::from_nanos(100 + i));
                    tw.track_resource_usage("cpu", 0.25 + t as f64);
                    event!(
                        tw,
                        Level::Warn,
                        "order {} rejected at {:?}",
                        i,
                        hostile,
                        order_id = i,
                        px = -1.5f64,
                        neg = -(i as i64),
                        ok = i % 2 == 0,
                        venue = hostile,
                        parent = None::<u64>
                    );
                    tw.log_event(&Event {
                        level: Level::Info,
                        target: "risk::limits",
                        message: "dynamic message",
                        fields: &[
                            ("order_id", FieldRef::U64(i)),
                            ("why", FieldRef::Str(hostile)),
                        ],
                    });
                    if i % 50 == 0 {
                        tw.audit(&Audit {
                            actor: "alice",
                            action: "cancel",
                            resource: hostile,
                            outcome: "allowed",
                            rule: "rule-1",
                            detail: "",
                        });
                    }
                }
            });
        }
    });
    tw.flush().unwrap();
    drop(tw);
    mem.records()
}

/// The frame boundaries (end offsets) of a segment without its seal.
fn frame_ends(data: &[u8]) -> Vec<usize> {
    let mut at = 32;
    let mut ends = vec![at];
    while at + 8 <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
        ends.push(at);
    }
    ends
}

fn strip_seal(sealed: &[u8]) -> Vec<u8> {
    let n = sealed.len();
    let at = u64::from_le_bytes(sealed[n - 16..n - 8].try_into().unwrap()) as usize;
    sealed[..at].to_vec()
}

fn count_records(seg: &[u8], _dir: &Path, tag: &str) -> u64 {
    let d = TempDir::new(tag);
    std::fs::write(d.path().join("00000000000000000000.twseg"), seg).unwrap();
    LogReader::open(d.path()).unwrap().stats().unwrap().records
}

/// Copies the segment files of `from` into a fresh directory.
fn copy_log(from: &Path, tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    for p in segments(from) {
        std::fs::copy(&p, d.path().join(p.file_name().unwrap())).unwrap();
    }
    d
}
