//! Floats.

use super::*;

const ODD_FLOATS: [f64; 8] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    5e-324,                     // smallest subnormal
    2.225_073_858_507_201e-308, // largest subnormal
    f64::MAX,
    0.1,
];

fn odd_floats() -> Vec<f64> {
    let mut v = ODD_FLOATS.to_vec();
    // A NaN with a payload and the sign bit set.
    v.push(f64::from_bits(0xfff8_0000_dead_beef));
    v
}

#[test]
fn nan_infinities_negative_zero_and_subnormals_are_carried_bit_exact() {
    let mem = MemorySink::new();
    let tw = mem_instance(&mem);
    let m = tw.metric("m", &[]);
    let r = tw.resource("r");
    let vals = odd_floats();
    for &v in &vals {
        m.record(v);
        r.record(v);
        tw.log_metric("lm", v, &[]);
        tw.track_resource_usage("tr", v);
        event!(tw, Level::Info, "f", v = v);
        tw.log_event(&Event {
            level: Level::Info,
            target: "t",
            message: "dyn",
            fields: &[("v", FieldRef::F64(v))],
        });
    }
    tw.flush().unwrap();
    let recs = mem.records();
    assert_eq!(recs.len(), vals.len() * 6);
    for (i, &v) in vals.iter().enumerate() {
        let chunk = &recs[i * 6..i * 6 + 6];
        let got: Vec<u64> = chunk
            .iter()
            .map(|r| match r {
                Record::Metric { value, .. } => value.to_bits(),
                Record::Resource { usage, .. } => usage.to_bits(),
                Record::Event { fields, .. } => match &fields[0].1 {
                    Value::F64(x) => x.to_bits(),
                    other => panic!("{other:?}"),
                },
                r => panic!("{r:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![v.to_bits(); 6],
            "value {v:e} ({:#x})",
            v.to_bits()
        );
    }
    tw.shutdown().unwrap();
}

#[test]
fn json_writes_non_finite_floats_as_strings_and_finite_ones_exactly() {
    let buf = SharedBuf::default();
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::new(buf.clone()))
        .start()
        .unwrap();
    let m = tw.metric("m", &[]);
    let vals = odd_floats();
    for &v in &vals {
        m.record(v);
        tw.track_resource_usage("r", v);
        event!(tw, Level::Info, "f", v = v);
    }
    tw.flush().unwrap();
    let lines = buf.lines();
    assert_eq!(lines.len(), vals.len() * 3);
    for (i, &v) in vals.iter().enumerate() {
        let objs: Vec<serde_json::Value> = lines[i * 3..i * 3 + 3]
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let got = [
            &objs[0]["value"],
            &objs[1]["value"],
            &objs[2]["fields"]["v"],
        ];
        for g in got {
            if v.is_nan() {
                assert_eq!(g, "NaN", "{lines:?}");
            } else if v == f64::INFINITY {
                assert_eq!(g, "inf");
            } else if v == f64::NEG_INFINITY {
                assert_eq!(g, "-inf");
            } else {
                let x = g.as_f64().unwrap_or_else(|| panic!("{v:e} written as {g}"));
                assert_eq!(x.to_bits(), v.to_bits(), "{v:e} written as {g}");
            }
        }
    }
    tw.shutdown().unwrap();
}
