use proptest::prelude::*;

use super::footer::{Footer, FooterBuilder};
use super::format::{self, frame, FrameAt};
use super::query::{CmpOp, Cursor, Filter, LogQuery, Order, Position, QueryError};
use super::recovery::rebuild;
use super::segment::{walk, Dictionary, Walk};
use crate::logging::Level;
use crate::sink::RecordKind;

fn parse(s: &str) -> LogQuery {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn parse_err(s: &str) -> (usize, String) {
    match s.parse::<LogQuery>() {
        Err(QueryError::Parse { at, token, .. }) => (at, token),
        other => panic!("{s}: {other:?}"),
    }
}

#[test]
fn the_text_form_reads_into_the_same_query_as_the_builder() {
    let q = parse(r#"level>=warn target=risk order_id=42 "rejected" limit=10 order=newest"#);
    let want = LogQuery::new()
        .min_level(Level::Warn)
        .target("risk")
        .message("rejected")
        .filter(Filter::eq("order_id", 42))
        .limit(10)
        .order(Order::NewestFirst);
    assert_eq!(q, want);
    let q = parse("level=error (px>1.5 OR NOT venue=XNAS) qty=* kind=event,latency series=rtt");
    assert_eq!(
        (q.min_level, q.max_level),
        (Some(Level::Error), Some(Level::Error))
    );
    assert_eq!(q.kinds, [RecordKind::Event, RecordKind::Latency]);
    assert_eq!(q.series.as_deref(), Some("rtt"));
    assert_eq!(
        q.filter,
        Some(Filter::And(vec![
            Filter::Or(vec![
                Filter::Cmp("px".into(), CmpOp::Gt, 1.5),
                Filter::Not(Box::new(Filter::Eq("venue".into(), "XNAS".into()))),
            ]),
            Filter::Has("qty".into()),
        ]))
    );
    let q = parse(r#"a=1 OR b!="two words" OR c<=-3"#);
    assert_eq!(
        q.filter,
        Some(Filter::Or(vec![
            Filter::Eq("a".into(), "1".into()),
            Filter::Ne("b".into(), "two words".into()),
            Filter::Cmp("c".into(), CmpOp::Le, -3.0),
        ]))
    );
    assert_eq!(parse("level<info").max_level, Some(Level::Debug));
    assert_eq!(parse("level>info").min_level, Some(Level::Warn));
    assert_eq!(parse("").filter, None);
    let t = parse("since=2026-12-04T10:00:00Z until=5m");
    assert_eq!(
        t.since,
        Some("2026-12-04T10:00:00Z".parse::<crate::Timestamp>().unwrap())
    );
    assert!(t.until.is_some());
    let c = Cursor(Position {
        ts: 7,
        seq: 1,
        offset: 99,
        index: 3,
    });
    assert_eq!(parse(&format!("cursor={c}")).cursor, Some(c));
}

#[test]
fn errors_point_at_the_offending_token() {
    // A bad value: the error points at the value, not at its term.
    assert_eq!(parse_err("level>=loud"), (7, "loud".into()));
    assert_eq!(parse_err("a=1 level>=loud").0, 11);
    assert_eq!(parse_err("a=1 px>high"), (7, "high".into()));
    assert_eq!(parse_err("order_id>abc"), (9, "abc".into()));
    assert_eq!(parse_err("kind=event,nope").0, 5);
    // `==` is not an operator: refused, not read as the value "=1".
    assert_eq!(parse_err("a==1"), (2, "=1".into()));
    assert_eq!(parse_err("a=>1").0, 2);
    // A duration with a space is quoted; unquoted, its second part is a stray word.
    assert!(parse(r#"since="2h 30m""#).since.is_some());
    assert_eq!(parse_err("since=2h 30m"), (9, "30m".into()));
    assert_eq!(parse_err("a=1 (b=2"), (4, "(".into()));
    assert_eq!(parse_err("a=1 )").0, 4);
    assert_eq!(parse_err("a=1 \"open").0, 4);
    assert_eq!(parse_err("a=1 OR level=warn").0, 7, "options not under OR");
    assert_eq!(
        parse_err("level=warn a=1 OR b=2").0,
        15,
        "options before an OR"
    );
    assert_eq!(parse_err("NOT (since=5m)").0, 5);
    assert_eq!(parse_err("a=1 bare").1, "bare");
    assert_eq!(parse_err("a=1 $").1, "$");
    assert_eq!(parse_err("limit=many"), (6, "many".into()));
    assert_eq!(
        parse_err("limit>5").0,
        0,
        "a wrong operator points at the term"
    );
    assert!(matches!(
        "cursor=zz".parse::<LogQuery>(),
        Err(QueryError::BadCursor(_))
    ));
    let text = "a=1 px>high".parse::<LogQuery>().unwrap_err().to_string();
    assert!(
        text.contains("at byte 7") && text.contains("high"),
        "{text}"
    );
}

proptest! {
    #[test]
    fn any_text_parses_or_is_refused_with_a_position(text in "\\PC{0,60}|[a-z_=<>!*() \"0-9.-]{0,60}|(level|target|since|kind|NOT|OR|AND|[a-z]=[0-9]|\\(|\\)| )*") {
        match text.parse::<LogQuery>() {
            Ok(_) => {}
            Err(QueryError::Parse { at, .. }) => prop_assert!(at <= text.len()),
            Err(QueryError::BadCursor(_)) => {}
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn cursors_round_trip_through_text(ts: u64, seq: u64, offset: u64, index: u32) {
        let c = Cursor(Position { ts, seq, offset, index });
        prop_assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
    }

    /// Arbitrary bytes after a valid header: both walks and recovery stop or step over
    /// damage without panicking, and recovery's footer reads back.
    #[test]
    fn arbitrary_segment_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut data = format::header(3, 0, 0).to_vec();
        data.extend_from_slice(&body);
        for mode in [Walk::StopAtDamage, Walk::SkipDamage] {
            let mut dict = Dictionary::default();
            let end = walk(&data, format::HEADER_LEN, data.len(), mode, |_, _, ty, payload| {
                if ty == frame::RECORDS {
                    let _ = super::segment::frame_records(payload, &dict, |_, v| {
                        let _ = v.to_record();
                    });
                } else {
                    let _ = dict.add(ty, payload);
                }
            });
            prop_assert!(end.good_end <= data.len());
        }
        let super::recovery::Rebuilt { footer, good_end: end, .. } = rebuild(&data, None);
        prop_assert!(end <= data.len());
        let mut out = Vec::new();
        footer.encode(&mut out, end as u64);
        match format::frame_at(&out, 0) {
            FrameAt::Frame { payload, .. } => prop_assert_eq!(Footer::decode(payload).unwrap(), footer),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// Random frames with random payloads, back to back: the walk visits exactly them.
    #[test]
    fn whole_frames_are_all_visited(payloads in proptest::collection::vec((1u8..=5, proptest::collection::vec(any::<u8>(), 0..100)), 0..20)) {
        let mut data = format::header(0, 0, 0).to_vec();
        for (ty, p) in &payloads {
            let at = format::begin_frame(&mut data, *ty);
            data.extend_from_slice(p);
            format::end_frame(&mut data, at);
        }
        let mut seen = Vec::new();
        let end = walk(&data, format::HEADER_LEN, data.len(), Walk::StopAtDamage, |_, _, ty, p| seen.push((ty, p.to_vec())));
        prop_assert_eq!(end.good_end, data.len());
        prop_assert_eq!(seen, payloads);
    }
}

#[test]
fn a_footer_survives_its_encoding_and_the_builder_indexes_every_frame() {
    let mut b = FooterBuilder::new();
    let mut data = format::header(0, 0, 0).to_vec();
    for i in 0..200u32 {
        let at = format::begin_frame(&mut data, frame::RECORDS);
        let mut head = [0u8; format::RECORDS_HEAD_LEN];
        format::RecordsHead {
            thread: 0,
            count: 3,
            first: u64::from(i) * 10,
            last: u64::from(i) * 10 + 5,
            levels: 1 << (i % 5),
            kinds: 1,
        }
        .write(&mut head);
        data.extend_from_slice(&head);
        data.extend_from_slice(&[0u8; 4000]);
        format::end_frame(&mut data, at);
        if let FrameAt::Frame { payload, next, .. } = format::frame_at(&data, at) {
            b.add(at as u64, (next - at) as u64, frame::RECORDS, payload);
        }
    }
    let f = b.finish();
    assert_eq!(f.records, 600);
    assert_eq!((f.first, f.last), (0, 1995));
    assert_eq!(f.levels, 0b11111);
    assert!(f.index.len() >= 3, "{}", f.index.len());
    assert_eq!(f.index[0].start, format::HEADER_LEN as u64);
    assert_eq!(f.index.last().unwrap().end, data.len() as u64);
    for w in f.index.windows(2) {
        assert_eq!(
            w[0].end, w[1].start,
            "entries cover the frames back to back"
        );
    }
    let mut out = Vec::new();
    f.encode(&mut out, 1234);
    assert_eq!(&out[out.len() - 8..], b"TWSEGEND");
    match format::frame_at(&out, 0) {
        FrameAt::Frame { payload, .. } => assert_eq!(Footer::decode(payload).unwrap(), f),
        other => panic!("{other:?}"),
    }
}
