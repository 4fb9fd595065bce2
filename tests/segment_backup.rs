//! Backup while four threads write: the copy opens, verifies, and holds an exact prefix of
//! every thread's records; a changed byte fails `verify_backup` and `tickwatch-log
//! verify-backup`.

#[path = "common/temp.rs"]
mod temp;
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use temp::temp_dir;

use tickwatch::sink::Record;
use tickwatch::store::{backup, verify_backup, BackupError, LogReader, SegmentLog};
use tickwatch::{event, Telemetry, Value};

#[test]
fn a_backup_taken_under_four_writers_holds_a_prefix_of_each_and_verifies() {
    let base = temp_dir("backup-live");
    let src = base.join("log");
    let tw = Telemetry::builder()
        .segment_log(
            SegmentLog::options(&src)
                .segment_bytes(16 * 1024)
                .open()
                .unwrap(),
        )
        .resource_sampling(None)
        .start()
        .unwrap();
    let stop = AtomicBool::new(false);
    let mut copies = Vec::new();
    std::thread::scope(|s| {
        for w in 0..4u64 {
            let (tw, stop) = (&tw, &stop);
            s.spawn(move || {
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    event!(tw, tickwatch::Level::Info, "tick", writer = w, seq = seq);
                    seq += 1;
                    if seq.is_multiple_of(200) {
                        std::thread::yield_now();
                    }
                }
            });
        }
        for i in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(30));
            let dest = base.join(format!("copy-{i}"));
            backup(&src, &dest).unwrap();
            copies.push(dest);
        }
        stop.store(true, Ordering::Relaxed);
    });
    drop(tw);
    let mut sizes = Vec::new();
    for dest in &copies {
        assert!(verify_backup(dest).unwrap().is_empty(), "{dest:?}");
        let r = LogReader::open(dest).unwrap();
        assert!(r.verify().unwrap().ok());
        let mut next: HashMap<u64, u64> = HashMap::new();
        let mut n = 0;
        r.for_each(|rec, _| {
            let Record::Event { fields, .. } = rec else {
                return;
            };
            let (Value::U64(w), Value::U64(seq)) = (&fields[0].1, &fields[1].1) else {
                panic!("{fields:?}")
            };
            let want = next.entry(*w).or_insert(0);
            assert_eq!(*seq, *want, "writer {w}: the copy is not a prefix");
            *want += 1;
            n += 1;
        })
        .unwrap();
        sizes.push(n);
        // Restoring is opening the copy: its active segment is sealed, nothing is lost.
        let log = SegmentLog::options(dest).open().unwrap();
        assert_eq!(log.recovery().records, n);
        assert_eq!(log.recovery().bytes_cut, 0);
    }
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    assert!(sizes[0] > 0);

    // A changed byte is found, by the library and by the command. (On a fresh copy: opening
    // a copy above sealed its active segment, which its manifest then no longer matches.)
    let fresh = base.join("copy-tamper");
    backup(&src, &fresh).unwrap();
    assert!(verify_backup(&fresh).unwrap().is_empty());
    let dest = &fresh;
    let seg = std::fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "twseg"))
        .unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    data[40] ^= 1;
    std::fs::write(&seg, &data).unwrap();
    assert_eq!(verify_backup(dest).unwrap().len(), 1);
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-log"))
        .args(["verify-backup", dest.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let ok = Command::new(env!("CARGO_BIN_EXE_tickwatch-log"))
        .args([
            "backup",
            src.to_str().unwrap(),
            base.join("cli").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ok = Command::new(env!("CARGO_BIN_EXE_tickwatch-log"))
        .args(["verify-backup", base.join("cli").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(ok.status.success());
    // A destination that is not empty is refused.
    assert!(matches!(
        backup(&src, dest),
        Err(BackupError::DestinationNotEmpty(_))
    ));
    std::fs::remove_dir_all(&base).unwrap();
}
