#!/usr/bin/env bash
# What tracing costs a chain request, in instructions (callgrind): airlock is run under
# callgrind once with tracing on (the default) and once with `--trace-capacity 0`; each time
# chain_client.py sends a warm-up, zeroes the counters, sends the measured requests over one
# keep-alive HTTP/1.1 connection and dumps them. Start-up and connection set-up are not counted.
# The method and the latest figures: docs/PERFORMANCE.md, "What tracing costs".
#
# Usage: crates/bench/callgrind/trace_cost.sh [AIRLOCK_BINARY] [OUT_DIR]
#   AIRLOCK_BINARY  default: $CARGO_TARGET_DIR/release/airlock, else target/release/airlock
#   OUT_DIR         where the callgrind dumps are kept (default: a new temporary directory)
# Environment: REQUESTS (2000), WARMUP (200), RUNS (1: on/off pairs), MODES ("on off"),
# WORKERS (airlock's --worker-threads; default: airlock's own, one shard per core),
# VALGRIND_ARGS (more callgrind options, e.g. --cache-sim=yes for cache misses as well).
# Needs valgrind (apt-get install valgrind) and python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
binary=${1:-${CARGO_TARGET_DIR:-$root/target}/release/airlock}
out=${2:-$(mktemp -d -t airlock-callgrind-XXXXXX)}
requests=${REQUESTS:-2000}
warmup=${WARMUP:-200}
runs=${RUNS:-1}
modes=${MODES:-on off}
workers=()
[ -n "${WORKERS:-}" ] && workers=(--worker-threads "$WORKERS")

for tool in valgrind callgrind_control python3; do
    command -v "$tool" >/dev/null || { echo "trace_cost.sh: $tool is missing" >&2; exit 2; }
done
[ -x "$binary" ] || { echo "trace_cost.sh: no binary at $binary (cargo build --release -p airlock)" >&2; exit 2; }
mkdir -p "$out"

state="$out/state"
mkdir -p "$state"
# The first start creates the CA and the issuer key; the token needs the key.
"$binary" token --state-dir "$state" --scope pets/read > "$out/token"

pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

# One measured run: prints the instructions per request.
measure() {
    local mode=$1 run=$2
    local extra=()
    [ "$mode" = off ] && extra=(--trace-capacity 0)
    local endpoints="$state/endpoints-$mode-$run.json"
    rm -f "$endpoints"
    # shellcheck disable=SC2086 # VALGRIND_ARGS is a list of options
    valgrind --tool=callgrind ${VALGRIND_ARGS:-} --callgrind-out-file="$out/callgrind.$mode.$run.%p" \
        "$binary" up --ephemeral-ports "${workers[@]}" --endpoints-json "$endpoints" \
        --state-dir "$state" "${extra[@]}" > "$out/stdout.$mode.$run" 2> "$out/log.$mode.$run" &
    pid=$!
    for _ in $(seq 1 600); do
        [ -s "$endpoints" ] && grep -q . "$out/stdout.$mode.$run" && break
        kill -0 "$pid" 2>/dev/null || { echo "airlock exited; see $out/log.$mode.$run" >&2; exit 1; }
        sleep 0.5
    done
    python3 "$here/chain_client.py" --endpoints "$endpoints" --token "$(cat "$out/token")" \
        --pid "$pid" --warmup "$warmup" --requests "$requests"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    # The dump the client asked for is the file with the suffix .1.
    local dump
    dump=$(ls "$out"/callgrind."$mode"."$run".*.1)
    local total
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    echo "$mode $run $total $((total / requests))" | tee -a "$out/results"
}

: > "$out/results"
for run in $(seq 1 "$runs"); do
    for mode in $modes; do
        measure "$mode" "$run" > /dev/null
    done
done

echo "dumps in $out; instructions per chain request:"
awk -v n="$requests" '
    { per[$1] += $3 / n; count[$1]++; printf "  %-3s run %s: %.1f k\n", $1, $2, $3 / n / 1000 }
    END {
        if (count["on"] && count["off"]) {
            on = per["on"] / count["on"]; off = per["off"] / count["off"]
            printf "tracing on %.1f k, off %.1f k: %+.2f k, %+.2f %%\n", on / 1000, off / 1000, (on - off) / 1000, (on - off) / off * 100
        }
    }' "$out/results"
echo "compare: callgrind_annotate $out/callgrind.on.1.*.1 vs $out/callgrind.off.1.*.1"
