#!/usr/bin/env bash
# The web console at scale: 10,000 subjects with 100,000 versions (Avro, from
# examples/register_load: 11 fields plus one per earlier version), plus a JSON Schema and a
# Protobuf subject declaring `customer_id`; then the server-side time of each page, on the release
# binary, as the median and best of 7 requests over loopback (curl's time_total), beside
# GET /subjects (the REST list of the same 10,000 subjects) measured in the same run as the
# baseline. The first field search builds the field index and is reported apart.
#
#   bench/console.sh [--binary B] [--count 100000] [--subjects 10000]
#
# Target (issue 17): the subject list and the field search under 200 ms at this size.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=./target/release/covenant
count=100000
subjects=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --subjects) subjects="$2"; shift 2 ;;
    *) echo "bench/console.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cargo build --quiet --release --bin covenant -p covenant-cli
cargo build --quiet --release -p covenant-server --example register_load
load=./target/release/examples/register_load

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
RUST_LOG=warn "$binary" serve --listen 127.0.0.1:0 --store "file://$work/data" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 3000); do grep -q '^listening on ' "$work/out" 2>/dev/null && break; sleep 0.01; done
url=$(sed -n 's/^listening on //p' "$work/out" | head -n 1)
[ -n "$url" ] || { cat "$work/err" >&2; exit 1; }

echo "covenant console benchmark: $binary, $(nproc) cores, $count versions over $subjects subjects"
started=$(date +%s)
"$load" "$url" --connections 32 --count "$count" --subjects "$subjects" --prefix s >/dev/null
python3 - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def register(subject, body):
    req = urllib.request.Request(f"{url}/subjects/{subject}/versions", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    urllib.request.urlopen(req).read()
register("payments-json", {"schemaType": "JSON", "schema": json.dumps(
    {"type": "object", "properties": {"customer_id": {"type": "string"}}})})
register("users-proto", {"schemaType": "PROTOBUF",
                         "schema": 'syntax = "proto3";\nmessage User {\n  string customer_id = 1;\n}\n'})
PY
echo "registered in $(( $(date +%s) - started )) s"
echo

# NAME PATH: the median and best of 7, in ms.
measure() {
  local name=$1 path=$2
  for _ in 1 2 3 4 5 6 7; do curl -s -o /dev/null -w '%{time_total}\n' "$url$path"; done | sort -n |
    awk -v name="$name" -v base="${BASE:-0}" '{ t[NR] = $1 * 1000 }
      END { ratio = base > 0 ? sprintf("%.2fx", t[4] / base) : "";
            printf "  %-44s %9.2f %9.2f %10s\n", name, t[4], t[1], ratio }'
}
first_ms() { curl -s -o /dev/null -w '%{time_total}\n' "$url$1" | awk '{printf "%.0f", $1 * 1000}'; }

printf '  %-44s %9s %9s %10s\n' "page (server-side, loopback)" "median ms" "best ms" "vs /subjects"
baseline=$(measure "GET /subjects (REST, baseline)" "/subjects")
echo "$baseline"
BASE=$(echo "$baseline" | awk '{print $(NF-1)}')
measure "subject list, first page of 100" "/ui/"
measure "subject list, page 50" "/ui/?page=50"
measure "subject list, name filter (s-99…)" "/ui/?q=s-99"
measure "subject list, Protobuf only" "/ui/?type=PROTOBUF"
cold=$(first_ms "/ui/?field=customer_id")
measure "field search customer_id (3 formats)" "/ui/?field=customer_id"
measure "field search added_8 (10,000 schemas)" "/ui/?field=added_8"
measure "field search field_ (every schema; capped)" "/ui/?field=field_"
cold_subject=$(first_ms "/ui/subject?s=s-42")
measure "subject page (timeline, who registered)" "/ui/subject?s=s-42"
measure "schema page" "/ui/schema?s=s-42&v=10"
measure "diff page (versions 9 and 10)" "/ui/diff?s=s-42&from=9&to=10"
echo
echo "  first field search (builds the index): ${cold} ms; first subject page (reads the audit index): ${cold_subject} ms"
echo "  RSS after: $(awk '/^VmRSS/ {printf "%.0f MB", $2 / 1024}' "/proc/$pid/status")"
