#!/usr/bin/env bash
# End to end: a real Prometheus server scrapes a tickwatch endpoint, and what it answers on
# /api/v1/query must match the endpoint's own /snapshot.
#
#   ci/e2e_prometheus.sh [options] PORT -- COMMAND [ARGS...]
#
# PORT may be `auto`: a free port is chosen and replaces every literal {PORT} in the
# arguments (ci/e2e_prometheus.sh auto -- serve_metrics 127.0.0.1:{PORT}).
#
# COMMAND must serve tickwatch's endpoint (/metrics, /snapshot) on 127.0.0.1:PORT and keep
# serving until killed. The compared series may change while it starts (a workload still
# running): the script compares only a scrape taken after a /snapshot read and followed by
# one that shows the same totals, so they must come to rest (the workload finishes). Other
# series (resource gauges) may keep changing. Examples:
#
#   cargo build --release --features http --example trading_engine
#   ci/e2e_prometheus.sh --counter orders_sent auto -- \
#       target/release/examples/trading_engine --quick --serve '127.0.0.1:{PORT}'
#   ci/e2e_prometheus.sh 19464 -- target/release/examples/serve_metrics 127.0.0.1:19464
#
# Options (snapshot series names, before sanitizing):
#   --counter NAME   counter compared exactly, each of its series (default: orders_filled)
#   --latency NAME   latency whose p99 is compared, a single series (default: order_roundtrip)
#   --timeout SECS   every wait's limit                   (default: 60)
#   --prometheus P   the server binary                    (default: /usr/bin/prometheus)
#
# Checks:
#   counter:  every series of Prometheus' `<counter>_total` equals the snapshot's `total` of
#             the series with the same labels exactly, and both have the same label sets.
#   quantile: q = histogram_quantile(0.99, <latency>_seconds_bucket) from Prometheus, and P =
#             the snapshot's p99 (seconds). With the snapshot's bucket bounds b_0 < ... < b_k,
#             Prometheus interpolates inside the bucket (b_{i-1}, b_i] that holds the rank
#             0.99 * count, which is the bucket holding P. Pass when lo <= q <= hi, with
#             lo = the largest bound below P * (1 - 0.001) (0 if none) and hi = the smallest
#             bound at or above P * (1 + 0.001); the 0.1 % is the HDR histogram's precision.
#             Above the last finite bound Prometheus answers that bound: lo = hi = b_k.
#
# Every process started here is stopped by PID (TERM, then KILL after 5 s) on exit.
# Prints PASS or FAIL as its last line; exits non-zero on failure.
set -euo pipefail

COUNTER=orders_filled
LATENCY=order_roundtrip
TIMEOUT=60
PROMETHEUS=/usr/bin/prometheus

usage() {
    sed -n '4,28p' "$0" >&2
    exit 2
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --counter) COUNTER=$2; shift 2 ;;
        --latency) LATENCY=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --prometheus) PROMETHEUS=$2; shift 2 ;;
        -h | --help) usage ;;
        *) break ;;
    esac
