#!/usr/bin/env bash
# bench/tcp/connections.sh -- connections per second (connect, one 1-byte request and its echo, close) from a Linux
# client against our direct stack on a tap, against the socket stack (the same TcpBench with --socket) over a veth in
# the same run; then the memory of 1,000 idle connections held open on each (VmRSS growth and peak, VmHWM).
#
#   namespace $NSA: python client --- tap $TAP 10.217.0.1 --fd--> TcpBench (direct stack, 10.217.0.2)
#                                 '-- veth $VA 10.217.1.1 ===== veth $VB 10.217.1.2 (namespace $NSB): TcpBench --socket
#
# Usage (as root; Debian packages: iproute2 python3): bench/tcp/connections.sh
# Knobs: COUNT [3000] connections per run, REPS [3] (the table shows medians), IDLE [1000] idle connections,
# TAG [from the PID] names the namespaces and links (ukcpa-TAG, ukctTAG, ...; at most 6 characters).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COUNT=${COUNT:-3000}
REPS=${REPS:-3}
IDLE=${IDLE:-1000}
TAG=${TAG:-$(printf '%x' $(( $$ % 0x100000 )))}
NSA=ukcpa-$TAG
NSB=ukcpb-$TAG
TAP=ukct$TAG
VA=ukca$TAG
VB=ukcb$TAG
WORKDIR=$(mktemp -d /tmp/uk-tcp-conn-XXXXXX)
PIDS=()

for tool in ip python3 timeout dotnet; do
  command -v "$tool" >/dev/null || { echo "connections.sh: '$tool' is missing (Debian packages: iproute2 python3; dotnet SDK)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "connections.sh: run as root (it creates namespaces, a tap and a veth pair)" >&2; exit 1; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$NSA" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

. "$ROOT/bench/tcp/topology.sh"
make_topology

ip netns exec "$NSA" "$WORKDIR/bin/TcpBench" --interface "$TAP" --ipv4 10.217.0.2/24 --seconds 1800 > "$WORKDIR/direct.log" 2>&1 &
DIRECT_PID=$!; PIDS+=("$DIRECT_PID")
ip netns exec "$NSB" "$WORKDIR/bin/TcpBench" --socket --seconds 1800 > "$WORKDIR/socket.log" 2>&1 &
SOCKET_PID=$!; PIDS+=("$SOCKET_PID")
wait_ready "$WORKDIR/direct.log"
wait_ready "$WORKDIR/socket.log"

cat > "$WORKDIR/client.py" <<'PY'
import socket, sys, time
host, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "cps":
    start = time.monotonic()
    for _ in range(count):
        s = socket.create_connection((host, 5203), timeout=5)
        s.sendall(b"x")
        if s.recv(1) != b"x":
            sys.exit("bad echo")
        s.close()
    print("%.0f" % (count / (time.monotonic() - start)))
else:
    held = [socket.create_connection((host, 5204), timeout=5) for _ in range(count)]
    time.sleep(2)
    print(len(held))
    sys.stdout.flush()
    sys.stdin.readline()
PY

# Memory first, while the heap is still small (the connection churn below grows it).
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
echo "memory of $IDLE idle connections (KiB; VmRSS before -> after, growth per connection; VmHWM)"
for which in direct socket; do
  pid=$([ "$which" = direct ] && echo "$DIRECT_PID" || echo "$SOCKET_PID")
  host=$([ "$which" = direct ] && echo 10.217.0.2 || echo 10.217.1.2)
  before=$(rss "$pid")
  mkfifo "$WORKDIR/hold.$which"
  (timeout 120 ip netns exec "$NSA" python3 "$WORKDIR/client.py" "$host" idle "$IDLE" < "$WORKDIR/hold.$which" > "$WORKDIR/held.$which") &
  holder=$!
  exec 9> "$WORKDIR/hold.$which"
  for _ in $(seq 600); do [ -s "$WORKDIR/held.$which" ] && break; sleep 0.1; done
  after=$(rss "$pid")
  printf '  %-6s %8s -> %8s  (%s KiB/connection; VmHWM %s)  held %s\n' "$which" "$before" "$after" \
    "$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f", (a - b) / n }')" "$(hwm "$pid")" "$(cat "$WORKDIR/held.$which")"
  echo >&9; exec 9>&-
  wait "$holder" || true
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for rep in $(seq "$REPS"); do
  timeout 300 ip netns exec "$NSA" python3 "$WORKDIR/client.py" 10.217.0.2 cps "$COUNT" >> "$WORKDIR/cps.direct"
  timeout 300 ip netns exec "$NSA" python3 "$WORKDIR/client.py" 10.217.1.2 cps "$COUNT" >> "$WORKDIR/cps.socket"
done
d=$(median < "$WORKDIR/cps.direct"); s=$(median < "$WORKDIR/cps.socket")
echo "connections/s (connect, 1-byte request and echo, close; $COUNT per run, median of $REPS)"
printf '  direct stack %8s   socket stack %8s   ratio %s\n' "$d" "$s" "$(awk -v d="$d" -v s="$s" 'BEGIN { printf "%.2f", d / s }')"

