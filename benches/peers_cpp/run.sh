#!/usr/bin/env bash
# tickwatch's event! against C++ loggers (Quill, fmtlog) by the same method, in one sitting:
# N rounds, each a fresh process of every contender in turn (tickwatch's hot_path_latency
# with the bare-ring floor, then Quill, then fmtlog), and the median across rounds.
#
#   benches/peers_cpp/run.sh [ROUNDS] [BURSTS]
#
# Needs g++ (C++17) and the peers' sources: set QUILL_DIR, FMTLOG_DIR and FMT_DIR to source
# trees, or leave them unset to clone the pinned versions below from GitHub into
# target/peers_cpp. Not part of the tests: a measurement, like `cargo bench`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-10}
BURSTS=${2:-1000}
OUT=target/peers_cpp
mkdir -p "$OUT"

fetch() { # name url rev -> prints the source dir
    local dir="$OUT/src/$1"
    if [[ ! -d $dir ]]; then
        git clone -q "$2" "$dir" >&2
        git -C "$dir" checkout -q "$3" >&2
    fi
    echo "$dir"
}
QUILL_DIR=${QUILL_DIR:-$(fetch quill https://github.com/odygrd/quill v12.1.0)}
FMTLOG_DIR=${FMTLOG_DIR:-$(fetch fmtlog https://github.com/MengRao/fmtlog 308b2317d4e9c21d3b203d104007fde127dcdbfa)}
FMT_DIR=${FMT_DIR:-$(fetch fmt https://github.com/fmtlib/fmt 11.1.3)}

CXX=(g++ -O3 -std=c++17 -march=native -DNDEBUG)
"${CXX[@]}" -I"$QUILL_DIR/include" benches/peers_cpp/quill_burst.cpp -o "$OUT/quill_burst" -lpthread
"${CXX[@]}" -DFMT_HEADER_ONLY -I"$FMTLOG_DIR" -I"$FMT_DIR/include" benches/peers_cpp/fmtlog_burst.cpp \
    "$FMTLOG_DIR/fmtlog.cc" -o "$OUT/fmtlog_burst" -lpthread
cargo build -q --release --example hot_path_latency
HPL=target/release/examples/hot_path_latency

results="$OUT/results.txt"
: > "$results"
for ((r = 1; r <= ROUNDS; r++)); do
    # Rows of the burst/20 table: name | p50 | p99 | p99.9
    "$HPL" --processes 1 --bursts "$BURSTS" --samples 5000 --no-tracing \
        --only "event!,floor" |
        awk -F'|' -v r="$r" '$3 ~ /burst\/20/ { gsub(/^ +| +$/, "", $2); printf "%s|%s|%s|%s|%s\n", r, $2, $4+0, $6+0, $7+0 }' >> "$results"
    for peer in quill_burst fmtlog_burst; do
        "$OUT/$peer" "$BURSTS" 2>/dev/null |
            sed -E 's/^(.*) \(u64, u64, f64\), burst\/20: p50 ([0-9.]+) p90 [0-9.]+ p99 ([0-9.]+) p99.9 ([0-9.]+).*/\1 (u64, u64, f64)|\2|\3|\4/' |
            awk -v r="$r" '{ print r "|" $0 }' >> "$results"
    done
    echo "round $r/$ROUNDS done" >&2
done

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(nproc) CPUs; $(date -u +%Y-%m-%d)"
echo "burst/20 ns per call, $ROUNDS fresh processes each, $BURSTS bursts of 20 with 2 ms idle between; medians across processes"
echo
awk -F'|' '
{ n[$2]++; p50[$2, n[$2]] = $3; p99[$2, n[$2]] = $4; p999[$2, n[$2]] = $5; if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
function med(arr, name, m,   i, j, t, v) {
    for (i = 1; i <= m; i++) v[i] = arr[name, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
}
function lo(name, m,   i, x) { x = p50[name, 1]; for (i = 2; i <= m; i++) if (p50[name, i] < x) x = p50[name, i]; return x }
function hi(name, m,   i, x) { x = p50[name, 1]; for (i = 2; i <= m; i++) if (p50[name, i] > x) x = p50[name, i]; return x }
END {
    printf "| %-44s | %6s | %6s | %7s | %11s |\n", "operation", "p50", "p99", "p99.9", "p50 min-max"
    printf "|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "-------:", "-------:", "--------:", "------------:"
    for (i = 1; i <= k; i++) { o = order[i]; m = n[o]
        printf "| %-44s | %6.1f | %6.1f | %7.1f | %5.1f-%-5.1f |\n", o, med(p50, o, m), med(p99, o, m), med(p999, o, m), lo(o, m), hi(o, m) }
}' "$results"