done
[[ $# -ge 3 && $2 == "--" ]] || usage
PORT=$1
shift 2
if [[ $PORT == auto ]]; then
    # A free port, substituted for every literal {PORT} in COMMAND's arguments.
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    set -- "${@//\{PORT\}/$PORT}"
fi

fail() {
    echo "FAIL: $*"
    exit 1
}

if [[ ! -x $PROMETHEUS ]]; then
    if [[ -n ${CI:-} ]]; then
        fail "$PROMETHEUS not found: install the Debian package 'prometheus'"
    fi
    echo "SKIPPED: $PROMETHEUS not found (Debian package 'prometheus')" >&2
    exit 0
fi
command -v python3 >/dev/null || fail "python3 is needed to read the JSON answers"

WORK=$(mktemp -d)
PIDS=()

stop_all() {
    local rc=$?
    local pid i
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "process $pid ignored TERM for 5 s: KILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [[ $rc -ne 0 ]]; then
        for log in "$WORK"/*.log; do
            [[ -f $log ]] || continue
            echo "---- last lines of $(basename "$log")" >&2
            tail -n 20 "$log" >&2
        done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# GET URL: prints the body; non-zero exit on any error (connection, status >= 400).
http_get() {
    python3 - "$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.stdout.write(r.read().decode())
EOF
}

# wait_for WHAT PID COMMAND...: retries COMMAND every 0.5 s until it succeeds, PID dies, or
# the timeout passes.
wait_for() {
    local what=$1 pid=$2
    shift 2
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || fail "$what: process $pid exited"
        ((SECONDS < deadline)) || fail "$what: not ready after ${TIMEOUT}s"
        sleep 0.5
    done
}

echo "== starting the endpoint: $*"
"$@" >"$WORK/endpoint.log" 2>&1 &
ENDPOINT_PID=$!
PIDS+=("$ENDPOINT_PID")
wait_for "endpoint on 127.0.0.1:$PORT" "$ENDPOINT_PID" http_get "http://127.0.0.1:$PORT/metrics"

PROM_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tickwatch
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
EOF

echo "== starting prometheus on 127.0.0.1:$PROM_PORT"
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS+=("$PROM_PID")
wait_for "prometheus ready" "$PROM_PID" http_get "http://127.0.0.1:$PROM_PORT/-/ready"

echo "== comparing Prometheus' answers with /snapshot (counter $COUNTER, latency $LATENCY)"
set +e
python3 - "$PORT" "$PROM_PORT" "$COUNTER" "$LATENCY" "$TIMEOUT" <<'EOF'
import json, re, sys, time, urllib.parse, urllib.request

port, prom_port, counter, latency, timeout = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
PRECISION = 0.001  # HDR histogram, 3 significant digits

def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())

def sanitize(name, suffix):
    # tickwatch::export::sanitize_metric_name, plus the family suffix (not doubled).
    s = re.sub(r"[^a-zA-Z0-9_]", "_", name) if name else "unnamed"
    if s[0].isdigit():
        s = "_" + s
    return s if s.endswith(suffix) else s + suffix

def query(expr):
    url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    r = get(url)
    if r.get("status") != "success":
        raise SystemExit(f"FAIL: query {expr!r}: {r}")
    return r["data"]["result"]

def label_name(key):
    # tickwatch::export::sanitize_label_name: a leading `__` run becomes one `_`. (The
    # snake_case and `le`/`quantile` renaming of tickwatch::export::naming do not touch the
    # lower-case tag keys of the series compared here.)
    s = re.sub(r"[^a-zA-Z0-9_]", "_", key) if key else "_"
    if s[0].isdigit():
        s = "_" + s
    return re.sub(r"^__+", "_", s)

def by_labels(series):
    # A series' identity as Prometheus stores it: sanitized keys, empty values left out.
    # Tags are a JSON object (docs/schema.md); snapshots from before it held [key, value] pairs.
    tags = series["tags"]
    pairs = tags.items() if isinstance(tags, dict) else tags
    return tuple(sorted((label_name(k), v) for k, v in pairs if v != ""))

def one(snapshot, name, kind):
    found = [s for s in snapshot["series"] if s["name"] == name and s["value"]["type"] == kind]
    if len(found) != 1:
        raise SystemExit(f"FAIL: /snapshot has {len(found)} {kind} series named {name!r}; need exactly one")
    return found[0]["value"]

counter_q = f'{sanitize(counter, "_total")}{{job="tickwatch"}}'
latency_q = f'{sanitize(latency, "_seconds")}_bucket{{job="tickwatch"}}'
quantile_q = f'histogram_quantile(0.99, {latency_q})'
deadline = time.monotonic() + timeout

def compared(snapshot):
    # What a scrape must agree with: totals and buckets. Windows and rates roll over on
    # time, workload or not, so they are left out.
    out = []
    for s in snapshot["series"]:
        v = s["value"]
        if s["name"] == counter and v["type"] == "counter":
            out.append((s["name"], by_labels(s), v["total"]))
        elif s["name"] == latency and v["type"] == "latency":
            out.append((s["name"], by_labels(s), v["total"], v["sum_ns"], v["buckets"]))
    return out

def scraped_at(expr):
    # Prometheus' timestamp of the oldest sample the query would read (None: none yet).
    r = query(f"min(timestamp({expr}))")
    return float(r[0]["value"][1]) if r else None

def scraped_after(t):
    # Both series come from a scrape that started after t. Prometheus may align a scrape's
    # timestamp by up to 2 ms (scrape timestamp tolerance), hence the margin.
    while time.monotonic() < deadline:
        ts = [scraped_at(counter_q), scraped_at(latency_q)]
        if all(x is not None and x > t + 0.01 for x in ts):
            return True
        time.sleep(0.25)
    return False

c = q = None
while True:
    # Counters and buckets only grow. A scrape started after `before` was read and answered
    # before `after` is read, with both reads the same, saw exactly those values.
    before = get(f"http://127.0.0.1:{port}/snapshot")
    t0 = time.time()
    if scraped_after(t0):
        c, q = query(counter_q), query(quantile_q)
        after = get(f"http://127.0.0.1:{port}/snapshot")
        if c and q and compared(before) == compared(after):
            break
    if time.monotonic() > deadline:
        why = "the compared series never came to rest" if c and q else "no scrape after a /snapshot read"
        raise SystemExit(f"FAIL: after {timeout:.0f}s: {why} (counter {c}, quantile {q})")

failures = []
want = {
    by_labels(s): s["value"]["total"]
    for s in after["series"]
    if s["name"] == counter and s["value"]["type"] == "counter"
}
got = {
    tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("__name__", "job", "instance"))): float(r["value"][1])
    for r in c
}
if not want:
    failures.append(f"counter: /snapshot has no counter named {counter!r}")
for labels in sorted(set(want) | set(got)):
    w, g = want.get(labels), got.get(labels)
    shown = ",".join(f"{k}={v}" for k, v in labels)
    print(f"counter  {counter_q} {{{shown}}} = {g if g is None else format(g, '.17g')}; /snapshot total = {w}")
    if w is None or g is None or g != float(w):
        failures.append(f"counter {{{shown}}}: Prometheus {g} != snapshot {w}")

lat = one(after, latency, "latency")
p99 = lat["total"]["p99"] / 1e9
bounds = sorted(b["le_secs"] for b in lat["buckets"])
got = float(q[0]["value"][1])
if not bounds:
    failures.append("latency: the snapshot has no buckets to compare within")
else:
    if p99 > bounds[-1]:
        lo = hi = bounds[-1]
    else:
        lo = max([b for b in bounds if b < p99 * (1 - PRECISION)], default=0.0)
        hi = min([b for b in bounds if b >= p99 * (1 + PRECISION)], default=bounds[-1])
    print(f"quantile {quantile_q} = {got:.9g} s; /snapshot p99 = {p99:.9g} s; accepted [{lo:.9g}, {hi:.9g}]")
    if len(q) != 1 or not (lo <= got <= hi):
        failures.append(f"quantile: Prometheus {got} outside [{lo}, {hi}] around the snapshot p99 {p99}")

if failures:
    print("FAIL: " + "; ".join(failures))
    sys.exit(1)
EOF
RC=$?
set -e
if [[ $RC -ne 0 ]]; then
    fail "Prometheus and /snapshot disagree (see above)"
fi
echo "PASS: Prometheus scraped the endpoint; counter exact, p99 within its bucket"
