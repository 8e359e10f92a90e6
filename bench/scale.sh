#!/usr/bin/env bash
# The scale benchmark: reads against a static server, registrations at 1, 8 and 32 writers on
# the embedded store and on PostgreSQL (1 and 3 nodes), and memory and start-up at 100,000 and
# 1,000,000 schemas, all on the release binary and in one run.
#
#   bench/scale.sh [--binary B] [--duration SECONDS] [--sizes 100000,1000000] [--database URL]
#                  [--skip-postgres]
#
# Rows:
# - the static server (`examples/static_http`, std only: the machine's loopback and HTTP ceiling),
#   then GET /schemas/ids/{id}, GET /subjects/{s}/versions/latest and POST
#   /compatibility/subjects/{s}/versions/latest (a candidate checked before), each at 32
#   connections with wrk and as a ratio of the static server's rate;
# - registrations/s (every one acknowledged only once durable) with `examples/register_load`:
#   a new Avro record each (11 fields plus one per earlier version of its subject, sent in
#   canonical form, as Confluent's serializers send it), over 1,000 subjects under the default
#   BACKWARD level, at 1, 8 and 32 concurrent writers; on PostgreSQL the writers are spread over
#   the nodes;
# - per size N: N schemas registered (N/10 subjects of 10 versions, 32 writers), then the RSS,
#   GET /schemas?limit=10 and GET /subjects (best of 5), three restarts on the same store with
#   their median start-up time (process start to the listening line) and the RSS after the
#   last.
# --binary measures another build (an earlier one, say) with the same load.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=./target/release/covenant
duration=5
sizes=100000,1000000
database="postgres://postgres@127.0.0.1:5432/test"
postgres=1
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --database) database="$2"; shift 2 ;;
    --skip-postgres) postgres=0; shift ;;
    *) echo "bench/scale.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null
fi
cargo build --quiet --release --bin covenant -p covenant-cli
cargo build --quiet --release -p covenant-server --example static_http --example register_load
load=./target/release/examples/register_load

work=$(mktemp -d)
cleanup() { [ -f "$work/pids" ] && while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/pids"; rm -rf "$work"; }
trap cleanup EXIT

n=0
# start NAME COMMAND...: runs it, waits for its listening line; sets URL, PID and STARTUP (s).
start() {
  local name=$1; shift
  local begun; begun=$(date +%s.%N)
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  PID=$!
  echo "$PID" >>"$work/pids"
  for _ in $(seq 1 6000); do grep -q '^listening on ' "$work/$name.out" 2>/dev/null && break; sleep 0.01; done
  STARTUP=$(python3 -c "import time; print(f'{time.time() - $begun:.2f}')")
  URL=$(sed -n 's/^listening on //p' "$work/$name.out" | head -n 1)
  [ -n "$URL" ] || { echo "$name did not start" >&2; cat "$work/$name.err" >&2; exit 1; }
}
serve() { # NAME STORE [flags...]
  local name=$1 store=$2; shift 2
  RUST_LOG=warn start "$name" "$binary" serve --listen 127.0.0.1:0 --store "$store" "$@"
}
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
stop() { kill "$1" 2>/dev/null || true; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
suffix() { case "$database" in *\?*) echo "&schema=covenant_scale_$1_$$" ;; *) echo "?schema=covenant_scale_$1_$$" ;; esac; }
best_ms() { # URL: the best of five, in ms
  for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done |
    sort -n | head -n 1 | awk '{printf "%.2f", $1 * 1000}'
}

wrk_rps() { # URL [wrk args]: requests/s
  local url=$1; shift
  wrk -t2 -c32 -d"${duration}s" "$@" "$url" >"$work/wrk.txt" 2>&1
  if grep -q 'Non-2xx' "$work/wrk.txt"; then echo "non-2xx answers from $url" >&2; cat "$work/wrk.txt" >&2; exit 1; fi
  awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk.txt"
}

echo "covenant scale benchmark: $binary, $(nproc) cores, ${duration}s per rate"
echo

