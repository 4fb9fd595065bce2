#!/usr/bin/env bash
# End to end against a real OpenTelemetry Collector: the collector (OTLP receiver, HTTP only, on
# a free 127.0.0.1 port; debug exporter at `verbosity: detailed`) decodes every request with
# the collector's own pdata code, and the example's `otlp` line must match what it printed:
# every log record and data point the exporter says it delivered arrived, in as many requests,
# with no request refused, and the records carry severity, body, time and attributes.
#
#   ci/e2e_otelcol.sh [options] COLLECTOR EXAMPLE [EXAMPLE_ARGS...]
#   ci/e2e_otelcol.sh --build DIR [options] [EXAMPLE [EXAMPLE_ARGS...]]
#
# COLLECTOR is an otelcol binary with the otlp receiver and the debug exporter (the core
# distribution `otelcol`, `otelcol-contrib`, or the one --build makes). EXAMPLE is the
# trading engine built with the otlp feature (EXAMPLE_ARGS default to --quick):
#
#   cargo build --release --features otlp --example trading_engine
#   ci/e2e_otelcol.sh --build /tmp/otelcol-e2e target/release/examples/trading_engine
#   ci/e2e_otelcol.sh /tmp/otelcol-e2e/otelcol-e2e target/release/examples/trading_engine
#
# Options:
#   --protocol P         http/protobuf or http/json                      (default: http/protobuf)
#   --compression C      none or gzip                                     (default: none)
#   --counter NAME       a cumulative monotonic sum that must arrive       (default: orders_sent)
#   --histogram NAME     a histogram that must arrive with a count > 0     (default: order_roundtrip)
#   --warn-attr KEY      an attribute some Warn record must carry ('' off) (default: order_id)
#   --timeout SECS       limit for EXAMPLE                                 (default: 60)
#   --keep-log FILE      copy the collector's log (JSON lines) to FILE
#   --build DIR          write DIR/go.mod and DIR/main.go, go build DIR/otelcol-e2e, and use it
#   --version V          collector release for --build                     (default: v0.165.0)
#   --stable-version S   the stable modules of that release, for --build   (default: v1.71.0)
#
# Nothing is installed; the collector and the example run from a temporary directory that is
# removed on exit, and the collector is stopped by PID. Prints PASS or FAIL as its last line;
# exits 0 on PASS, 1 on FAIL, 2 on a usage error.
#
# Building the collector (what --build does; it needs Go and the Go module proxy, and nothing
# else). The go.opentelemetry.io/collector modules of one release go together: v0.165.0 with
# the v1.71.0 stable ones (component, confmap, its providers, receiver, exporter). Their go.mod
# says `go 1.26.0` (v0.159.0 already did; v0.158.0 said `go 1.25.0`), so Go 1.26 or newer:
#
#   mkdir DIR && cd DIR && <write main.go, the heredoc in build_collector below>
#   go mod init otelcol-e2e
#   GOTOOLCHAIN=local go get go.opentelemetry.io/collector/otelcol@v0.165.0 \
#       go.opentelemetry.io/collector/receiver/otlpreceiver@v0.165.0 \
#       go.opentelemetry.io/collector/exporter/debugexporter@v0.165.0 \
#       go.opentelemetry.io/collector/service@v0.165.0 \
#       go.opentelemetry.io/collector/component@v1.71.0 \
#       go.opentelemetry.io/collector/confmap@v1.71.0 \
#       go.opentelemetry.io/collector/confmap/provider/envprovider@v1.71.0 \
#       go.opentelemetry.io/collector/confmap/provider/fileprovider@v1.71.0 \
#       go.opentelemetry.io/collector/confmap/provider/yamlprovider@v1.71.0 \
#       go.opentelemetry.io/collector/receiver@v1.71.0 \
#       go.opentelemetry.io/collector/exporter@v1.71.0
#   GOTOOLCHAIN=local go mod tidy
#   GOTOOLCHAIN=local go build -trimpath -o otelcol-e2e .
#
# main.go is what the collector's own builder (ocb) generates for cmd/otelcorecol, cut down to
# the two components and three config providers. It was NOT built where this script was
# written: that machine (the project's `rust` kind) reaches neither the Go module proxy nor any
# VCS host (proxy.golang.org: "no such host"), and Debian bookworm's Go is 1.19. It needs a
# machine with the proxy and Go >= 1.26 (the `go` kind: Go 1.26.8); there the time and disk of
# a first build are for whoever runs it first to record here.
set -euo pipefail

