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
    // Said as frames that do not decrypt, not as checksum damage.
    assert!(res.undecryptable_frames > 0, "{res:?}");
    assert_eq!(res.corrupt_frames, 0);
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
    // It does not decrypt where it now is (reported as such, not as a bad checksum).
    assert!(
        v.problems
            .iter()
            .any(|p| matches!(p, VerifyProblem::Undecryptable(_, 1))),
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

/// Copies the segment files of `from` into a fresh directory.
fn copy_log(from: &Path, tag: &str) -> PathBuf {
    let d = temp_dir(tag);
    for p in segments(from) {
        std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
    }
    d
}

/// Issue 10, audit 3: the frame just before the footer dropped (the footer's authenticated
/// counter no longer follows), a middle segment deleted, two segment files swapped: each is
/// detected by `verify` and counted by readers.
#[test]
fn a_dropped_last_frame_a_deleted_segment_and_swapped_files_are_detected() {
    let src = temp_dir("enc-gaps");
    let ring = ring();
    let want = write(&src, &ring);
    let segs = segments(&src);
    assert!(segs.len() >= 3, "{segs:?}");
    let name = |i: usize| segs[i].file_name().unwrap().to_owned();
    let read = |d: &Path| {
        let r = LogReader::open(d).unwrap().key_ring(ring.clone());
        let (n, damage) = r.for_each_checked(|_, _| {}).unwrap();
        let q = r.query(&LogQuery::new().limit(usize::MAX)).unwrap();
        (n, damage, q, r.verify().unwrap())
    };
    let (n, damage, q, v) = read(&src);
    assert_eq!(n, want.len() as u64);
    assert!(damage.is_clean(), "{damage:?}");
    assert_eq!((q.sequence_gaps, q.undecryptable_frames), (0, 0));
    assert!(v.problems.is_empty(), "{v:?}");

    // The last frame before the footer cut out whole and the trailer fixed (the audit's edit).
    let d = copy_log(&src, "enc-droplast");
    let p = d.join(name(1));
    let clean = std::fs::read(&p).unwrap();
    let (a, b) = *frames(&clean).last().unwrap();
    let mut dropped = clean[..a].to_vec();
    dropped.extend_from_slice(&clean[b..]);
    fix_trailer(&mut dropped, b - a);
    std::fs::write(&p, &dropped).unwrap();
    let (n, damage, q, v) = read(&d);
    let lost = want.len() as u64 - n;
    assert!(lost > 0);
    assert_eq!(damage.sequence_gaps, 1, "{damage:?}");
    assert_eq!(damage.lost_records, lost, "{damage:?}");
    assert_eq!(q.sequence_gaps, 1);
    assert!(!v.ok());
    assert_eq!(
        v.problems,
        vec![
            VerifyProblem::RecordCount(p.clone(), v_footer(&v, &p), v_footer(&v, &p) - lost),
            VerifyProblem::FrameSequence(p.clone(), 1)
        ],
        "{v:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();

    // A middle segment deleted.
    let d = copy_log(&src, "enc-gap");
    std::fs::remove_file(d.join(name(1))).unwrap();
    let (_, damage, q, v) = read(&d);
    assert_eq!(damage.missing_segments, 1, "{damage:?}");
    assert_eq!(q.missing_segments, 1);
    assert_eq!(
        v.problems,
        vec![VerifyProblem::MissingSegments(0, 2)],
        "{v:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
    // The oldest deleted, as retention does: not a gap.
    let d = copy_log(&src, "enc-oldest");
    std::fs::remove_file(d.join(name(0))).unwrap();
    let (_, damage, _, v) = read(&d);
    assert!(damage.is_clean(), "{damage:?}");
    assert!(v.problems.is_empty(), "{v:?}");
    std::fs::remove_dir_all(&d).unwrap();

    // Two segment files swapped by name.
    let d = copy_log(&src, "enc-swap");
    let (x, y) = (d.join(name(1)), d.join(name(2)));
    let tmp = d.join("swap.tmp");
    std::fs::rename(&x, &tmp).unwrap();
    std::fs::rename(&y, &x).unwrap();
    std::fs::rename(&tmp, &y).unwrap();
    let (_, damage, q, v) = read(&d);
    assert_eq!(damage.misnamed_segments, 2, "{damage:?}");
    assert_eq!(q.misnamed_segments, 2);
    assert_eq!(
        v.problems,
        vec![
            VerifyProblem::WrongSequence(x.clone(), 2),
            VerifyProblem::WrongSequence(y.clone(), 1)
        ],
        "{v:?}"
    );
    // ... and a header edited to match its new name (a valid checksum) no longer decrypts.
    let mut data = std::fs::read(&x).unwrap();
    data[8..16].copy_from_slice(&1u64.to_le_bytes());
    let crc = crc32c::crc32c(&data[..28]);
    data[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&x, &data).unwrap();
    let (_, _, _, v) = read(&d);
    assert!(
        v.problems
            .iter()
            .any(|p| matches!(p, VerifyProblem::Undecryptable(q, _) if q == &x)),
        "{v:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();

    // The wrong key ring: said as such, not as checksum damage.
    let other = self::ring();
    let r = LogReader::open(&src).unwrap().key_ring(other);
    let (n, damage) = r.for_each_checked(|_, _| {}).unwrap();
    assert_eq!(n, 0);
    assert!(damage.undecryptable_frames > 0, "{damage:?}");
    assert_eq!(damage.corrupt_frames, 0, "{damage:?}");
    let v = r.verify().unwrap();
    assert!(v
        .problems
        .iter()
        .all(|p| matches!(p, VerifyProblem::Undecryptable(_, _))));
    assert_eq!(v.problems.len(), segs.len(), "{v:?}");
    std::fs::remove_dir_all(&src).unwrap();
}

/// The record count a `RecordCount` problem of `p` gives for its footer.
fn v_footer(v: &tickwatch::store::Verify, p: &Path) -> u64 {
    v.problems
        .iter()
        .find_map(|x| match x {
            VerifyProblem::RecordCount(q, f, _) if q == p => Some(*f),
            _ => None,
        })
        .unwrap_or(0)
}
