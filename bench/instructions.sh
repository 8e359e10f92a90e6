#!/usr/bin/env bash
# Instructions the server executes per lookup by id, counted by valgrind's callgrind: the same
# figure on every run (wall-clock figures on a shared 2-core machine spread by 20% and more),
# for observability on (defaults: metrics, RUST_LOG=info, request spans) and off (--no-metrics,
# RUST_LOG=warn), on one binary or on two (a before/after).
#
#   bench/instructions.sh [--requests N] [--binary PATH]...
#
# Each binary serves a warm-up of 200 requests (every worker resolves its metric handles), then
# N requests (default 4000) over two keep-alive connections are counted. Prints instructions
# per request and the on/off ratio of the work (off / on: what fraction of the throughput of
# the server alone observability leaves; target >= 0.95).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=4000
binaries=()
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests="$2"; shift 2 ;;
    --binary) binaries+=("$2"); shift 2 ;;
    *) echo "bench/instructions.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ${#binaries[@]} = 0 ]; then
  cargo build --quiet --release --bin covenant -p covenant-cli
  binaries=(./target/release/covenant)
fi
if ! command -v valgrind >/dev/null; then
  echo "installing valgrind" >&2
  (apt-get install -y valgrind || (apt-get update && apt-get install -y valgrind)) >/dev/null
fi

work=$(mktemp -d)
cleanup() { [ -f "$work/pids" ] && while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/pids"; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/drive.py" <<'PY'
import http.client, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def run(k):
    connection = http.client.HTTPConnection(host, port)
    for _ in range(k):
        connection.request("GET", "/schemas/ids/1", headers={"User-Agent": "bench/1.0"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
threads = [threading.Thread(target=run, args=(n // 2,)) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
PY

count() { # binary log-level serve-args... ; prints instructions per request
  local binary=$1 level=$2; shift 2
  local dir; dir=$(mktemp -d -p "$work")
  RUST_LOG=$level valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.out" \
    "$binary" serve --listen 127.0.0.1:0 --store "file://$dir/data" "$@" >"$dir/out" 2>"$dir/log" &
  local pid=$!
  echo "$pid" >>"$work/pids"
  for _ in $(seq 1 300); do grep -q '^listening on ' "$dir/out" 2>/dev/null && break; sleep 0.2; done
  local url hostport
  url=$(sed -n 's/^listening on //p' "$dir/out" | head -n 1)
  [ -n "$url" ] || { echo "the registry did not start" >&2; cat "$dir/log" >&2; exit 1; }
  hostport=${url#http://}
  curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    -d '{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"}' \
    "$url/subjects/bench/versions" >/dev/null
  python3 "$work/drive.py" "${hostport%:*}" "${hostport#*:}" 200
  callgrind_control -i on "$pid" >/dev/null 2>&1
  python3 "$work/drive.py" "${hostport%:*}" "${hostport#*:}" "$requests"
  callgrind_control -i off "$pid" >/dev/null 2>&1
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local total=0 ir
  for file in "$dir"/cg.out*; do
    ir=$(grep -m1 '^totals:' "$file" | awk '{print $2}')
    total=$((total + ${ir:-0}))
  done
  echo $((total / requests))
}

echo "instructions per GET /schemas/ids/{id} ($requests requests, callgrind)"
for binary in "${binaries[@]}"; do
  off=$(count "$binary" warn --no-metrics)
  on=$(count "$binary" info)
  python3 -c "
off, on = $off, $on
print(f'  {\"$binary\"}: off {off}, on {on}: on costs {on - off} more ({(on - off) / off * 100:.1f}%), off/on = {off / on:.3f}x (target >= 0.95x)')"
done
