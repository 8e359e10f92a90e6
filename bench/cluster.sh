#!/usr/bin/env bash
# Registration and lookup throughput on PostgreSQL with 1 and 3 nodes, next to the embedded store,
# measured in the same run.
#
#   bench/cluster.sh [--duration SECONDS] [--connections N] [--database URL]
#
# Registrations: every request registers a new schema (concurrent writers; with 3 nodes the
# writers are spread over the nodes, one wrk per node, figures summed). Lookups: GET
# /schemas/ids/{id} on one node at a time. Needs wrk (installed from Debian if missing) and the
# PostgreSQL named by --database (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
connections=16
database="postgres://postgres@127.0.0.1:5432/test"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --database) database="$2"; shift 2 ;;
    *) echo "bench/cluster.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null
cargo build --quiet --release --bin covenant -p covenant-cli

work=$(mktemp -d)
# start() runs in a command substitution (a subshell), so the pids go to a file.
cleanup() { [ -f "$work/pids" ] && while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/pids"; rm -rf "$work"; }
trap cleanup EXIT

n=0
start() { # store -> URL
  n=$((n + 1))
  RUST_LOG=warn ./target/release/covenant serve --listen 127.0.0.1:0 --store "$1" --poll-interval-ms 200 \
    >"$work/$n.out" 2>"$work/$n.err" &
  echo $! >>"$work/pids"
  for _ in $(seq 1 100); do grep -q '^listening on ' "$work/$n.out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/^listening on //p' "$work/$n.out" | head -n 1
}

seed() { # URL: 100 schemas, NONE on the load subject
  python3 - "$1" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def call(method, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    return json.load(urllib.request.urlopen(req))
call("PUT", "/config", {"compatibility": "NONE"})
for i in range(100):
    call("POST", f"/subjects/seed-{i % 10}/versions",
         {"schema": json.dumps({"type": "record", "name": f"Seed{i}", "fields": [{"name": "f", "type": "long"}]})})
PY
}

rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }

lookup_on() { # label URL
  wrk -t2 -c"$connections" -d"${duration}s" --latency "$2/schemas/ids/42" >"$work/get.txt" 2>&1
  echo "$1 $(rps "$work/get.txt") $(p99 "$work/get.txt")"
}

suffix() { case "$database" in *\?*) echo "&schema=covenant_bench_$1_$$" ;; *) echo "?schema=covenant_bench_$1_$$" ;; esac; }

echo "covenant cluster benchmark: ${connections} connections, ${duration}s per measurement, $(nproc) cores"
embedded=$(start "file://$work/embedded")
seed "$embedded"
pg1=$(start "$database$(suffix one)")
seed "$pg1"
pg3_store="$database$(suffix three)"
pg3a=$(start "$pg3_store"); pg3b=$(start "$pg3_store"); pg3c=$(start "$pg3_store")
seed "$pg3a"

{
  lookup_on "lookup embedded" "$embedded"
  lookup_on "lookup postgres-1-node" "$pg1"
  lookup_on "lookup postgres-3-nodes(node-a)" "$pg3a"
  lookup_on "lookup postgres-3-nodes(node-c)" "$pg3c"
} > "$work/lookups.txt"

run_register() { # label URLs...
  local label=$1; shift
  local i=0 files=()
  local per=$(( connections / $# )); [ "$per" -ge 1 ] || per=1
  for url in "$@"; do
    i=$((i + 1))
    wrk -t1 -c"$per" -d"${duration}s" --latency -s bench/register.lua "$url/subjects/bench-load/versions" >"$work/reg-$label-$i.txt" 2>&1 &
    files+=("$work/reg-$label-$i.txt")
    sleep 0.05
  done
  for f in "${files[@]}"; do while ! grep -q '^Requests/sec' "$f" 2>/dev/null; do sleep 0.5; done; done
  python3 - "$label" "${files[@]}" <<'PY'
import re, sys
label, files = sys.argv[1], sys.argv[2:]
total, p99s, errors = 0.0, [], 0
for path in files:
    text = open(path).read()
    total += float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    p99s.append(m.group(1) if m else "?")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors += int(m.group(1)) if m else 0
print(f"{label} {total:.0f} {'/'.join(p99s)} {errors}")
PY
}

{
  run_register "register embedded" "$embedded"
  run_register "register postgres-1-node" "$pg1"
  run_register "register postgres-3-nodes" "$pg3a" "$pg3b" "$pg3c"
} > "$work/registers.txt"

echo
echo "registrations (concurrent writers, a new schema each):"
awk 'NR == 1 { base = $3 } { printf "  %-28s %8.0f req/s  %6.2fx embedded  p99 %-22s non-2xx %s\n", $2, $3, $3 / base, $4, $5 }' "$work/registers.txt"
echo "lookups (GET /schemas/ids/{id}):"
awk 'NR == 1 { base = $3 } { printf "  %-34s %8.0f req/s  %6.2fx embedded  p99 %s\n", $2, $3, $3 / base, $4 }' "$work/lookups.txt"
# Every node ends with the same history.
for url in "$pg3a" "$pg3b" "$pg3c"; do
  curl -s "$url/subjects/bench-load/versions" | python3 -c "import json,sys; print('  versions on node:', len(json.load(sys.stdin)))"
done
