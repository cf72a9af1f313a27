#!/usr/bin/env bash
# bench/www/direct.sh -- the web appliance on our direct stack (a tap) against the same appliance on the socket
# stack (Linux TCP over a veth), measured with wrk in one run. Goal (issue 14): direct >= 0.8x socket.
#
#   namespace $NSA: wrk --- tap $TAP 10.217.0.1 --fd--> www (published -p:UnikernelNet=direct, 10.217.0.2)
#                       '-- veth $VA 10.217.1.1 ===== veth $VB 10.217.1.2 (namespace $NSB): www (socket stack)
#
# Usage (as root; Debian packages: iproute2 wrk python3 curl util-linux): bench/www/direct.sh
# Both servers serve the same directory (a small HTML file and a 100 KiB one) and run pinned to core $SERVER_CPU,
# wrk to core $CLIENT_CPU; the servers run one at a time. Printed per server and file: requests/s and requests per
# server CPU-second (utime+stime of the server process from /proc: for the direct stack that includes the tap's
# read/write system calls; for the socket stack Linux's TCP work done in softirq context is not charged to it), each
# the median of $REPS runs, and the ratios direct / socket.
# Knobs: DURATION [10] seconds per run, CONNECTIONS [50], REPS [3], SERVER_CPU [0], CLIENT_CPU [1],
# DIRECT_BIN / SOCKET_BIN (the images; published when missing), PERF_DIR (when set: perf record -g of the server
# during each case's first run, to PERF_DIR/STACK-FILE.data), STRACE=1 (strace -c -f of the server during each case's
# first run, printed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIRECT_BIN=${DIRECT_BIN:-$ROOT/examples/www/dist/unix-direct/www}
SOCKET_BIN=${SOCKET_BIN:-$ROOT/examples/www/dist/unix/www}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
REPS=${REPS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
TAG=$(printf '%x' $(( $$ % 0x100000 )))
NSA=ukwpa-$TAG
NSB=ukwpb-$TAG
TAP=ukwt$TAG
VA=ukwa$TAG
VB=ukwb$TAG
WORKDIR=$(mktemp -d /tmp/uk-www-direct-XXXXXX)
SERVER_PID=
PIDS=()

need() { command -v "$1" >/dev/null || { echo "bench/www/direct.sh: '$1' not found: install the Debian package $2 (scripts/setup.sh lists it)" >&2; exit 1; }; }
need ip iproute2
need wrk wrk
need taskset util-linux
need curl curl
need python3 python3
[ "$(id -u)" = 0 ] || { echo "bench/www/direct.sh: run as root (it creates namespaces, a tap and a veth pair)" >&2; exit 1; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$NSA" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

for net in direct socket; do
  bin=$([ $net = direct ] && echo "$DIRECT_BIN" || echo "$SOCKET_BIN")
  if [[ ! -x $bin ]]; then
    echo "bench/www/direct.sh: publishing examples/www for the $net stack (NativeAOT) ..."
    dotnet publish "$ROOT/examples/www" -c Release -p:UnikernelNet=$net -nologo -clp:NoSummary >/dev/null
  fi
  [[ -x $bin ]] || { echo "bench/www/direct.sh: no image at $bin" >&2; exit 1; }
done

. "$ROOT/bench/tcp/topology.sh"
make_links

SITE=$WORKDIR/site
. "$ROOT/bench/www/site.sh"
make_site "$SITE"

host_of() { [ "$1" = direct ] && echo 10.217.0.2 || echo 10.217.1.2; }

start_server() { # direct|socket -> SERVER_PID
  if [ "$1" = direct ]; then
    ip netns exec "$NSA" taskset -c "$SERVER_CPU" "$DIRECT_BIN" --interface "$TAP" --ipv4 10.217.0.2/24 \
      --address 10.217.0.2 --port 8080 --site "$SITE" --log-level warn > "$WORKDIR/$1.log" 2>&1 &
  else
    ip netns exec "$NSB" taskset -c "$SERVER_CPU" "$SOCKET_BIN" --address 10.217.1.2 --port 8080 --site "$SITE" \
      --log-level warn > "$WORKDIR/$1.log" 2>&1 &
  fi
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 500); do
    timeout 5 ip netns exec "$NSA" curl -sf -m 2 -o /dev/null "http://$(host_of "$1"):8080/small.html" && return 0
    sleep 0.02
  done
  echo "bench/www/direct.sh: the $1-stack server did not answer within 10 s:" >&2
  cat "$WORKDIR/$1.log" >&2
  exit 1
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# CPU ticks (utime + stime) of the server: ip netns exec execs the command, so $SERVER_PID is the appliance itself.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
TICKS=$(getconf CLK_TCK)
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "=== wrk in $NSA: $CONNECTIONS connections, ${DURATION}s x $REPS, server on core $SERVER_CPU, wrk on core $CLIENT_CPU ==="
printf '%-7s %-11s %12s %12s %16s\n' stack file requests/s cpu-seconds requests/cpu-s
declare -A RPS CPU_RPS
for net in direct socket; do
  start_server $net
  for file in small.html 100k.html; do
    url="http://$(host_of $net):8080/$file"
    timeout 30 ip netns exec "$NSA" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d1s "$url" > /dev/null # warm up
    : > "$WORKDIR/rps"; : > "$WORKDIR/cpu"; : > "$WORKDIR/percpu"; notes=
    for rep in $(seq "$REPS"); do
      probe=
      if [[ $rep = 1 && -n ${PERF_DIR:-} ]]; then
        mkdir -p "$PERF_DIR"
        timeout $((DURATION + 20)) perf record -F 2000 -g -p "$SERVER_PID" -o "$PERF_DIR/$net-$file.data" -- sleep "$DURATION" > /dev/null 2>&1 &
        probe=$!
      elif [[ $rep = 1 && ${STRACE:-0} = 1 ]]; then
        timeout $((DURATION + 20)) strace -c -f -p "$SERVER_PID" -o "$WORKDIR/strace" > /dev/null 2>&1 &
        probe=$!
      fi
      before=$(cpu_ticks "$SERVER_PID")
      out=$(timeout $((DURATION + 30)) ip netns exec "$NSA" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url")
      after=$(cpu_ticks "$SERVER_PID")
      if [[ -n $probe ]]; then
        [[ ${STRACE:-0} = 1 && -z ${PERF_DIR:-} ]] && kill -INT "$probe" 2>/dev/null
        wait "$probe" 2>/dev/null || true
        if [[ -s $WORKDIR/strace ]]; then
          echo "--- strace -c -f of the $net-stack server, $file, $(echo "$out" | awk '/requests in/ { print $1 }') requests:"
          head -12 "$WORKDIR/strace"
          rm -f "$WORKDIR/strace"
        fi
      fi
      requests=$(echo "$out" | awk '/requests in/ { print $1 }')
      echo "$out" | awk '/Requests\/sec/ { print $2 }' >> "$WORKDIR/rps"
      cpu=$(python3 -c "print(max(($after - $before) / $TICKS, 0.01))")
      echo "$cpu" >> "$WORKDIR/cpu"
      python3 -c "print(round($requests / $cpu))" >> "$WORKDIR/percpu"
      notes+=$(echo "$out" | awk '/Non-2xx|Socket errors/ { printf " [%s]", $0 }')
    done
    RPS[$net.$file]=$(median < "$WORKDIR/rps")
    CPU_RPS[$net.$file]=$(median < "$WORKDIR/percpu")
    printf '%-7s %-11s %12s %12s %16s%s\n' $net $file "${RPS[$net.$file]}" "$(median < "$WORKDIR/cpu")" "${CPU_RPS[$net.$file]}" "$notes"
  done
  stop_server
done

echo
echo "=== ratios direct / socket (goal >= 0.8) ==="
for file in small.html 100k.html; do
  python3 -c "print('%-11s requests/s %.2fx   requests per server CPU-second %.2fx' % ('$file', ${RPS[direct.$file]} / ${RPS[socket.$file]}, ${CPU_RPS[direct.$file]} / ${CPU_RPS[socket.$file]}))"
done