PROTOCOL=http/protobuf
COMPRESSION=none
COUNTER=orders_sent
HISTOGRAM=order_roundtrip
WARN_ATTR=order_id
TIMEOUT=60
KEEP_LOG=""
BUILD_DIR=""
VERSION=v0.165.0
STABLE=v1.71.0
usage() { sed -n '2,31p' "$0" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --protocol) PROTOCOL=$2; shift 2 ;;
        --compression) COMPRESSION=$2; shift 2 ;;
        --counter) COUNTER=$2; shift 2 ;;
        --histogram) HISTOGRAM=$2; shift 2 ;;
        --warn-attr) WARN_ATTR=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --keep-log) KEEP_LOG=$2; shift 2 ;;
        --build) BUILD_DIR=$2; shift 2 ;;
        --version) VERSION=$2; shift 2 ;;
        --stable-version) STABLE=$2; shift 2 ;;
        --) shift; break ;;
        -*) usage ;;
        *) break ;;
    esac
done
case "$PROTOCOL" in http/protobuf|http/json) ;; *) echo "--protocol: $PROTOCOL" >&2; usage ;; esac
case "$COMPRESSION" in none|gzip) ;; *) echo "--compression: $COMPRESSION" >&2; usage ;; esac

build_collector() {
    local dir=$1 t0
    command -v go >/dev/null || { echo "--build needs go in PATH"; echo FAIL; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    t0=$(date +%s)
    cat >"$dir/main.go" <<'EOF'
// A minimal OpenTelemetry Collector for tickwatch's ci/e2e_otelcol.sh: the OTLP receiver and
// the debug exporter, configured from a file, a yaml: string or the environment.
package main

import (
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func components() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](debugexporter.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	return otelcol.Factories{
		Receivers: receivers,
		Exporters: exporters,
		Telemetry: otelconftelemetry.NewFactory(),
	}, nil
}

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-e2e",
			Description: "OTLP receiver and debug exporter, for tickwatch's ci/e2e_otelcol.sh",
			Version:     "e2e",
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		os.Exit(1)
	}
}
EOF
    local c=go.opentelemetry.io/collector
    (
        cd "$dir"
        export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
        rm -f go.mod go.sum
        go version
        go mod init otelcol-e2e
        go get "$c/otelcol@$VERSION" "$c/receiver/otlpreceiver@$VERSION" \
            "$c/exporter/debugexporter@$VERSION" "$c/service@$VERSION" \
            "$c/component@$STABLE" "$c/confmap@$STABLE" \
            "$c/confmap/provider/envprovider@$STABLE" "$c/confmap/provider/fileprovider@$STABLE" \
            "$c/confmap/provider/yamlprovider@$STABLE" "$c/receiver@$STABLE" "$c/exporter@$STABLE"
        go mod tidy
        go build -trimpath -o otelcol-e2e .
    ) || { echo "building the collector in $dir failed"; echo FAIL; exit 1; }
    echo "built $dir/otelcol-e2e ($VERSION / $STABLE) in $(( $(date +%s) - t0 )) s"
    COLLECTOR=$dir/otelcol-e2e
}

