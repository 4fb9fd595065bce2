//! Encryption at rest: a segment log sealed under a key ring reads back exactly with the ring,
//! not at all without it, and a frame moved, dropped or reordered is detected.

#[path = "common/temp.rs"]
mod temp;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use temp::temp_dir;

use tickwatch::security::crypto::{KeyRing, SecretKey};
use tickwatch::sink::{MemorySink, Record};
use tickwatch::store::{LogQuery, LogReader, OpenError, QueryError, SegmentLog, VerifyProblem};
use tickwatch::{event, Level, Telemetry};

fn ring() -> Arc<KeyRing> {
    Arc::new(
        KeyRing::builder()
            .key("log-1", SecretKey::generate().unwrap())
            .build()
            .unwrap(),
    )
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Writes 300 events and 300 samples, a batch per 50 (several segments); returns what a
/// memory sink saw.
fn write(dir: &Path, ring: &Arc<KeyRing>) -> Vec<Record> {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .sink(mem.clone())
        .segment_log(
            SegmentLog::options(dir)
                .segment_bytes(8 * 1024)
                .encrypt(ring.clone())
                .open()
                .unwrap(),
        )
        .resource_sampling(None)
        .start()
        .unwrap();
    for i in 0..300u64 {
        event!(
            tw,
            Level::Warn,
            "order {} rejected",
            i,
            order_id = i,
            secret = "acct-7781"
        );
        tw.measure_latency("rtt", std::time::Duration::from_nanos(100 + i));
        if i % 50 == 49 {
            tw.flush().unwrap();
        }
    }
    // A query on the live instance opens the sealed frames with the log's ring.
    let live = tw.query_logs(&"order_id=42".parse().unwrap()).unwrap();
    assert_eq!(live.records.len(), 1);
    drop(tw);
    mem.records()
}

#[test]
fn a_sealed_log_reads_back_exactly_with_its_ring_and_not_without() {
    let dir = temp_dir("enc-roundtrip");
    let ring = ring();
    let want = write(&dir, &ring);
    assert!(segments(&dir).len() >= 2);
    // Nothing of the records is in the clear.
    for p in segments(&dir) {
        let bytes = std::fs::read(&p).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"acct-7781"), "{p:?}");
        assert!(!bytes.windows(8).any(|w| w == b"rejected"), "{p:?}");
    }
    let r = LogReader::open(&dir).unwrap().key_ring(ring.clone());
    let mut got = Vec::new();
    r.for_each(|rec, _| got.push(rec.clone())).unwrap();
    assert_eq!(format!("{got:?}"), format!("{want:?}"));
    let v = r.verify().unwrap();
    assert!(v.ok(), "{v:?}");
    let res = r
        .query(&"order_id>=290 level=warn".parse().unwrap())
        .unwrap();
    assert_eq!(res.records.len(), 10);
    // Time-range queries read through the (sealed) footers and index.
    let first = got[0].timestamp();
    let res = r
        .query(&LogQuery::new().since(first).until(got[10].timestamp()))
        .unwrap();
    assert_eq!(res.records.len(), 10);

    // Without the ring: a typed error, and verify says why it could not look inside.
    let plain = LogReader::open(&dir).unwrap();
    assert!(matches!(
        plain.query(&LogQuery::new()),
        Err(QueryError::NeedsKeyRing(_))
    ));
    assert!(plain
        .verify()
        .unwrap()
        .problems
        .iter()
        .any(|p| matches!(p, VerifyProblem::Encrypted(_))));
    // With another ring: nothing decrypts, nothing comes back.
    let other = LogReader::open(&dir).unwrap().key_ring(self::ring());
    let res = other.query(&LogQuery::new()).unwrap();
    assert!(res.records.is_empty());
    assert!(res.corrupt_frames > 0 || res.segments_read == 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Frame boundaries of a segment, after its header and up to its footer.
fn frames(data: &[u8]) -> Vec<(usize, usize)> {
    let n = data.len();
    let footer_at = u64::from_le_bytes(data[n - 16..n - 8].try_into().unwrap()) as usize;
    let mut at = 32;
    let mut out = Vec::new();
    while at < footer_at {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, at + 8 + len));
        at += 8 + len;
    }
    out
}

