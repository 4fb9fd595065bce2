#!/usr/bin/env bash
# End to end: a program exports over OTLP/HTTP to ci/otlp_receiver.py, which decodes every
# request with PyPI's official `opentelemetry-proto`; the summary must show the program's
# counter and log records with their severities, and no request the decoder refused.
#
#   ci/e2e_otlp.sh [options] -- COMMAND [ARGS...]
#
# COMMAND runs with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the receiver and must exit 0
# after flushing its exporter. Example:
#
#   cargo build --release --features otlp --example trading_engine
#   ci/e2e_otlp.sh --python .venv/bin/python -- target/release/examples/trading_engine --quick
#
# Options:
#   --python P      interpreter with opentelemetry-proto installed   (default: python3)
#   --counter NAME  a counter that must be exported with a total > 0 (default: orders_sent)
#   --protocol P    http/protobuf or http/json                       (default: http/protobuf)
#   --timeout SECS  limit for COMMAND                                (default: 60)
#
# The receiver is stopped by PID on exit. Prints PASS or FAIL as its last line.
set -euo pipefail

PYTHON=python3
COUNTER=orders_sent
PROTOCOL=http/protobuf
TIMEOUT=60
while [[ $# -gt 0 ]]; do
    case "$1" in
        --python) PYTHON=$2; shift 2 ;;
        --counter) COUNTER=$2; shift 2 ;;
        --protocol) PROTOCOL=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --) shift; break ;;
        *) sed -n '2,20p' "$0" >&2; exit 2 ;;
    esac
done
[[ $# -gt 0 ]] || { echo "no COMMAND given" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d)
RECEIVER=""
cleanup() {
    if [[ -n "$RECEIVER" ]]; then
        kill "$RECEIVER" 2>/dev/null || true
        wait "$RECEIVER" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$PYTHON" "$HERE/otlp_receiver.py" --port-file "$WORK/port" --out "$WORK/summary.json" \
    --max-seconds $((TIMEOUT + 30)) &
RECEIVER=$!
for _ in $(seq 200); do
    [[ -s "$WORK/port" ]] && break
    kill -0 "$RECEIVER" 2>/dev/null || { echo "the receiver exited (opentelemetry-proto installed for $PYTHON?)"; echo FAIL; exit 1; }
    sleep 0.05
done
[[ -s "$WORK/port" ]] || { echo "the receiver did not start"; echo FAIL; exit 1; }
PORT=$(cat "$WORK/port")
echo "receiver on 127.0.0.1:$PORT"

rc=0
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$PORT" \
    OTEL_EXPORTER_OTLP_PROTOCOL="$PROTOCOL" \
    OTEL_SERVICE_NAME="tickwatch-e2e" \
    OTEL_RESOURCE_ATTRIBUTES="deployment.environment=ci" \
    timeout "$TIMEOUT" "$@" >"$WORK/command.log" 2>&1 || rc=$?
grep -E '^otlp ' "$WORK/command.log" || true
if [[ $rc -ne 0 ]]; then
    tail -20 "$WORK/command.log"
    echo "COMMAND exited $rc"
    echo FAIL
    exit 1
fi

"$PYTHON" - "$WORK/summary.json" "$COUNTER" "$WORK/command.log" <<'EOF'
import json, re, sys

s = json.load(open(sys.argv[1]))
counter = sys.argv[2]
problems = []
# What the exporter says it delivered (the trading engine's `otlp` line) must be what the
# decoder read: nothing lost or duplicated between them.
said = re.search(r"^otlp .* (\d+) log records in \d+ exports", open(sys.argv[3]).read(), re.M)
if said and int(said.group(1)) != s["logs"]["count"]:
    problems.append(f"the exporter delivered {said.group(1)} log records, the decoder read {s['logs']['count']}")
if s["errors"]:
    problems.append(f"decoder refused requests: {s['errors'][:3]}")
paths = {r["path"] for r in s["requests"]}
for p in ("/v1/metrics", "/v1/logs"):
    if p not in paths:
        problems.append(f"no request on {p}")
m = s["metrics"].get(counter)
total = 0
if m is None:
    problems.append(f"counter {counter} not exported")
else:
    total = sum(p["value"] for p in m["points"])
    if m["type"] != "sum" or not m.get("is_monotonic") or m.get("temporality") != 2:
        problems.append(f"{counter} is not a cumulative monotonic sum: {m['type']}")
    if total <= 0:
        problems.append(f"{counter} total is {total}")
logs = s["logs"]
if logs["count"] == 0:
    problems.append("no log records")
for r in logs["records"]:
    if not (1 <= r["severity_number"] <= 24) or not r["severity_text"] or not r["time_unix_nano"]:
        problems.append(f"log record without severity or time: {r}")
        break
res = s["resource"]
if res.get("service.name") != "tickwatch-e2e" or res.get("deployment.environment") != "ci":
    problems.append(f"resource attributes: {res}")
hist = [n for n, v in s["metrics"].items() if v["type"] == "histogram"]
print(f"requests {len(s['requests'])}, metrics {len(s['metrics'])} ({len(hist)} histograms), "
      f"{counter} total {total}, log records {logs['count']} by severity {logs['by_severity']}")
for p in problems:
    print("problem:", p)
print("PASS" if not problems else "FAIL")
sys.exit(1 if problems else 0)
EOF
