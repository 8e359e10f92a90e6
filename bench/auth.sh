#!/usr/bin/env bash
# Cost of authentication on the hottest read: GET /schemas/ids/{id} on a registry without an
# auth file, and on one with an auth file, called with HTTP basic credentials and with an API
# key, measured in the same run (the rows interleave, so drift in the machine hits all alike).
#
#   bench/auth.sh [--duration SECONDS] [--connections N] [--rounds N]
#
# Prints requests/s, p50 and p99 per row, and each authenticated throughput as a ratio of the
# unauthenticated one measured in the same round. Needs wrk (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=8
connections=32
rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "bench/auth.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null
fi
cargo build --quiet --release --bin covenant -p covenant-cli
covenant=./target/release/covenant

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

hash=$(printf 'bench-password' | "$covenant" auth hash-password)
"$covenant" auth new-key --name bench-key --role readonly >"$work/key.toml" 2>"$work/key.err"
key=$(grep '^cvk_' "$work/key.err")
{
  printf '[[users]]\nname = "bench"\npassword_hash = "%s"\nroles = ["admin"]\n\n' "$hash"
  cat "$work/key.toml"
} >"$work/auth.toml"

open=$(RUST_LOG=warn start open "$covenant" serve --listen 127.0.0.1:0 --store memory://)
secured=$(RUST_LOG=warn start secured "$covenant" serve --listen 127.0.0.1:0 --store memory:// --auth-file "$work/auth.toml")
[ -n "$open" ] && [ -n "$secured" ] || { echo "a server did not start" >&2; cat "$work"/*.err >&2; exit 1; }

basic="Authorization: Basic $(printf 'bench:bench-password' | base64)"
bearer="Authorization: Bearer $key"
schema='{"schema": "{\"type\":\"record\",\"name\":\"Bench\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"}'
for url in "$open" "$secured"; do
  curl -sf -H "$basic" -H 'Content-Type: application/json' --data "$schema" "$url/subjects/bench-value/versions" >/dev/null
done
# Every row must answer 200, or the figures mean nothing.
for header in "$basic" "$bearer"; do
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "$header" "$secured/schemas/ids/1")
  [ "$status" = 200 ] || { echo "an authenticated lookup answered $status" >&2; exit 1; }
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$secured/schemas/ids/1")" = 401 ] || { echo "the secured server let an anonymous lookup in" >&2; exit 1; }

run() { # label url [header]
  local label=$1 url=$2 header=${3:-}
  if [ -n "$header" ]; then
    wrk -t2 -c"$connections" -d"${duration}s" --latency -H "$header" "$url" >"$work/wrk.txt" 2>&1
  else
    wrk -t2 -c"$connections" -d"${duration}s" --latency "$url" >"$work/wrk.txt" 2>&1
  fi
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$work/wrk.txt")
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$rps" "$p50" "$p99" "${errors:-0}"
}

echo "covenant auth benchmark: GET /schemas/ids/1, ${connections} connections, ${duration}s per row, ${rounds} rounds, $(nproc) cores"
for round in $(seq 1 "$rounds"); do
  run "round $round: no auth file" "$open/schemas/ids/1"
  run "round $round: basic auth (argon2id user)" "$secured/schemas/ids/1" "$basic"
  run "round $round: API key (bearer)" "$secured/schemas/ids/1" "$bearer"
done >"$work/results.tsv"
awk -F'\t' '
  /no auth file/ { base = $2 }
  { printf "%-44s %10.0f req/s  %5.2fx no-auth  p50 %-9s p99 %-9s non-2xx %s\n", $1, $2, $2 / base, $3, $4, $5 }
' "$work/results.tsv"