if [[ -n "$BUILD_DIR" ]]; then
    build_collector "$BUILD_DIR"
    [[ $# -gt 0 ]] || exit 0
else
    [[ $# -ge 2 ]] || { echo "give COLLECTOR and EXAMPLE" >&2; usage; }
    COLLECTOR=$1; shift
fi
EXAMPLE=$1; shift
[[ $# -gt 0 ]] || set -- --quick
for b in "$COLLECTOR" "$EXAMPLE"; do
    [[ -x "$b" ]] || { echo "not an executable: $b"; echo FAIL; exit 1; }
done
COLLECTOR=$(cd "$(dirname "$COLLECTOR")" && pwd)/$(basename "$COLLECTOR")
EXAMPLE=$(cd "$(dirname "$EXAMPLE")" && pwd)/$(basename "$EXAMPLE")

WORK=$(mktemp -d)
COLLECTOR_PID=""
stop_collector() {
    [[ -n "$COLLECTOR_PID" ]] || return 0
    kill -TERM "$COLLECTOR_PID" 2>/dev/null || true
    for _ in $(seq 150); do
        kill -0 "$COLLECTOR_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$COLLECTOR_PID" 2>/dev/null || true
    wait "$COLLECTOR_PID" 2>/dev/null || true
    COLLECTOR_PID=""
}
cleanup() {
    stop_collector
    if [[ -n "$KEEP_LOG" && -f "$WORK/collector.log" ]]; then cp "$WORK/collector.log" "$KEEP_LOG" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The debug exporter logs through the collector's logger (JSON lines on stderr): a "Logs" or
# "Metrics" entry with the counts of each request, then one whose msg is the detailed text.
# No sampling, no sending queue (each request is printed before the receiver answers it), no
# internal metrics endpoint (its default :8888 would clash with a second run).
write_config() {
    cat >"$WORK/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$1
exporters:
  debug:
    verbosity: detailed
    sampling_initial: 100000000
    sampling_thereafter: 1
    sending_queue:
      enabled: false
service:
  telemetry:
    logs:
      level: info
      encoding: json
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [debug]
    logs:
      receivers: [otlp]
      exporters: [debug]
EOF
}

PORT=""
for attempt in 1 2 3; do
    port=$(free_port)
    write_config "$port"
    : >"$WORK/collector.log"
    (cd "$WORK" && exec "$COLLECTOR" --config "file:$WORK/config.yaml") \
        >"$WORK/collector.out" 2>"$WORK/collector.log" &
    COLLECTOR_PID=$!
    for _ in $(seq 300); do
        grep -q 'Everything is ready' "$WORK/collector.log" && { PORT=$port; break; }
        kill -0 "$COLLECTOR_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$PORT" ]] && break
    stop_collector
    if ! grep -qi 'address already in use' "$WORK/collector.log"; then
        tail -20 "$WORK/collector.log"
        echo "the collector did not start"
        echo FAIL
        exit 1
    fi
done
[[ -n "$PORT" ]] || { echo "no free port after 3 tries"; echo FAIL; exit 1; }
echo "collector $("$COLLECTOR" --version 2>/dev/null | head -1) on 127.0.0.1:$PORT"

rc=0
(
    cd "$WORK"
    env OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$PORT" \
        OTEL_EXPORTER_OTLP_PROTOCOL="$PROTOCOL" \
        OTEL_EXPORTER_OTLP_COMPRESSION="$COMPRESSION" \
        OTEL_SERVICE_NAME="tickwatch-e2e" \
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=ci" \
        timeout "$TIMEOUT" "$EXAMPLE" "$@"
) >"$WORK/example.log" 2>&1 || rc=$?
stop_collector
grep -E '^otlp ' "$WORK/example.log" || true
if [[ $rc -ne 0 ]]; then
    tail -20 "$WORK/example.log"
    echo "EXAMPLE exited $rc"
    echo FAIL
    exit 1
fi

python3 - "$WORK/collector.log" "$WORK/example.log" "$COUNTER" "$HISTOGRAM" "$WARN_ATTR" <<'EOF'
import collections, json, re, sys

log_path, example_path, counter, histogram, warn_attr = sys.argv[1:6]
problems = []

m = re.search(r"^otlp\s+(\d+) data points in (\d+) exports, (\d+) log records in (\d+) exports; "
              r"dropped (\d+), rejected (\d+) \+ (\d+), failed (\d+) requests",
              open(example_path).read(), re.M)
if not m:
    print("problem: the example printed no `otlp ... data points in ...` line")
    print("FAIL")
    sys.exit(1)
(points, metric_exports, records, log_exports, dropped, rej_points, rej_records,
 failed) = map(int, m.groups())
if rej_points or rej_records:
    problems.append(f"the collector rejected {rej_points} data points and {rej_records} log records (partial success)")
if failed:
    problems.append(f"{failed} requests failed")

summary = collections.Counter()     # "Logs"/"Metrics" entries, and their counts
complaints = []                     # collector warnings and errors, verbatim
texts = []                          # the detailed text of each request
for line in open(log_path, errors="replace"):
    line = line.strip()
    if not line:
        continue
    try:
        e = json.loads(line)
    except ValueError:
        if re.search(r"(?i)\b(error|warn|panic|fatal)", line):
            complaints.append(line[:500])
        continue
    msg = e.get("msg", "")
    if e.get("level") in ("warn", "error", "dpanic", "panic", "fatal"):
        complaints.append(f"{e.get('level')}: {msg} {e.get('error', '')}".strip()[:500])
    if msg == "Logs":
        summary["log requests"] += 1
        summary["log records"] += int(e.get("log records", 0))
    elif msg == "Metrics":
        summary["metric requests"] += 1
        summary["data points"] += int(e.get("data points", 0))
    elif msg.startswith(("ResourceLog #", "ResourceMetrics #")):
        texts.append(msg)

# The detailed text (exporter/debugexporter/internal/otlptext), line by line.
recs, metrics, resources = [], {}, collections.Counter()
for text in texts:
    section, rec, metric = None, None, None
    for ln in text.splitlines():
        if ln.startswith(("ResourceLog #", "ResourceMetrics #")):
            section, rec, metric = "resource", None, None
            continue
        if ln.startswith(("ScopeLogs #", "ScopeMetrics #")):
            section = "scope"
            continue
        if ln.startswith("LogRecord #"):
            section, rec = "record", {"attrs": {}}
            recs.append(rec)
            continue
        if ln.startswith("Metric #"):
            section, metric = "metric", None
            continue
        if section == "metric" and ln == "Descriptor:":
            section = "descriptor"
            continue
        a = re.match(r"\s+-> ([^:]+): (.*)$", ln)
        if section == "descriptor":
            if a and a.group(1) == "Name":
                metric = metrics.setdefault(a.group(2), {"points": 0, "count": 0})
                continue
            if a and metric is not None:
                metric[a.group(1)] = a.group(2)
                continue
            section = "metric"
        if section == "resource" and a:
            resources[f"{a.group(1)}={a.group(2)}"] += 1
        elif section == "record":
            if a:
                rec["attrs"][a.group(1)] = a.group(2)
            else:
                k, _, v = ln.partition(": ")
                rec.setdefault(k, v)
        elif section == "metric":
            if metric is not None and re.match(r"\w*DataPoints #\d+", ln):
                metric["points"] += 1
            elif metric is not None and ln.startswith("Count: "):
                metric["count"] += int(ln[7:])

# What the exporter says it delivered is what the collector decoded, in as many requests.
if summary["log records"] != records:
    problems.append(f"the example exported {records} log records, the collector received {summary['log records']}")
if summary["log requests"] != log_exports:
    problems.append(f"the example made {log_exports} log exports, the collector logged {summary['log requests']} requests")
if summary["data points"] != points:
    problems.append(f"the example exported {points} data points, the collector received {summary['data points']}")
if summary["metric requests"] != metric_exports:
    problems.append(f"the example made {metric_exports} metric exports, the collector logged {summary['metric requests']} requests")
if len(recs) != summary["log records"]:
    problems.append(f"the detailed output shows {len(recs)} log records of {summary['log records']}")
if records == 0:
    problems.append("no log records")

c = metrics.get(counter)
if c is None:
    problems.append(f"counter {counter} not received")
elif (c.get("DataType"), c.get("IsMonotonic"), c.get("AggregationTemporality")) != ("Sum", "true", "Cumulative"):
    problems.append(f"{counter} is not a cumulative monotonic sum: {c}")
h = metrics.get(histogram)
if h is None:
    problems.append(f"histogram {histogram} not received")
elif h.get("DataType") != "Histogram" or h["count"] <= 0:
    problems.append(f"{histogram} is not a histogram with a count > 0: {h}")

bad = []
for r in recs:
    sev = re.search(r"\((\d+)\)$", r.get("SeverityNumber", ""))
    if (not sev or not 1 <= int(sev.group(1)) <= 24 or not r.get("SeverityText")
            or r.get("Timestamp", "1970-01-01 00:00:00 +0000 UTC").startswith("1970-01-01 00:00:00 ")
            or r.get("Body", "Empty()") in ("Empty()", "Str()")):
        bad.append(r)
if bad:
    problems.append(f"{len(bad)} log records without severity, time or body, e.g. {bad[0]}")
by_sev = collections.Counter(f"{r.get('SeverityNumber')} {r.get('SeverityText')}" for r in recs)
warns = [r for r in recs if r.get("SeverityNumber", "").endswith("(13)")]
if warn_attr and not any(warn_attr in r["attrs"] for r in warns):
    problems.append(f"no Warn record carries the attribute {warn_attr}")

for want in ("service.name=Str(tickwatch-e2e)", "deployment.environment=Str(ci)"):
    if resources[want] != summary["log requests"] + summary["metric requests"]:
        problems.append(f"resource attribute {want} on {resources[want]} of "
                        f"{summary['log requests'] + summary['metric requests']} requests")

for line in complaints[:10]:
    print("collector said:", line)
if any(not line.startswith("warn:") for line in complaints):
    problems.append("the collector logged errors (above)")

print(f"collector: {summary['metric requests']} metric requests, {summary['data points']} data points, "
      f"{len(metrics)} metrics ({sum(v.get('DataType') == 'Histogram' for v in metrics.values())} histograms); "
      f"{summary['log requests']} log requests, {summary['log records']} log records by severity {dict(by_sev)}")
if dropped:
    print(f"note: the example dropped {dropped} log records before export (its queue was full)")
sample = next((r for r in warns if warn_attr in r["attrs"]), recs[0] if recs else None)
if sample:
    print("sample record:", {k: v for k, v in sample.items() if k in ("Timestamp", "SeverityNumber", "Body")},
          {k: v for k, v in list(sample["attrs"].items())[:4]})
for p in problems:
    print("problem:", p)
print("PASS" if not problems else "FAIL")
sys.exit(1 if problems else 0)
EOF
