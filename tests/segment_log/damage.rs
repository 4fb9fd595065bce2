//! Torn tails cut at every offset, flipped bits, a corrupt frame in a sealed segment.

use super::*;

/// The newest segment's last frames, cut at every byte: recovery keeps exactly the whole
/// frames before the cut, never a corrupt record, and counts the bytes it cut.
#[test]
fn a_torn_tail_is_cut_at_the_last_whole_frame_at_every_offset() {
    let dir = TempDir::new("torn");
    {
        let log = SegmentLog::options(dir.path()).open().unwrap();
        let tw = Telemetry::builder().segment_log(log).start().unwrap();
        for i in 0..40u64 {
            event!(tw, Level::Info, "tick", seq = i);
            tw.flush().unwrap(); // one batch, one frame each
        }
        drop(tw);
    }
    let seg = segments(dir.path()).pop().unwrap();
    let sealed = std::fs::read(&seg).unwrap();
    // Strip the footer and trailer: what a crash before the seal leaves.
    let full = strip_seal(&sealed);
    let all = count_records(&full, dir.path(), "all");
    assert_eq!(all, 40);
    let frames = frame_ends(&full);
    // The header's end, a thread frame and a call-site frame (each written twice), one
    // records frame per event.
    assert_eq!(frames.len(), 1 + 2 * 2 + 40);
    let last3_start = frames[frames.len() - 4];
    for cut in last3_start..full.len() {
        let d = TempDir::new("cut");
        let p = d.path().join(seg.file_name().unwrap());
        std::fs::write(&p, &full[..cut]).unwrap();
        let whole = frames.iter().filter(|&&e| e <= cut).count();
        let rep = SegmentLog::options(d.path())
            .open()
            .unwrap()
            .recovery()
            .clone();
        let kept_end = *frames.iter().rfind(|&&e| e <= cut).unwrap();
        assert_eq!(rep.bytes_cut as usize, cut - kept_end, "cut at {cut}");
        let r = LogReader::open(d.path()).unwrap();
        let mut seqs = Vec::new();
        r.for_each(|rec, _| {
            if let Record::Event { fields, .. } = rec {
                seqs.push(fields[0].1.clone());
            }
        })
        .unwrap();
        // Frames: the header's end, two definitions twice, then one records frame per event.
        let want = whole - 5;
        assert_eq!(seqs.len(), want, "cut at {cut}");
        for (i, s) in seqs.iter().enumerate() {
            assert_eq!(*s, tickwatch::Value::U64(i as u64));
        }
        assert!(r.verify().unwrap().ok());
    }
}

/// Bits flipped anywhere: nothing panics, nothing corrupt comes back, and a sealed
/// segment's damage costs only the frames it hit.
#[test]
fn flipped_bits_never_yield_a_corrupt_record() {
    let dir = TempDir::new("flip");
    let want = write_mix(dir.path(), 1 << 30);
    let seg = segments(dir.path()).pop().unwrap();
    let clean = std::fs::read(&seg).unwrap();
    let mut rng = 0x9E3779B97F4A7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let want_dbg: std::collections::HashSet<String> =
        want.iter().map(|r| format!("{r:?}")).collect();
    for round in 0..30 {
        let mut bad = clean.clone();
        for _ in 0..(1 + round % 4) {
            let i = (next() as usize) % bad.len();
            bad[i] ^= 1 << (next() % 8);
        }
        let d = TempDir::new("flipped");
        std::fs::write(d.path().join(seg.file_name().unwrap()), &bad).unwrap();
        let r = LogReader::open(d.path()).unwrap();
        let v = r.verify().unwrap();
        let mut n = 0;
        r.for_each(|rec, _| {
            n += 1;
            assert!(
                want_dbg.contains(&format!("{rec:?}")),
                "round {round}: {rec:?}"
            );
        })
        .unwrap();
        if bad != clean {
            assert!(n <= want.len());
        }
        let _ = v;
        let q = r.query(&LogQuery::new().limit(usize::MAX)).unwrap();
        assert!(q.records.len() as u64 <= want.len() as u64);
        // Recovery (what a restart does) keeps the file, whatever was hit, and what is read
        // after it is still never a corrupt record.
        let log = SegmentLog::options(d.path()).open().unwrap();
        let rep = log.recovery().clone();
        drop(log);
        assert!(rep.removed.is_empty(), "round {round}: {rep:?}");
        assert!(d.path().join(seg.file_name().unwrap()).exists());
        let after = LogReader::open(d.path())
            .unwrap()
            .for_each(|rec, _| {
                assert!(
                    want_dbg.contains(&format!("{rec:?}")),
                    "round {round}, after recovery: {rec:?}"
                );
            })
            .unwrap();
        assert!(after <= want.len() as u64);
    }
}

#[test]
fn verify_reports_a_corrupt_frame_in_a_sealed_segment_and_keeps_what_follows() {
    let dir = TempDir::new("verify");
    let want = write_mix(dir.path(), 1 << 30);
    let seg = segments(dir.path()).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let ends = frame_ends(&strip_seal(&data));
    // Damage the body of a records frame (type 4) in the middle: the frame at the middle
    // offset may be a definition, whose second copy would make the damage cost nothing.
    let records: Vec<usize> = ends[..ends.len() - 1]
        .iter()
        .copied()
        .filter(|&at| data[at + 8] == 4)
        .collect();
    let mid = records[records.len() / 2];
    data[mid + 20] ^= 0xFF;
    std::fs::write(&seg, &data).unwrap();
    let r = LogReader::open(dir.path()).unwrap();
    let v = r.verify().unwrap();
    assert!(!v.ok());
    assert!(matches!(v.problems[0], VerifyProblem::CorruptFrame(_, at) if at as usize == mid));
    let q = r.query(&LogQuery::new().limit(usize::MAX)).unwrap();
    assert_eq!(q.corrupt_frames, 1);
    assert!(q.records.len() < want.len());
    assert!(
        q.records.len() > want.len() / 2,
        "records after the damage are kept"
    );
}