#[test]
fn a_frame_dropped_reordered_or_moved_is_detected() {
    let dir = temp_dir("enc-tamper");
    let ring = ring();
    write(&dir, &ring);
    let segs = segments(&dir);
    let clean = std::fs::read(&segs[0]).unwrap();
    let fr = frames(&clean);
    assert!(fr.len() >= 4);
    let verify = || {
        LogReader::open(&dir)
            .unwrap()
            .key_ring(ring.clone())
            .verify()
            .unwrap()
    };
    // Dropped: the third frame cut out whole (every checksum still holds).
    let (a, b) = fr[2];
    let mut dropped = clean[..a].to_vec();
    dropped.extend_from_slice(&clean[b..]);
    fix_trailer(&mut dropped, b - a);
    std::fs::write(&segs[0], &dropped).unwrap();
    let v = verify();
    assert!(
        v.problems
            .iter()
            .any(|p| matches!(p, VerifyProblem::FrameSequence(_, _))),
        "dropped: {v:?}"
    );
    // Reordered: frames 2 and 3 swapped.
    let (a2, b2) = fr[2];
    let (_, b3) = fr[3];
    let mut swapped = clean[..a2].to_vec();
    swapped.extend_from_slice(&clean[b2..b3]);
    swapped.extend_from_slice(&clean[a2..b2]);
    swapped.extend_from_slice(&clean[b3..]);
    std::fs::write(&segs[0], &swapped).unwrap();
    let v = verify();
    assert!(!v.ok(), "reordered: {v:?}");
    // Moved: a frame of the second segment put in place of the first's.
    let second = std::fs::read(&segs[1]).unwrap();
    let (c, d) = frames(&second)[2];
    let mut moved = clean[..a2].to_vec();
    moved.extend_from_slice(&second[c..d]);
    moved.extend_from_slice(&clean[b2..]);
    fix_trailer(&mut moved, 0);
    let shift = (d - c) as i64 - (b2 - a2) as i64;
    let n = moved.len();
    let at = u64::from_le_bytes(moved[n - 16..n - 8].try_into().unwrap()) as i64 + shift;
    moved[n - 16..n - 8].copy_from_slice(&(at as u64).to_le_bytes());
    std::fs::write(&segs[0], &moved).unwrap();
    let v = verify();
    assert!(
        v.problems
            .iter()
            .any(|p| matches!(p, VerifyProblem::CorruptFrame(_, _))),
        "moved: {v:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Moves the trailer's footer offset back by `removed` bytes.
fn fix_trailer(data: &mut [u8], removed: usize) {
    let n = data.len();
    let at = u64::from_le_bytes(data[n - 16..n - 8].try_into().unwrap()) - removed as u64;
    data[n - 16..n - 8].copy_from_slice(&at.to_le_bytes());
}

#[test]
fn recovery_of_a_sealed_log_needs_its_ring_and_cuts_a_torn_tail() {
    let dir = temp_dir("enc-recover");
    let ring = ring();
    let want = write(&dir, &ring);
    let newest = segments(&dir).pop().unwrap();
    let data = std::fs::read(&newest).unwrap();
    let n = data.len();
    let footer_at = u64::from_le_bytes(data[n - 16..n - 8].try_into().unwrap()) as usize;
    std::fs::write(&newest, &data[..footer_at - 3]).unwrap();
    // The wrong ring: nothing is cut, the open is refused.
    let before = std::fs::read(&newest).unwrap();
    let e = SegmentLog::options(&dir)
        .encrypt(self::ring())
        .open()
        .unwrap_err();
    assert!(matches!(e, OpenError::Encrypted(_)), "{e}");
    let e = SegmentLog::options(&dir).open().unwrap_err();
    assert!(matches!(e, OpenError::Encrypted(_)), "{e}");
    assert_eq!(std::fs::read(&newest).unwrap(), before);
    // The right ring: the torn frame is cut, the segment sealed again.
    let log = SegmentLog::options(&dir)
        .encrypt(ring.clone())
        .open()
        .unwrap();
    let rep = log.recovery().clone();
    drop(log);
    assert_eq!(rep.recovered_segments, 1);
    assert!(rep.bytes_cut > 0);
    let r = LogReader::open(&dir).unwrap().key_ring(ring);
    assert!(r.verify().unwrap().ok());
    let mut got = Vec::new();
    r.for_each(|rec, _| got.push(rec.clone())).unwrap();
    assert!(got.len() < want.len() && !got.is_empty());
    assert_eq!(format!("{got:?}"), format!("{:?}", &want[..got.len()]));
    std::fs::remove_dir_all(&dir).unwrap();
}
