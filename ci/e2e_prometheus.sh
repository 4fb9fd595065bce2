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
# serving until killed; the values it serves must be stable (the workload finished), since
# the script compares a scrape with a later /snapshot. Example:
#
#   cargo build --release --features http --example serve_metrics
#   ci/e2e_prometheus.sh 19464 -- target/release/examples/serve_metrics 127.0.0.1:19464
#
# Options (snapshot series names, before sanitizing; each must be a single series):
#   --counter NAME   counter compared exactly            (default: orders_filled)
#   --latency NAME   latency whose p99 is compared       (default: order_roundtrip)
#   --timeout SECS   every wait's limit                   (default: 60)
#   --prometheus P   the server binary                    (default: /usr/bin/prometheus)
#
# Checks:
#   counter:  Prometheus' `<counter>_total` equals the snapshot's `total` exactly.
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
    sed -n '4,24p' "$0" >&2
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

def one(snapshot, name, kind):
    found = [s for s in snapshot["series"] if s["name"] == name and s["value"]["type"] == kind]
    if len(found) != 1:
        raise SystemExit(f"FAIL: /snapshot has {len(found)} {kind} series named {name!r}; need exactly one")
    return found[0]["value"]

counter_q = f'{sanitize(counter, "_total")}{{job="tickwatch"}}'
quantile_q = f'histogram_quantile(0.99, {sanitize(latency, "_seconds")}_bucket{{job="tickwatch"}})'
deadline = time.monotonic() + timeout
def compared(snapshot):
    return [s for s in snapshot["series"] if s["name"] in (counter, latency)]

while True:
    # The two compared series must not change around the queries (other series, such as
    # resource gauges, may).
    before = get(f"http://127.0.0.1:{port}/snapshot")
    c, q = query(counter_q), query(quantile_q)
    after = get(f"http://127.0.0.1:{port}/snapshot")
    if c and q and compared(before) == compared(after):
        break
    if time.monotonic() > deadline:
        why = "values changed between two /snapshot reads" if c and q else "no scrape answered yet"
        raise SystemExit(f"FAIL: after {timeout:.0f}s: {why} (counter {c}, quantile {q})")
    time.sleep(0.5)

failures = []
want = one(after, counter, "counter")["total"]
got = float(c[0]["value"][1])
print(f"counter  {counter_q} = {got:.17g}; /snapshot total = {want}")
if len(c) != 1 or got != float(want):
    failures.append(f"counter: Prometheus {got} != snapshot {want} (series {len(c)})")

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
