//! Rows of percentiles: printed as a table by one process, passed as `ROW` lines from each
//! child process to the parent, which prints them per process and as the median across
//! processes.

/// One operation measured with one method: its sorted samples, in nanoseconds per call.
pub struct Row {
    pub op: String,
    pub method: String,
    pub ns: Vec<f64>,
}

/// The percentiles every table shows.
pub const PCTS: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

impl Row {
    /// Nearest-rank percentile of the sorted samples.
    pub fn pct(&self, p: f64) -> f64 {
        let n = self.ns.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.ns[rank.clamp(1, n) - 1]
    }

    fn summary(&self) -> Summary {
        Summary {
            op: self.op.clone(),
            method: self.method.clone(),
            pcts: PCTS.map(|p| self.pct(p)),
            max: self.ns[self.ns.len() - 1],
        }
    }
}

/// A row reduced to its percentiles: what a child process reports.
#[derive(Clone)]
pub struct Summary {
    pub op: String,
    pub method: String,
    pub pcts: [f64; 4],
    pub max: f64,
}

impl Summary {
    /// The machine-readable line a child prints (`ROW op method p50 p90 p99 p99.9 max`,
    /// tab-separated).
    pub fn line(&self) -> String {
        let p = &self.pcts;
        format!(
            "ROW\t{}\t{}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.2}",
            self.op, self.method, p[0], p[1], p[2], p[3], self.max
        )
    }

    /// Reads a `ROW` line back; `None` for any other line.
    pub fn parse(line: &str) -> Option<Summary> {
        let mut f = line.strip_prefix("ROW\t")?.split('\t');
        let op = f.next()?.to_owned();
        let method = f.next()?.to_owned();
        let mut v = [0.0; 5];
        for x in &mut v {
            *x = f.next()?.parse().ok()?;
        }
        Some(Summary {
            op,
            method,
            pcts: [v[0], v[1], v[2], v[3]],
            max: v[4],
        })
    }
}

fn header(first: &str) {
    println!(
        "| {first:<44} | {:<8} | {:>7} | {:>7} | {:>7} | {:>7} | {:>9} |",
        "method", "p50", "p90", "p99", "p99.9", "max"
    );
    println!(
        "|{:-<46}|{:-<10}|{:->9}|{:->9}|{:->9}|{:->9}|{:->11}|",
        "", "", ":", ":", ":", ":", ":"
    );
}

fn print_one(s: &Summary) {
    let p = &s.pcts;
    println!(
        "| {:<44} | {:<8} | {:>7.1} | {:>7.1} | {:>7.1} | {:>7.1} | {:>9.1} |",
        s.op, s.method, p[0], p[1], p[2], p[3], s.max
    );
}

/// One process's table.
pub fn print_rows(rows: &[Row]) {
    header("operation");
    for r in rows {
        print_one(&r.summary());
    }
}

/// The `ROW` lines of one process's table.
pub fn row_lines(rows: &[Row]) -> Vec<String> {
    rows.iter().map(|r| r.summary().line()).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The tables of several processes: each operation's p50 in every process, then the median
/// of every percentile across processes and the spread of the p50 (slowest / fastest).
pub fn print_processes(procs: &[Vec<Summary>]) {
    let Some(first) = procs.first() else {
        return;
    };
    println!("p50 per process (ns per call):\n");
    let cols: Vec<String> = (1..=procs.len()).map(|i| format!("#{i}")).collect();
    println!(
        "| {:<44} | {:<8} | {} |",
        "operation",
        "method",
        cols.iter()
            .map(|c| format!("{c:>6}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!(
        "|{:-<46}|{:-<10}|{}",
        "",
        "",
        cols.iter().map(|_| "-------:|").collect::<String>()
    );
    for (i, row) in first.iter().enumerate() {
        let vals: Vec<String> = procs
            .iter()
            .map(|p| {
                p.get(i)
                    .map_or("-".into(), |s| format!("{:>6.1}", s.pcts[0]))
            })
            .collect();
        println!(
            "| {:<44} | {:<8} | {} |",
            row.op,
            row.method,
            vals.join(" | ")
        );
    }
    println!(
        "\nmedian across {} processes (ns per call), and the spread of the p50:\n",
        procs.len()
    );
    println!(
        "| {:<44} | {:<8} | {:>7} | {:>7} | {:>7} | {:>7} | {:>9} | {:>13} | {:>6} |",
        "operation", "method", "p50", "p90", "p99", "p99.9", "max", "p50 min-max", "spread"
    );
    println!(
        "|{:-<46}|{:-<10}|{:->9}|{:->9}|{:->9}|{:->9}|{:->11}|{:->15}|{:->8}|",
        "", "", ":", ":", ":", ":", ":", ":", ":"
    );
    for (i, row) in first.iter().enumerate() {
        let of = |f: &dyn Fn(&Summary) -> f64| -> Vec<f64> {
            procs.iter().filter_map(|p| p.get(i)).map(f).collect()
        };
        let p50s = of(&|s| s.pcts[0]);
        let lo = p50s.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = p50s.iter().copied().fold(0.0, f64::max);
        println!(
            "| {:<44} | {:<8} | {:>7.1} | {:>7.1} | {:>7.1} | {:>7.1} | {:>9.1} | {:>13} | {:>5.2}x |",
            row.op,
            row.method,
            median(p50s.clone()),
            median(of(&|s| s.pcts[1])),
            median(of(&|s| s.pcts[2])),
            median(of(&|s| s.pcts[3])),
            median(of(&|s| s.max)),
            format!("{lo:.1}-{hi:.1}"),
            hi / lo.max(f64::MIN_POSITIVE),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_lines_round_trip() {
        let r = Row {
            op: "tickwatch event! (u64, u64, f64)".into(),
            method: "burst/20".into(),
            ns: vec![1.0, 2.0, 3.0, 4.0],
        };
        let s = Summary::parse(&r.summary().line()).unwrap();
        assert_eq!(s.op, r.op);
        assert_eq!(s.pcts[0], 2.0);
        assert_eq!(s.max, 4.0);
        assert!(Summary::parse("| not a row |").is_none());
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
