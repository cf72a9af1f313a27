#!/usr/bin/env bash
# bench/www/ab.sh -- web appliance images (and h2o) interleaved round by round: requests per server CPU-second.
#
#   bench/www/ab.sh IMAGE [IMAGE...] [h2o]      (from anywhere; not a test)
#
# Each round starts every server in turn (pinned to core $SERVER_CPU, on loopback, serving the bench site), warms it
# up for 1 s with wrk, measures $DURATION s of `wrk -t1 -c$CONNECTIONS` (pinned to core $CLIENT_CPU) on $FILE, and
# stops it. Printed per run: requests/s, the server's CPU ticks (utime+stime from /proc), requests per CPU-second and
# the load average; then, per server, the median over $ROUNDS rounds and, when h2o is in the list, the per-round
# ratios to h2o. Interleaving is what makes an A/B readable on a shared machine: the servers see the same load.
# Knobs: ROUNDS (4), DURATION (4), CONNECTIONS (50), FILE (small.html), SERVER_CPU (0), CLIENT_CPU (1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-4}
CONNECTIONS=${CONNECTIONS:-50}
FILE=${FILE:-small.html}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
[[ $# -gt 0 ]] || { echo "usage: bench/www/ab.sh IMAGE [IMAGE...] [h2o]" >&2; exit 2; }
for tool in wrk taskset curl python3; do command -v $tool >/dev/null || { echo "bench/www/ab.sh: '$tool' not found (scripts/setup.sh lists it)" >&2; exit 1; }; done

WORK=$(mktemp -d /tmp/www-ab.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

. "$ROOT/bench/www/site.sh"
make_site "$WORK/site"
chmod -R a+rX "$WORK/site"
mkdir -p "$WORK/h2o"
chown nobody "$WORK/h2o" 2>/dev/null || true
cat >"$WORK/h2o.conf" <<EOF
user: nobody
num-threads: 1
error-log: $WORK/h2o/error.log
listen:
  host: 127.0.0.1
  port: 18282
hosts:
  default:
    paths:
      /:
        file.dir: $WORK/site
EOF

TICKS=$(getconf CLK_TCK)
cpu_ticks() {
  local total=0 pid
  for pid in $1 $(pgrep -P "$1" 2>/dev/null || true); do
    [[ -r /proc/$pid/stat ]] && total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}

declare -A PER_CPU
printf '%-6s %-24s %12s %10s %16s %6s\n' round server requests/s cpu-ticks requests/cpu-s load
for round in $(seq "$ROUNDS"); do
  for server in "$@"; do
    if [[ $server == h2o ]]; then
      taskset -c "$SERVER_CPU" h2o -c "$WORK/h2o.conf" >/dev/null 2>&1 &
      port=18282
    else
      taskset -c "$SERVER_CPU" "$server" --address 127.0.0.1 --port 18280 --site "$WORK/site" --log-level warn >/dev/null 2>&1 &
      port=18280
    fi
    SERVER_PID=$!
    for _ in $(seq 500); do curl -sf -o /dev/null "http://127.0.0.1:$port/small.html" && break; sleep 0.02; done
    url="http://127.0.0.1:$port/$FILE"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d1s "$url" >/dev/null
    before=$(cpu_ticks "$SERVER_PID")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url")
    after=$(cpu_ticks "$SERVER_PID")
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    per_cpu=$(python3 -c "print(round($requests / max(($after - $before) / $TICKS, 0.01)))")
    PER_CPU[$round.$server]=$per_cpu
    printf '%-6s %-24s %12s %10s %16s %6s\n' "$round" "$(basename "$server")" "$rps" "$((after - before))" "$per_cpu" "$(cut -d' ' -f1 /proc/loadavg)"
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  done
done

echo
echo "=== medians over $ROUNDS rounds ($FILE, requests per server CPU-second) ==="
for server in "$@"; do
  values=$(for round in $(seq "$ROUNDS"); do echo "${PER_CPU[$round.$server]}"; done | tr '\n' ' ')
  ratios=
  if [[ " $* " == *" h2o "* && $server != h2o ]]; then
    ratios=$(for round in $(seq "$ROUNDS"); do python3 -c "print('%.2f' % (${PER_CPU[$round.$server]} / ${PER_CPU[$round.h2o]}))"; done | tr '\n' ' ')
    ratios="  / h2o per round: $ratios(median $(echo "$ratios" | tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'))"
  fi
  median=$(echo "$values" | tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  printf '%-24s median %10s%s\n' "$(basename "$server")" "$median" "$ratios"
done