# ---------------------------------------------------------------------------- reads
start static ./target/release/examples/static_http 127.0.0.1:0
static=$URL
serve reads "file://$work/reads"
reads=$URL
python3 - "$reads" <<'PY'
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
PY
candidate=$(python3 -c 'import json; print(json.dumps({"schema": json.dumps({"type":"record","name":"Bench3","fields":[{"name":"id","type":"long"}]+[{"name":f"f{i}","type":"string","default":""} for i in range(10)]})}))')
curl -s -o /dev/null -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
  -d "$candidate" "$reads/compatibility/subjects/bench-3/versions/latest"
base=$(wrk_rps "$static/")
byid=$(wrk_rps "$reads/schemas/ids/42")
latest=$(wrk_rps "$reads/subjects/bench-3/versions/latest")
check=$(BODY="$candidate" wrk_rps "$reads/compatibility/subjects/bench-3/versions/latest" -s bench/post.lua)
echo "reads (32 connections):"
for row in "static server (std only)|$base" "GET /schemas/ids/{id}|$byid" \
           "GET /subjects/{s}/versions/latest|$latest" "POST compatibility, seen candidate|$check"; do
  label=${row%|*}; rate=${row#*|}
  awk -v l="$label" -v r="$rate" -v b="$base" 'BEGIN { printf "  %-40s %8d req/s  %5.2fx static\n", l, r, r / b }'
done
stop "$PID"

# ---------------------------------------------------------------------------- writes
register_rates() { # LABEL URL[,URL...]
  local label=$1 urls=$2 line=""
  for writers in 1 8 32; do
    rate=$("$load" "$urls" --connections "$writers" --seconds "$duration" --subjects 1000 --prefix "w$writers" |
      sed -n 's/.*: \([0-9]*\)\/s.*/\1/p')
    line="$line$(printf '%8s/s' "$rate")"
  done
  printf '  %-26s%s\n' "$label" "$line"
}
echo
echo "registrations/s, every one durable (1, 8, 32 writers):"
serve writes "file://$work/writes"
register_rates "embedded" "$URL"
stop "$PID"
if [ "$postgres" = 1 ]; then
  serve pg1 "$database$(suffix one)"
  register_rates "postgres, 1 node" "$URL"
  stop "$PID"
  store="$database$(suffix three)"
  urls="" nodes=""
  for node in a b c; do
    serve "pg3$node" "$store" --poll-interval-ms 200
    urls="$urls${urls:+,}$URL" nodes="$nodes $PID"
  done
  register_rates "postgres, 3 nodes" "$urls"
  for pid in $nodes; do stop "$pid"; done
  psql -q -h 127.0.0.1 -U postgres test -c "DROP SCHEMA IF EXISTS covenant_scale_one_$$ CASCADE; DROP SCHEMA IF EXISTS covenant_scale_three_$$ CASCADE" >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------------------- sizes
echo
echo "memory and start-up (embedded store; RSS in MB):"
printf '  %-10s %12s %9s %12s %14s %12s %10s %12s\n' schemas "registered/s" "RSS" "limit=10 ms" "/subjects ms" "start-up s" "RSS after" "text bytes"
IFS=, read -r -a counts <<<"$sizes"
for count in "${counts[@]}"; do
  serve "size$count" "file://$work/size$count"
  rate=$("$load" "$URL" --connections 32 --count "$count" --subjects $((count / 10)) --prefix s |
    sed -n 's/.*: \([0-9]*\)\/s.*/\1/p')
  sleep 2
  rss=$(rss_mb "$PID")
  page=$(best_ms "$URL/schemas?limit=10")
  subjects=$(best_ms "$URL/subjects")
  text=$(curl -s "$URL/schemas/ids/$((count / 2))" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["schema"]))')
  stop "$PID"
  # Start-up moves by a second from run to run on a virtual machine (most of it is the kernel
  # handing over fresh memory): the median of three restarts, and the RSS after the last.
  ups=()
  for _ in 1 2 3; do
    serve "size$count-again" "file://$work/size$count"
    ups+=("$STARTUP")
    curl -s -o /dev/null "$URL/schemas/ids/1"
    after=$(rss_mb "$PID")
    stop "$PID"
  done
  up=$(printf '%s\n' "${ups[@]}" | sort -n | sed -n 2p)
  printf '  %-10s %12s %9s %12s %14s %12s %10s %12s\n' "$count" "$rate" "$rss" "$page" "$subjects" "$up" "$after" "$text"
  rm -rf "$work/size$count"
done
