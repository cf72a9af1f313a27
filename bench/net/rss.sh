#!/usr/bin/env bash
# bench/net/rss.sh -- resident memory (VmRSS) of examples/dns over our direct stack (on a tap) against the same
# appliance over host sockets, in one run: idle after start, and after QUERIES dig queries. Prints both and the ratio.
#
# Everything runs in one network namespace made here (a tap 10.217.0.1/24 for the direct build at 10.217.0.2; the
# socket build listens on the namespace's loopback); nothing outside it is touched and it is deleted at the end.
# Usage (as root; Debian packages: iproute2 bind9-dnsutils): bench/net/rss.sh
# Knobs: QUERIES [2000], DIRECT_BIN, SOCKET_BIN (default examples/dns/dist/unix-direct/dns and examples/dns/dist/unix/dns,
# as tests/Unikernel.EndToEnd.Tests publishes them; publish with
#   dotnet publish examples/dns -c Release -r linux-x64 -p:UnikernelNet=direct -o examples/dns/dist/unix-direct).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QUERIES=${QUERIES:-2000}
DIRECT_BIN=${DIRECT_BIN:-$ROOT/examples/dns/dist/unix-direct/dns}
SOCKET_BIN=${SOCKET_BIN:-$ROOT/examples/dns/dist/unix/dns}
TAG=$(printf '%x' $(( $$ % 0x100000 )))
NS=ukrss-$TAG
TAP=ukr$TAG
WORK=$(mktemp -d)

for tool in ip dig; do
  command -v "$tool" >/dev/null || { echo "rss.sh: '$tool' is missing (Debian packages: iproute2, bind9-dnsutils)" >&2; exit 1; }
done
for bin in "$DIRECT_BIN" "$SOCKET_BIN"; do
  [ -x "$bin" ] || { echo "rss.sh: $bin is missing: publish examples/dns first (see the header)" >&2; exit 1; }
done

# shellcheck source=lib.sh
source "$ROOT/bench/net/lib.sh"
make_tap_namespace 10.217.0.1/24
for i in $(seq 0 $((QUERIES - 1))); do echo "q$i.apps.example.org A"; done > "$WORK/queries"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# measure NAME SERVER_ADDRESS ARGS...: starts the appliance in the namespace, waits until it serves, prints "idle loaded" kB.
measure() {
  local name=$1 server=$2; shift 2
  ip netns exec "$NS" "$@" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_serving "$WORK/$name.log"
  ip netns exec "$NS" timeout 20 dig @"$server" +time=2 +tries=3 host1.example.org A > /dev/null
  sleep 1
  local idle; idle=$(rss "$pid")
  local answered
  answered=$(ip netns exec "$NS" timeout 300 dig @"$server" +time=2 +tries=2 +noall +answer -f "$WORK/queries" | grep -cE 'IN[[:space:]]+A[[:space:]]' || true)
  sleep 1
  local loaded; loaded=$(rss "$pid")
  kill "$pid"; timeout 10 tail --pid="$pid" -f /dev/null || kill -9 "$pid"
  echo "$idle $loaded $answered"
}

# (Not in a subshell: the started appliance must be in PIDS for the clean-up if anything fails.)
measure direct 10.217.0.2 "$DIRECT_BIN" --interface "$TAP" --ipv4 10.217.0.2/24 --address 10.217.0.2 --port 53 > "$WORK/direct.out"
measure socket 127.0.0.1 "$SOCKET_BIN" --address 127.0.0.1 --port 53 > "$WORK/socket.out"
read -r direct_idle direct_loaded direct_answered < "$WORK/direct.out"
read -r socket_idle socket_loaded socket_answered < "$WORK/socket.out"

printf '%-8s %10s %12s %9s\n' build "idle kB" "after $QUERIES q" answered
printf '%-8s %10s %12s %9s\n' direct "$direct_idle" "$direct_loaded" "$direct_answered"
printf '%-8s %10s %12s %9s\n' socket "$socket_idle" "$socket_loaded" "$socket_answered"
awk -v di="$direct_idle" -v dl="$direct_loaded" -v si="$socket_idle" -v sl="$socket_loaded" \
  'BEGIN { printf "direct/socket RSS: idle %.2fx, after load %.2fx\n", di / si, dl / sl }'
