#!/usr/bin/env bash
# What observability costs: lookups by id on a registry with its defaults (metrics kept, every
# request logged at info with its request span; no trace exporter) against one with all of it
# off (--no-metrics, RUST_LOG=warn), measured in the same run, alternating, on the release binary.
#
#   bench/observe.sh [--duration SECONDS] [--connections N] [--rounds N] [--binary PATH]
#
# --binary measures another build (an earlier one, for a before/after) instead of building
# target/release/covenant.
#
# Prints requests/s and p99 of each round and the ratio of the medians (target >= 0.95).
# Needs wrk (installed from Debian's packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
connections=32
rounds=3
binary=./target/release/covenant
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    *) echo "bench/observe.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null
fi
if [ "$binary" = ./target/release/covenant ]; then
  cargo build --quiet --release --bin covenant -p covenant-cli
fi

work=$(mktemp -d)
# start() runs in a command substitution (a subshell), so the pids go to a file.
cleanup() { [ -f "$work/pids" ] && while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/pids"; rm -rf "$work"; }
trap cleanup EXIT

start() { # name log-level serve-args... ; prints the URL
  local name=$1 level=$2; shift 2
  RUST_LOG=$level "$binary" serve --listen 127.0.0.1:0 \
    --store "file://$work/$name-data" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  echo $! >>"$work/pids"
  for _ in $(seq 1 100); do grep -q '^listening on ' "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/^listening on //p' "$work/$name.out" | head -n 1
}

on=$(start on info)
off=$(start off warn --no-metrics)
[ -n "$on" ] && [ -n "$off" ] || { echo "a registry did not start" >&2; cat "$work"/*.log >&2; exit 1; }
for url in "$on" "$off"; do
  curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    -d '{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"}' \
    "$url/subjects/bench/versions" >/dev/null
done
# (The page is read whole first: `grep -q` would close the pipe early, and pipefail would then
# call the curl that got SIGPIPE a failure.)
page=$(curl -sf "$on/metrics")
grep -q covenant_registrations_total <<<"$page" || { echo "metrics are not on" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$off/metrics")" = 404 ] || { echo "metrics are not off" >&2; exit 1; }

run() { # label url
  wrk -t2 -c"$connections" -d"${duration}s" --latency "$2/schemas/ids/1" >"$work/wrk.txt" 2>&1
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  printf '%s\t%s\t%s\n' "$1" "$rps" "$p99"
}

echo "observability cost: GET /schemas/ids/{id}, ${connections} connections, ${duration}s x ${rounds} rounds each, $(nproc) cores"
# The order alternates from round to round, so that neither build always runs second.
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    run off "$off"; run on "$on"
  else
    run on "$on"; run off "$off"
  fi
done | tee "$work/results.tsv" | awk -F'\t' '{ printf "  %-4s %10.0f req/s  p99 %s\n", $1, $2, $3 }'
echo "  log lines written by the registry with observability on: $(wc -l <"$work/on.log")"
python3 - "$work/results.tsv" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
median = {label: statistics.median(float(r[1]) for r in rows if r[0] == label) for label in ("off", "on")}
print(f"median: off {median['off']:.0f} req/s, on {median['on']:.0f} req/s: on/off = {median['on'] / median['off']:.3f}x (target >= 0.95x)")
PY
