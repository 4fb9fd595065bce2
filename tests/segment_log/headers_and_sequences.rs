//! Damaged headers, files left by a crash during creation, dropped last frames, missing and swapped segments, a damaged dictionary frame.

use super::*;

/// Issue 10, audit 1: a flipped bit in a segment's 32-byte header used to make recovery
/// delete the whole segment. Every bit of the header of a sealed segment, and of an
/// unsealed one (as a crash leaves the active segment), is flipped in turn and the log
/// opened: no file is removed, every record is still read back, and the damage is reported.
#[test]
fn a_damaged_header_never_costs_a_segment() {
    let src = TempDir::new("hdr-src");
    let want = write_mix(src.path(), 64 * 1024);
    let segs = segments(src.path());
    assert!(segs.len() >= 3, "{segs:?}");
    // The newest segment made unsealed (a crash before its seal).
    let last = segs.last().unwrap();
    let unsealed = strip_seal(&std::fs::read(last).unwrap());
    std::fs::write(last, &unsealed).unwrap();
    for (which, victim) in [(1usize, "sealed"), (segs.len() - 1, "active")] {
        for bit in 0..32 * 8 {
            let d = copy_log(src.path(), "hdr");
            let path = d.path().join(segs[which].file_name().unwrap());
            let mut data = std::fs::read(&path).unwrap();
            data[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &data).unwrap();
            let log = SegmentLog::options(d.path()).open().unwrap();
            let rep = log.recovery().clone();
            drop(log);
            let ctx = format!("{victim} segment, bit {bit}: {rep:?}");
            assert!(rep.removed.is_empty(), "{ctx}");
            assert_eq!(rep.damaged_headers, vec![path.clone()], "{ctx}");
            assert_eq!(rep.records, want.len() as u64, "{ctx}");
            // The damaged file is left exactly as it was.
            assert_eq!(std::fs::read(&path).unwrap(), data, "{ctx}");
            for p in &segs {
                assert!(d.path().join(p.file_name().unwrap()).exists(), "{ctx}");
            }
            let r = LogReader::open(d.path()).unwrap();
            let v = r.verify().unwrap();
            assert_eq!(
                v.problems,
                vec![VerifyProblem::BadHeader(path.clone())],
                "{ctx}"
            );
            assert_eq!(v.records, want.len() as u64, "{ctx}");
            if bit % 16 != 0 {
                // The full read-back (slow in a debug build) for every 16th bit only.
                continue;
            }
            let mut got = Vec::new();
            let (n, damage) = r.for_each_checked(|rec, _| got.push(rec.clone())).unwrap();
            assert_eq!(n, want.len() as u64, "{ctx}");
            assert!(same(&got, &want), "{ctx}");
            assert_eq!(damage.damaged_headers, 1, "{ctx}: {damage:?}");
            assert_eq!(damage.corrupt_frames, 0, "{ctx}: {damage:?}");
            assert_eq!(damage.lost_records, 0, "{ctx}: {damage:?}");
            let s = r.stats().unwrap();
            assert_eq!(s.records, want.len() as u64, "{ctx}");
            let q = r.query(&LogQuery::new().limit(usize::MAX)).unwrap();
            assert_eq!(q.records.len(), want.len(), "{ctx}");
            assert_eq!(q.damaged_headers, 1, "{ctx}");
        }
    }
}

/// A file that cannot hold a frame (shorter than a header, or a header-sized file whose
/// header is not valid: a crash while a segment was being created) is still removed.
#[test]
fn a_file_left_by_a_crash_during_creation_is_still_removed() {
    let d = TempDir::new("hdr-create");
    let want = write_mix(d.path(), 64 * 1024);
    let segs = segments(d.path());
    let next = segs.len() as u64;
    let short = d.path().join(format!("{next:020}.twseg"));
    let sized = d.path().join(format!("{:020}.twseg", next + 1));
    std::fs::write(&short, b"TWSEG\0\x01\0\x05").unwrap();
    std::fs::write(&sized, [0x5Au8; 32]).unwrap();
    let log = SegmentLog::options(d.path()).open().unwrap();
    let rep = log.recovery().clone();
    drop(log);
    assert_eq!(rep.removed, vec![short.clone(), sized.clone()]);
    assert_eq!(rep.bytes_cut, 9 + 32);
    assert!(rep.damaged_headers.is_empty());
    assert_eq!(rep.records, want.len() as u64);
    assert!(!short.exists() && !sized.exists());
    for p in &segs {
        assert!(p.exists());
    }
}

