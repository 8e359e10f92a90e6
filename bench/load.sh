#!/usr/bin/env bash
# Load benchmark of the registry against a trivial actix-web handler, measured in the same run.
#
#   bench/load.sh [--duration SECONDS] [--connections N] [--store URL] [--compare BINARY]
#
# Prints requests/s, p50 and p99 for: the baseline handler, GET /schemas/ids/{id}, GET latest
# version, compatibility checks and registrations, with each throughput as a ratio of the
# baseline's. With --compare, another `covenant` binary (an earlier build, say) is measured in
# the same run, row by row beside this build, each on a fresh embedded store of its own.
# Needs wrk (installed from Debian's packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
connections=32
store=""
compare=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --store) store="$2"; shift 2 ;;
    --compare) compare="$2"; shift 2 ;;
    *) echo "bench/load.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null
fi

cargo build --quiet --release --bin covenant -p covenant-cli
cargo build --quiet --release --example baseline -p covenant-server

work=$(mktemp -d)
# start() runs in a command substitution (a subshell), so the pids go to a file.
cleanup() { [ -f "$work/pids" ] && while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/pids"; rm -rf "$work"; }
trap cleanup EXIT

start() { # name command... ; prints the URL
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  echo $! >>"$work/pids"
  for _ in $(seq 1 100); do grep -q '^listening on ' "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/^listening on //p' "$work/$name.out" | head -n 1
}

[ -n "$store" ] || store="file://$work/data"
registry=$(RUST_LOG=warn start registry ./target/release/covenant serve --listen 127.0.0.1:0 --store "$store")
baseline=$(start baseline ./target/release/examples/baseline 127.0.0.1:0)
[ -n "$registry" ] && [ -n "$baseline" ] || { echo "a server did not start" >&2; cat "$work"/*.err >&2; exit 1; }
before=""
if [ -n "$compare" ]; then
  before=$(RUST_LOG=warn start before "$compare" serve --listen 127.0.0.1:0 --store "sled://$work/before-data")
  [ -n "$before" ] || { echo "the --compare binary did not start" >&2; cat "$work/before.err" >&2; exit 1; }
fi

# Seed: 10 subjects with 10 versions each (100 schemas).
seed() {
python3 - "$1" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def call(method, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    return json.load(urllib.request.urlopen(req))
for s in range(10):
    for v in range(10):
        fields = [{"name": "id", "type": "long"}] + [
            {"name": f"f{i}", "type": "string", "default": ""} for i in range(v)]
        call("POST", f"/subjects/bench-{s}/versions",
             {"schema": json.dumps({"type": "record", "name": f"Bench{s}", "fields": fields})})
call("PUT", "/config/bench-load", {"compatibility": "NONE"})
PY
}
seed "$registry"
[ -z "$before" ] || seed "$before"

candidate=$(python3 -c 'import json; print(json.dumps({"schema": json.dumps({"type":"record","name":"Bench3","fields":[{"name":"id","type":"long"}]+[{"name":f"f{i}","type":"string","default":""} for i in range(10)]})}))')

run() { # label url [wrk args...]
  local label=$1 url=$2; shift 2
  wrk -t2 -c"$connections" -d"${duration}s" --latency "$@" "$url" >"$work/wrk.txt" 2>&1
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$work/wrk.txt")
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$rps" "$p50" "$p99" "${errors:-0}"
}

each() { # label path [wrk args...]: the row for each registry measured, earlier build first
  local label=$1 path=$2; shift 2
  if [ -n "$before" ]; then
    run "$label [before]" "$before$path" "$@"
    run "$label [after]" "$registry$path" "$@"
  else
    run "$label" "$registry$path" "$@"
  fi
}

echo "covenant load benchmark: ${connections} connections, ${duration}s per endpoint, $(nproc) cores, store $store${compare:+, compared with $compare}"
{
  run "baseline (trivial actix handler)" "$baseline/"
  each "GET /schemas/ids/{id}" "/schemas/ids/42"
  each "GET /subjects/{s}/versions/latest" "/subjects/bench-3/versions/latest"
  BODY="$candidate" each "POST compatibility check" "/compatibility/subjects/bench-3/versions/latest" -s bench/post.lua
  each "POST register (new schema each)" "/subjects/bench-load/versions" -s bench/register.lua
} | tee "$work/results.tsv" >/dev/null

awk -F'\t' '
  NR == 1 { base = $2 }
  { printf "%-48s %10.0f req/s  %6.2fx baseline  p50 %-9s p99 %-9s non-2xx %s\n", $1, $2, $2 / base, $3, $4, $5 }
' "$work/results.tsv"
