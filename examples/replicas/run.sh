#!/usr/bin/env bash
# Two `cpmap serve` replicas on one PostgreSQL store and one Redis, behind haproxy.
#
#   examples/replicas/run.sh            # uses PostgreSQL and Redis on 127.0.0.1
#
# Builds a workspace with a gated model in production (`cpmap demo`, a few minutes), in a
# fresh PostgreSQL schema, starts two replicas and haproxy, sends requests through haproxy,
# prints how many each outcome got, stops everything and runs `cpmap ledger verify`.
set -euo pipefail

CPMAP=${CPMAP:-cpmap}
PG=${PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
REDIS=${REDIS:-redis://127.0.0.1:6379/0}
SCHEMA=${SCHEMA:-cpmap_replicas_$$}
WORK=${WORK:-$(mktemp -d)}
REF=${REF:-digits}  # the production stage of the demo's model
PORT_A=${PORT_A:-18081} PORT_B=${PORT_B:-18082} LB_PORT=${LB_PORT:-18080}
HERE=$(cd "$(dirname "$0")" && pwd)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

export CPMAP_DATABASE_URL="$PG?options=-csearch_path%3D$SCHEMA"
export CPMAP_REDIS_URL=$REDIS
export CPMAP_WORKSPACE=$WORK/proj
echo "workspace $CPMAP_WORKSPACE, store schema $SCHEMA"

# 1. a gated model in production (the demo registers, gates, checks and promotes one);
#    an existing workspace in $WORK/proj on schema $SCHEMA is used as it is
if [ ! -d "$CPMAP_WORKSPACE/.cpmap" ]; then
    psql "${PG/+psycopg/}" -qc "CREATE SCHEMA $SCHEMA"
    $CPMAP demo -w "$CPMAP_WORKSPACE" -o "$WORK/report" > "$WORK/demo.log" 2>&1
fi

# 2. two replicas: same workspace key, same store, same Redis (limits shared)
for port in "$PORT_A" "$PORT_B"; do
    $CPMAP serve "$REF" --port "$port" > "$WORK/replica-$port.log" 2>&1 &
    PIDS+=($!)
done
for port in "$PORT_A" "$PORT_B"; do
    for _ in $(seq 120); do
        curl -sf "http://127.0.0.1:$port/v2/health/ready" > /dev/null && break
        sleep 1
    done
done

# 3. haproxy in front, health-checking /v2/health/ready
LB_PORT=$LB_PORT PORT_A=$PORT_A PORT_B=$PORT_B haproxy -f "$HERE/haproxy.cfg" -db \
    > "$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
sleep 2

# 4. one client, a limit of 20 requests a minute: 30 requests through the balancer
KEY=$($CPMAP gateway key create "example-$$" --scope infer:digits --rate 20/minute -f json \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
sleep 2  # replicas reload keys every 2 s
# 30 different real digits (held-out rows the demo wrote): the same vector 30 times, or random
# ones, are what CP8's probing detector throttles (429 "too many requests") before the limit
ROWS=${ROWS:-$CPMAP_WORKSPACE/project/retrain-batches/clean.csv}
python3 - "$ROWS" > "$WORK/bodies.jsonl" <<'PY'
import csv, json, sys
with open(sys.argv[1], newline="") as fh:
    rows = list(csv.DictReader(fh))[:30]
for r in rows:
    print(json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64],
                                  "data": [float(r[f"p{i}"]) for i in range(64)]}]}))
PY
while read -r BODY; do
    curl -s -o /dev/null -w '%{http_code}\n' -H "X-API-Key: $KEY" \
         -H 'content-type: application/json' -d "$BODY" \
         "http://127.0.0.1:$LB_PORT/v2/models/digits/infer"
done < "$WORK/bodies.jsonl" | sort | uniq -c | sed 's/^/  HTTP /'
echo "(20 accepted in all, whichever replica answered: the count is in Redis)"

# 5. stop the replicas (SIGTERM flushes the prediction log) and verify the shared ledger
cleanup
PIDS=()
$CPMAP ledger verify
echo "logs in $WORK; drop the schema with: psql ${PG/+psycopg/} -c 'DROP SCHEMA $SCHEMA CASCADE'"