/// Issue 10, audit 3, unencrypted: a records frame dropped just before the footer, a middle
/// segment deleted, two segment files swapped: checksums cannot resist a forger, but these
/// accidents are reported, by `verify` and by every read.
#[test]
fn a_dropped_last_frame_a_missing_segment_and_swapped_files_are_reported() {
    let src = TempDir::new("plain-gaps");
    let want = write_mix(src.path(), 64 * 1024);
    let segs = segments(src.path());
    assert!(segs.len() >= 4, "{segs:?}");
    let name = |i: usize| segs[i].file_name().unwrap().to_owned();
    let read_all = |d: &Path| {
        let r = LogReader::open(d).unwrap();
        let (n, damage) = r.for_each_checked(|_, _| {}).unwrap();
        (n, damage, r.verify().unwrap())
    };
    // A whole log: nothing to report.
    let (n, damage, v) = read_all(src.path());
    assert_eq!(n, want.len() as u64);
    assert!(damage.is_clean(), "{damage:?}");
    assert!(v.ok() && v.problems.is_empty(), "{v:?}");

    // The last frame before the footer cut out whole, the trailer fixed: every checksum holds.
    let d = copy_log(src.path(), "plain-drop");
    let p = d.path().join(name(1));
    let data = std::fs::read(&p).unwrap();
    let n_all = data.len();
    let footer_at = u64::from_le_bytes(data[n_all - 16..n_all - 8].try_into().unwrap()) as usize;
    let ends = frame_ends(&data[..footer_at]);
    let last_start = ends[ends.len() - 2];
    assert_eq!(ends[ends.len() - 1], footer_at);
    let mut cut = data[..last_start].to_vec();
    cut.extend_from_slice(&data[footer_at..]);
    let k = cut.len();
    cut[k - 16..k - 8].copy_from_slice(&(last_start as u64).to_le_bytes());
    std::fs::write(&p, &cut).unwrap();
    let (n, damage, v) = read_all(d.path());
    let lost = want.len() as u64 - n;
    assert!(lost > 0);
    assert_eq!(damage.lost_records, lost, "{damage:?}");
    assert_eq!(damage.corrupt_frames, 0, "{damage:?}");
    assert!(!v.ok());
    assert_eq!(v.problems.len(), 1, "{v:?}");
    assert!(
        matches!(&v.problems[0], VerifyProblem::RecordCount(q, f, got) if q == &p && f - got == lost),
        "{v:?}"
    );

    // A middle segment deleted.
    let d = copy_log(src.path(), "plain-gap");
    std::fs::remove_file(d.path().join(name(2))).unwrap();
    let (_, damage, v) = read_all(d.path());
    assert_eq!(damage.missing_segments, 1, "{damage:?}");
    assert_eq!(
        v.problems,
        vec![VerifyProblem::MissingSegments(1, 3)],
        "{v:?}"
    );
    let q = LogReader::open(d.path())
        .unwrap()
        .query(&LogQuery::new().limit(usize::MAX))
        .unwrap();
    assert_eq!(q.missing_segments, 1);
    // ... but not the oldest, as retention does.
    let d = copy_log(src.path(), "plain-oldest");
    std::fs::remove_file(d.path().join(name(0))).unwrap();
    let (_, damage, v) = read_all(d.path());
    assert!(damage.is_clean(), "{damage:?}");
    assert!(v.ok() && v.problems.is_empty(), "{v:?}");

    // Two segment files swapped.
    let d = copy_log(src.path(), "plain-swap");
    let (a, b) = (d.path().join(name(1)), d.path().join(name(2)));
    let tmp = d.path().join("swap.tmp");
    std::fs::rename(&a, &tmp).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    let (n, damage, v) = read_all(d.path());
    assert_eq!(n, want.len() as u64);
    assert_eq!(damage.misnamed_segments, 2, "{damage:?}");
    assert_eq!(
        v.problems,
        vec![
            VerifyProblem::WrongSequence(a.clone(), 2),
            VerifyProblem::WrongSequence(b.clone(), 1)
        ],
        "{v:?}"
    );
}

/// A definition is written twice per segment: one damaged copy costs nothing (the other is
/// read), both damaged cost exactly the records that need them, counted and never returned
/// wrong.
#[test]
fn a_damaged_dictionary_frame_is_accounted_for_record_by_record() {
    let dir = TempDir::new("dict");
    let want = write_mix(dir.path(), 1 << 30);
    let seg = segments(dir.path()).pop().unwrap();
    let clean = std::fs::read(&seg).unwrap();
    let ends = frame_ends(&strip_seal(&clean));
    let frame = |i: usize| &clean[ends[i]..ends[i + 1]];
    let first = (0..ends.len() - 1)
        .find(|&i| clean[ends[i] + 8] == 2)
        .expect("a call-site frame");
    let copy = (first + 1..ends.len() - 1)
        .find(|&j| frame(j) == frame(first))
        .expect("its second copy");
    let want_dbg: std::collections::HashSet<String> =
        want.iter().map(|r| format!("{r:?}")).collect();
    let read = |data: &[u8]| {
        std::fs::write(&seg, data).unwrap();
        let r = LogReader::open(dir.path()).unwrap();
        let (n, damage) = r
            .for_each_checked(|rec, _| assert!(want_dbg.contains(&format!("{rec:?}"))))
            .unwrap();
        (want.len() as u64 - n, damage, r.verify().unwrap())
    };

    let mut one = clean.clone();
    one[ends[first] + 12] ^= 0x01;
    let (lost, damage, v) = read(&one);
    assert_eq!(lost, 0, "{damage:?}");
    assert_eq!(damage.corrupt_frames, 1, "{damage:?}");
    assert_eq!(
        (damage.undecodable, damage.lost_records),
        (0, 0),
        "{damage:?}"
    );
    assert_eq!(
        v.problems,
        vec![VerifyProblem::CorruptFrame(seg.clone(), ends[first] as u64)]
    );

    let mut both = one;
    both[ends[copy] + 12] ^= 0x01;
    let (lost, damage, v) = read(&both);
    assert!(lost > 0);
    assert_eq!(damage.corrupt_frames, 2, "{damage:?}");
    assert_eq!(damage.undecodable, lost, "{damage:?}");
    assert_eq!(damage.lost_records, lost, "{damage:?}");
    assert_eq!(
        v.problems,
        vec![
            VerifyProblem::CorruptFrame(seg.clone(), ends[first] as u64),
            VerifyProblem::CorruptFrame(seg.clone(), ends[copy] as u64),
            VerifyProblem::Undecodable(seg.clone(), lost)
        ]
    );
}
