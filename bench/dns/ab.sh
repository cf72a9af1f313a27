#!/usr/bin/env bash
# bench/dns/ab.sh -- A/B of DNS server commands in one run: queries per server CPU-second at a fixed dnsperf load,
# candidates interleaved (A B C A B C ...), medians printed. For comparing two builds (or settings) of the appliance
# on a busy machine, where the shared harness's absolute figures move with the load; not a test.
#
#   bench/dns/ab.sh 'CMD_A' 'CMD_B' [...]     each CMD is run as: bash -c "exec env CMD --address 127.0.0.1 --port P --zone Z"
#   e.g. bench/dns/ab.sh 'old/dns' 'UNIKERNEL_UDP_COALESCE_US=0 new/dns' 'new/dns'
#
# Each server is pinned to core $SERVER_CPU, dnsperf to $CLIENT_CPU; loopback only; every run bounded by timeout.
# The zone and queries are the shared harness's (../shared/bench/dns-anchors.sh GEN_ONLY=...).
# Knobs: REPS (5), RUN_LEN (8 s), CLIENTS (2), OUTSTANDING (200), MAX_QPS (unset: as fast as dnsperf can; else a fixed
# rate, dnsperf -Q), PORT (15390), SERVER_CPU (0), CLIENT_CPU (1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/dns-anchors.sh}
REPS=${REPS:-5}
RUN_LEN=${RUN_LEN:-8}
CLIENTS=${CLIENTS:-2}
OUTSTANDING=${OUTSTANDING:-200}
MAX_QPS=${MAX_QPS:-}
RATE=()
[[ -n $MAX_QPS ]] && RATE=(-Q "$MAX_QPS")
PORT=${PORT:-15390}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
(($# >= 1)) || { echo "usage: $0 'CMD_A' ['CMD_B' ...]" >&2; exit 1; }
command -v dnsperf >/dev/null || { echo "dnsperf not found (Debian package dnsperf)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/dns-ab.XXXXXX)
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
GEN_ONLY=$WORK bash "$HARNESS" >/dev/null 2>&1 || { echo "could not generate the zone with $HARNESS" >&2; exit 1; }
TICKS=$(getconf CLK_TCK)

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

echo "== $# candidates, $REPS interleaved runs of ${RUN_LEN} s, dnsperf -c $CLIENTS -q $OUTSTANDING ${RATE[*]}; load: $(uptime | sed 's/.*load average: //')"
for ((rep = 1; rep <= REPS; rep++)); do
  for ((k = 1; k <= $#; k++)); do
    cmd=${!k}
    taskset -c "$SERVER_CPU" bash -c "exec env $cmd --address 127.0.0.1 --port $PORT --zone $WORK/example.org.zone --log-level warn" >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 200); do
      dig +time=1 +tries=1 +short @127.0.0.1 -p "$PORT" example.org SOA >/dev/null 2>&1 && break
      sleep 0.05
    done
    before=$(ticks "$PID")
    out=$(taskset -c "$CLIENT_CPU" timeout $((RUN_LEN + 20)) dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries.txt" -l "$RUN_LEN" -c "$CLIENTS" -q "$OUTSTANDING" "${RATE[@]}" 2>&1)
    after=$(ticks "$PID")
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    completed=$(echo "$out" | awk '/Queries completed/ { print $3 }')
    lost=$(echo "$out" | awk '/Queries lost/ { print $3 }')
    qps=$(echo "$out" | awk '/Queries per second/ { print $4 }')
    per_cpu=$(awk -v q="$completed" -v t=$((after - before)) -v hz="$TICKS" 'BEGIN { printf "%.0f", (t > 0) ? q / (t / hz) : 0 }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$k" "$qps" "$lost" "$per_cpu" "$(uptime | sed 's/.*load average: //; s/,.*//')" >>"$WORK/results"
    printf 'run %d  candidate %d  qps %8.0f  lost %s  queries/server-CPU-s %8s  load %s\n' "$rep" "$k" "$qps" "$lost" "$per_cpu" "$(uptime | sed 's/.*load average: //; s/,.*//')"
  done
done
echo "== medians"
for ((k = 1; k <= $#; k++)); do
  m() { awk -F'\t' -v k="$k" -v c="$1" '$1 == k { print $c }' "$WORK/results" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
  printf 'candidate %d: qps %8.0f  queries/server-CPU-s %8.0f  lost (sum) %s   %s\n' "$k" "$(m 2)" "$(m 4)" "$(awk -F'\t' -v k="$k" '$1 == k { s += $3 } END { print s + 0 }' "$WORK/results")" "${!k}"
done
