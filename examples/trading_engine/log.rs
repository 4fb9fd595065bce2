//! The engine's log: where it is, what it holds, and two queries over it at the end of a run.

use std::time::Instant;

use tickwatch::sink::Record;
use tickwatch::store::LogQuery;
use tickwatch::Telemetry;

/// The segment log's directory, new on every run.
pub const DIR: &str = "./tickwatch-out/log";
/// The previous run's log, kept (and recovered, if that run crashed) for one more run.
pub const PREVIOUS: &str = "./tickwatch-out/log.previous";

/// Moves the previous run's log (if any) to [`PREVIOUS`], recovered first: a run killed
/// with `kill -9` leaves an unsealed segment, which opening the log cuts at its last whole
/// record and seals. Never deletes it; the run before that one's is replaced.
pub fn keep_previous() -> Result<(), Box<dyn std::error::Error>> {
    if !std::path::Path::new(DIR).exists() {
        return Ok(());
    }
    let report = tickwatch::store::SegmentLog::options(DIR)
        .open()?
        .recovery()
        .clone();
    if report.recovered_segments > 0 {
        println!(
            "previous  run's log recovered: {} records kept in {} unsealed segments, {} bytes cut ({:?})",
            report.recovered_records, report.recovered_segments, report.bytes_cut, report.elapsed
        );
    }
    match std::fs::remove_dir_all(PREVIOUS) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    std::fs::rename(DIR, PREVIOUS)?;
    println!(
        "previous  run's log ({} records) moved to {PREVIOUS}/",
        report.records
    );
    Ok(())
}

/// Prints what the segment log has taken so far; true if it took every delivered record.
pub fn print_written(tw: &Telemetry, delivered: u64) -> bool {
    let Some(log) = tw.segment_log() else {
        return true;
    };
    let st = log.stats();
    let bytes: u64 = std::fs::read_dir(DIR)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let ok = st.records == delivered && st.lost_records == 0;
    println!(
        "log       {DIR}/ : {} records, {:.1} MB ({:.1} bytes/record), {} segments sealed, {} lost   {}",
        super::thousands(st.records),
        bytes as f64 / 1e6,
        bytes as f64 / st.records.max(1) as f64,
        st.sealed,
        st.lost_records,
        super::check(ok),
    );
    ok
}

/// Two queries a desk would ask after a session: the newest risk rejects, then everything
/// logged about one of those orders.
pub fn print_queries(tw: &Telemetry) -> Result<(), Box<dyn std::error::Error>> {
    let run = |text: &str| -> Result<_, Box<dyn std::error::Error>> {
        let q: LogQuery = text.parse()?;
        let t = Instant::now();
        let res = tw.query_logs(&q)?;
        let took = t.elapsed();
        println!(
            "query     {text:<48} {} of {} matched, {} scanned, {:.2} ms",
            res.records.len(),
            super::thousands(res.matched),
            super::thousands(res.scanned),
            took.as_secs_f64() * 1e3,
        );
        Ok(res)
    };
    let rejects = run(r#"level>=warn target=trading_engine "risk reject" order=newest limit=3"#)?;
    for r in &rejects.records {
        println!("          {}", line(r));
    }
    let Some(Record::Event { fields, .. }) = rejects.records.first() else {
        return Ok(());
    };
    let Some((_, id)) = fields.iter().find(|(k, _)| k == "order_id") else {
        return Ok(());
    };
    let id = match id {
        tickwatch::Value::U64(n) => n.to_string(),
        other => format!("{other:?}"),
    };
    let order = run(&format!("order_id={id}"))?;
    for r in &order.records {
        println!("          {}", line(r));
    }
    Ok(())
}

fn line(r: &Record) -> String {
    match r {
        Record::Event {
            level,
            message,
            fields,
            timestamp,
            ..
        } => {
            let f: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            format!(
                "{timestamp} {:<5} {message} {}",
                level.as_str(),
                f.join(" ")
            )
        }
        other => format!("{other:?}"),
    }
}
