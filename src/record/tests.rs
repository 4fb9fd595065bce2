//! Round trips of every record kind, edge values, and arbitrary bytes into the decoder.
use super::*;
use proptest::prelude::*;

fn encode_event(values: &[FieldRef<'_>], id: u32, ticks: u64, max: usize) -> Vec<u8> {
    let mut buf = vec![0u8; event_len(values, max)];
    let mut w = Writer::new(&mut buf);
    w.header(kind::EVENT, 0, values.len() as u16, id, ticks);
    for v in values {
        w.value(v, max);
    }
    w.finish();
    buf
}

fn encode_dyn(
    level: Level,
    msg: &str,
    target: &str,
    fields: &[(&str, FieldRef<'_>)],
    max: usize,
) -> Vec<u8> {
    let mut buf = vec![0u8; dyn_event_len(msg, target, fields, max)];
    let mut w = Writer::new(&mut buf);
    w.header(kind::DYN_EVENT, 0, level as u16, 0, 9);
    w.str(msg, max);
    w.str(target, max);
    w.u16(fields.len() as u16);
    for (n, v) in fields {
        w.str(n, max);
        w.value(v, max);
    }
    w.finish();
    buf
}

fn any_value() -> impl Strategy<Value = crate::Value> {
    use crate::Value;
    prop_oneof![
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        // Every bit pattern: NaNs with payloads, infinities, -0.0, subnormals.
        any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
        any::<bool>().prop_map(Value::Bool),
        ".{0,40}".prop_map(Value::Str),
    ]
}

fn same(a: &FieldRef<'_>, b: &FieldRef<'_>) -> bool {
    match (a, b) {
        (FieldRef::F64(x), FieldRef::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// The packed layout of these values (two bits of type per value), or `None` if one of them
/// is a string or `None`, or there are more than [`MAX_PACKED`]. Inlined where the values
/// are built, this folds to a constant.
fn packed_layout(args: &[FieldRef<'_>], fields: &[FieldRef<'_>]) -> Option<u16> {
    if args.len() + fields.len() > MAX_PACKED {
        return None;
    }
    let mut layout = 0u16;
    for (i, v) in args.iter().chain(fields).enumerate() {
        let code = match v {
            FieldRef::U64(_) => PACKED_U64,
            FieldRef::I64(_) => PACKED_I64,
            FieldRef::F64(_) => PACKED_F64,
            FieldRef::Bool(_) => PACKED_BOOL,
            FieldRef::Str(_) | FieldRef::None => return None,
        };
        layout |= code << (2 * i);
    }
    Some(layout)
}

/// A packed value's word.
fn packed_word(v: &FieldRef<'_>) -> u64 {
    match *v {
        FieldRef::U64(x) => x,
        FieldRef::I64(x) => x as u64,
        FieldRef::F64(x) => x.to_bits(),
        FieldRef::Bool(x) => x as u64,
        FieldRef::Str(_) | FieldRef::None => 0,
    }
}

/// Writes a packed static event into `buf`, which is exactly
/// `HEADER_LEN + 8 * (args.len() + fields.len())` bytes; `layout` is
/// [`packed_layout`]'s for these values.
fn encode_packed(
    buf: &mut [u8],
    callsite: u32,
    layout: u16,
    ticks: u64,
    args: &[FieldRef<'_>],
    fields: &[FieldRef<'_>],
    truncated: bool,
) {
    let head = packed_head(callsite, layout, args.len() + fields.len(), truncated);
    // The one bounds check: the header's two words; the values then fill the rest, word by
    // word, through `chunks_exact_mut` (no further checks).
    let (header, body) = buf.split_at_mut(HEADER_LEN);
    header[..8].copy_from_slice(&head.to_le_bytes());
    header[8..].copy_from_slice(&ticks.to_le_bytes());
    for (word, v) in body.chunks_exact_mut(8).zip(args.iter().chain(fields)) {
        word.copy_from_slice(&packed_word(v).to_le_bytes());
    }
}

fn any_packable() -> impl Strategy<Value = crate::Value> {
    use crate::Value;
    prop_oneof![
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn encode_packed_vec(
    args: &[FieldRef<'_>],
    fields: &[FieldRef<'_>],
    id: u32,
    ticks: u64,
) -> Vec<u8> {
    let layout = packed_layout(args, fields).expect("packable");
    let mut buf = vec![0u8; HEADER_LEN + 8 * (args.len() + fields.len())];
    encode_packed(&mut buf, id, layout, ticks, args, fields, false);
    buf
}

proptest! {
    /// Packed events decode to the same values as the tagged form, split between the
    /// message's arguments and the fields anywhere.
    #[test]
    fn packed_events_round_trip(
        values in prop::collection::vec(any_packable(), 0..=MAX_PACKED),
        split in 0usize..=MAX_PACKED, id: u32, ticks: u64,
    ) {
        let refs: Vec<FieldRef<'_>> = values.iter().map(|v| v.as_ref()).collect();
        let (args, fields) = refs.split_at(split.min(refs.len()));
        let buf = encode_packed_vec(args, fields, id, ticks);
        prop_assert_eq!(buf.len(), HEADER_LEN + 8 * refs.len());
        let Ok(Raw::Event { flags, callsite, ticks: t, fields: got }) = decode(&buf) else {
            return Err(TestCaseError::fail("not an event"));
        };
        prop_assert_eq!((callsite, t, got.len()), (id, ticks, refs.len()));
        prop_assert_eq!(flags & FLAG_TRUNCATED, 0);
        for ((name, g, cut), want) in got.zip(&refs) {
            prop_assert!(name.is_none() && !cut);
            prop_assert!(same(want, &g), "{:?} != {:?}", want, g);
        }
        // Every strict prefix is refused.
        for cut in 0..buf.len() {
            prop_assert!(decode(&buf[..cut]).is_err(), "prefix of {} bytes accepted", cut);
        }
    }

    /// A string, a `None` or a ninth value: not packable, the tagged form is used.
    #[test]
    fn only_numbers_and_bools_up_to_eight_pack(values in prop::collection::vec(any_value(), 0..12)) {
        let refs: Vec<FieldRef<'_>> = values.iter().map(|v| v.as_ref()).collect();
        let packable = refs.len() <= MAX_PACKED
            && refs.iter().all(|v| !matches!(v, FieldRef::Str(_) | FieldRef::None));
        prop_assert_eq!(packed_layout(&refs, &[]).is_some(), packable);
    }

    #[test]
    fn samples_round_trip(k in 1u8..=4, flags in 0u8..4, id: u32, ticks: u64, value: u64) {
        let mut buf = [0u8; SAMPLE_LEN];
        encode_sample(&mut buf, k, flags, id, ticks, value);
        prop_assert_eq!(decode(&buf), Ok(Raw::Sample { kind: k, flags, id, ticks, value }));
    }

    #[test]
    fn static_events_round_trip(values in prop::collection::vec(any_value(), 0..12), id: u32, ticks: u64, max in 0usize..64) {
        let refs: Vec<FieldRef<'_>> = values.iter().map(|v| v.as_ref()).collect();
        let buf = encode_event(&refs, id, ticks, max);
        let Ok(Raw::Event { flags, callsite, ticks: t, fields }) = decode(&buf) else {
            return Err(TestCaseError::fail("not an event"));
        };
        prop_assert_eq!((callsite, t, fields.len()), (id, ticks, refs.len()));
        let mut any_cut = false;
        for ((name, got, cut), want) in fields.zip(&refs) {
            prop_assert!(name.is_none());
            match (want, got) {
                (FieldRef::Str(w), FieldRef::Str(g)) => {
                    let (clipped, c) = clip(w, max);
                    prop_assert_eq!(g, clipped);
                    prop_assert_eq!(cut, c);
                    any_cut |= c;
                }
                _ => prop_assert!(same(want, &got), "{:?} != {:?}", want, got),
            }
        }
        prop_assert_eq!(flags & FLAG_TRUNCATED != 0, any_cut);
    }

    #[test]
    fn dynamic_events_round_trip(
        msg in ".{0,30}", target in "[a-z:]{0,20}",
        fields in prop::collection::vec(("[a-z_]{0,12}", any_value()), 0..8),
        lvl in 0u8..5,
    ) {
        let level = Level::from_u8(lvl).unwrap();
        let refs: Vec<(&str, FieldRef<'_>)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_ref())).collect();
        let buf = encode_dyn(level, &msg, &target, &refs, 1024);
        let Ok(Raw::DynEvent { level: l, message, target: t, fields: got, .. }) = decode(&buf) else {
            return Err(TestCaseError::fail("not a dynamic event"));
        };
        prop_assert_eq!((l, message, t), (level, msg.as_str(), target.as_str()));
        let got: Vec<_> = got.collect();
        prop_assert_eq!(got.len(), refs.len());
        for ((gn, gv, _), (wn, wv)) in got.iter().zip(&refs) {
            prop_assert_eq!(*gn, Some(*wn));
            prop_assert!(same(gv, wv));
        }
    }

    /// Arbitrary bytes never panic the decoder, and whatever it accepts re-walks cleanly.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(Raw::Event { fields, .. } | Raw::DynEvent { fields, .. }) = decode(&bytes) {
            prop_assert_eq!(fields.count(), fields.len());
        }
    }

    /// Every strict prefix of a valid record is refused.
    #[test]
    fn truncated_records_are_refused(values in prop::collection::vec(any_value(), 1..6)) {
        let refs: Vec<FieldRef<'_>> = values.iter().map(|v| v.as_ref()).collect();
        let buf = encode_event(&refs, 3, 4, 64);
        for cut in 0..buf.len() {
            prop_assert!(decode(&buf[..cut]).is_err());
        }
    }
}

proptest! {
    #[test]
    fn audit_round_trips(parts in prop::array::uniform6(".{0,24}"), max in 0usize..32) {
        let refs: [&str; 6] = std::array::from_fn(|i| parts[i].as_str());
        let mut buf = vec![0u8; audit_len(&refs, max)];
        let mut w = Writer::new(&mut buf);
        w.header(kind::AUDIT, 0, 0, 0, 11);
        for s in refs {
            w.str(s, max);
        }
        let cut = w.finish();
        let Ok(Raw::Audit { flags, ticks, parts: got }) = decode(&buf) else {
            return Err(TestCaseError::fail("not an audit record"));
        };
        prop_assert_eq!(ticks, 11);
        prop_assert_eq!(flags & FLAG_TRUNCATED != 0, cut);
        for (g, w) in got.iter().zip(refs) {
            prop_assert_eq!(*g, clip(w, max).0);
        }
    }
}

#[test]
fn packed_events_with_bad_types_or_counts_are_refused() {
    let vals = [FieldRef::U64(1), FieldRef::Bool(true)];
    let good = encode_packed_vec(&vals, &[], 7, 9);
    assert!(decode(&good).is_ok());
    // A bool word that is neither 0 nor 1.
    let mut bad = good.clone();
    bad[HEADER_LEN + 8] = 2;
    assert!(decode(&bad).is_err());
    // Types for a third value that is not there.
    let mut bad = good.clone();
    bad[2] |= 0b11 << 4;
    assert!(decode(&bad).is_err());
    // A count that disagrees with the body, either way.
    let mut bad = good.clone();
    bad[1] = FLAG_PACKED | 3 << 4;
    assert_eq!(decode(&bad), Err(DecodeError::Truncated));
    let mut bad = good;
    bad[1] = FLAG_PACKED | 1 << 4;
    assert_eq!(decode(&bad), Err(DecodeError::TrailingBytes));
    // Nine values are never packed; a header claiming more than eight is refused.
    let nine = [FieldRef::U64(0); 9];
    assert_eq!(packed_layout(&nine, &[]), None);
    let mut buf = vec![0u8; HEADER_LEN + 72];
    buf[0] = kind::EVENT;
    buf[1] = FLAG_PACKED | 9 << 4;
    assert!(decode(&buf).is_err());
}

#[test]
fn clip_respects_char_boundaries() {
    assert_eq!(clip("héllo", 2), ("h", true));
    assert_eq!(clip("héllo", 3), ("hé", true));
    assert_eq!(clip("abc", 3), ("abc", false));
    assert_eq!(clip("€", 0), ("", true));
}

#[test]
fn unknown_kind_and_trailing_bytes_are_refused() {
    let mut buf = [0u8; SAMPLE_LEN];
    encode_sample(&mut buf, kind::LATENCY, 0, 0, 5, 77);
    assert_eq!(
        decode(&buf),
        Ok(Raw::Sample {
            kind: kind::LATENCY,
            flags: 0,
            id: 0,
            ticks: 5,
            value: 77
        })
    );
    buf[0] = 99;
    assert_eq!(decode(&buf), Err(DecodeError::UnknownKind(99)));
    let mut long = buf.to_vec();
    long[0] = kind::METRIC;
    long.push(0);
    assert_eq!(decode(&long), Err(DecodeError::TrailingBytes));
}

proptest! {
    /// `audit_fit` gives the longest limit under which the record fits: it fits at that
    /// limit, and not at the next (unless the limit is already `max_str`).
    #[test]
    fn audit_fit_is_the_longest_limit_that_fits(
        parts in proptest::collection::vec("\\PC{0,300}", 6),
        max_str in 0usize..2048,
        budget in 28usize..2048,
    ) {
        let p: [&str; 6] = std::array::from_fn(|i| parts[i].as_str());
        let c = audit_fit(&p, max_str, budget);
        prop_assert!(c <= max_str);
        prop_assert!(audit_len(&p, c) <= budget, "limit {} len {}", c, audit_len(&p, c));
        if c < max_str {
            prop_assert!(audit_len(&p, c + 1) > budget);
        }
    }
}

/// The `tracing` layer's pre-encoded values are byte for byte what `Writer::value` writes,
/// strings cut at the limit included, and a full scratch never panics or grows.
#[cfg(feature = "tracing")]
#[test]
fn encoded_values_match_the_writer_and_a_full_scratch_only_truncates() {
    use crate::record::Encoded;
    let long = "é".repeat(40);
    let values = [
        FieldRef::U64(7),
        FieldRef::I64(-7),
        FieldRef::F64(f64::NAN),
        FieldRef::Bool(true),
        FieldRef::None,
        FieldRef::Str("XNAS"),
        FieldRef::Str(&long),
    ];
    let max = 33;
    let mut enc = Encoded::with_capacity(4096);
    for v in &values {
        enc.value(v, max);
    }
    let len = values_len(&values, max);
    let mut buf = vec![0u8; len];
    let mut w = Writer::new(&mut buf);
    for v in &values {
        w.value(v, max);
    }
    assert_eq!(enc.bytes(), &buf[..]);
    assert!(enc.truncated());

    let mut full = Encoded::with_capacity(0);
    let cap = 2 * Encoded::RESERVE;
    for _ in 0..10 {
        full.value(&FieldRef::Str(&"x".repeat(300)), 1024);
    }
    for i in 0..200 {
        full.value(&FieldRef::U64(i), 1024);
    }
    full.display(format_args!("{}", "abc"), 1024);
    assert!(full.truncated());
    assert!(full.bytes().len() <= cap);
}
