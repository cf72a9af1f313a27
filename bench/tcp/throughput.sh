#!/usr/bin/env bash
# bench/tcp/throughput.sh -- bulk TCP throughput of our direct stack against Linux over a tap, both directions, next to
# Linux <-> Linux over a veth pair measured in the same run; prints Mbit/s, the ratios, and our CPU seconds per GiB.
#
#   namespace $NSA                                                 namespace $NSB
#   socat clients --- tap $TAP 10.217.0.1 --fd--> TcpBench (direct stack 10.217.0.2, sink :5201, source :5202)
#                 '-- veth $VA 10.217.1.1 ======= veth $VB 10.217.1.2  socat sink :5201, source :5202
#
# TcpBench runs inside $NSA (it owns the tap's fd). Only addresses inside these namespaces are used; both are deleted
# on exit. Each transfer is bounded (timeout).
#
# Usage (as root; Debian packages: iproute2 socat coreutils): bench/tcp/throughput.sh
# Knobs: BYTES [268435456] per transfer, REPS [3] (cases interleaved; the table shows medians), WORKDIR [mktemp].
#
# The tap has TCP segmentation offload (our sends move up to 64 KiB per writev(), as the veth's GSO packets); what we
# receive likewise comes in GSO_TCPV4 packets of up to 64 KiB per readv() (receive offload, TUNSETOFFLOAD).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BYTES=${BYTES:-268435456}
REPS=${REPS:-3}
TAG=$(printf '%x' $(( $$ % 0x100000 )))
NSA=uktpa-$TAG
NSB=uktpb-$TAG
TAP=uktt$TAG
VA=ukta$TAG
VB=uktb$TAG
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/uk-tcp-bench-XXXXXX)}
BENCH_PID=
SERVER_PIDS=()

for tool in ip socat timeout head dotnet; do
  command -v "$tool" >/dev/null || { echo "throughput.sh: '$tool' is missing (Debian packages: iproute2 socat coreutils; dotnet SDK)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "throughput.sh: run as root (it creates namespaces, a tap and a veth pair)" >&2; exit 1; }

cleanup() {
  [ -n "$BENCH_PID" ] && kill -TERM "$BENCH_PID" 2>/dev/null && wait "$BENCH_PID" 2>/dev/null || true
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  ip netns del "$NSA" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

. "$ROOT/bench/tcp/topology.sh"
make_topology

ip netns exec "$NSA" "$WORKDIR/bin/TcpBench" --interface "$TAP" --ipv4 10.217.0.2/24 --bytes "$BYTES" --seconds 1800 > "$WORKDIR/bench.log" 2>&1 &
BENCH_PID=$!
wait_ready "$WORKDIR/bench.log"
# TcpBench runs under `ip netns exec`, which execs it: the pid is the benchmark's own.
ip netns exec "$NSB" socat -u TCP-LISTEN:5201,reuseaddr,fork OPEN:/dev/null & SERVER_PIDS+=($!)
ip netns exec "$NSB" socat -U TCP-LISTEN:5202,reuseaddr,fork SYSTEM:"head -c $BYTES /dev/zero" & SERVER_PIDS+=($!)
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/$BENCH_PID/stat"; }
now_ns() { date +%s%N; }

# run CASE: prints Mbit/s of one transfer (and, for our stack, CPU seconds per GiB in $WORKDIR/cpu.CASE)
run() {
  local case=$1 start end before after
  before=$(cpu_ticks)
  start=$(now_ns)
  case $case in
    in-direct)  head -c "$BYTES" /dev/zero | timeout 300 ip netns exec "$NSA" socat -u - TCP:10.217.0.2:5201 ;;
    out-direct) timeout 300 ip netns exec "$NSA" socat -u TCP:10.217.0.2:5202 - | wc -c > "$WORKDIR/count" ;;
    in-veth)    head -c "$BYTES" /dev/zero | timeout 300 ip netns exec "$NSA" socat -u - TCP:10.217.1.2:5201 ;;
    out-veth)   timeout 300 ip netns exec "$NSA" socat -u TCP:10.217.1.2:5202 - | wc -c > "$WORKDIR/count" ;;
  esac
  end=$(now_ns)
  after=$(cpu_ticks)
  if [[ $case == out-* ]] && [ "$(cat "$WORKDIR/count")" != "$BYTES" ]; then
    echo "throughput.sh: $case moved $(cat "$WORKDIR/count") bytes, not $BYTES" >&2; exit 1
  fi
  awk -v b="$BYTES" -v ns=$((end - start)) 'BEGIN { printf "%.0f\n", b * 8 / (ns / 1e9) / 1e6 }'
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v b="$BYTES" 'BEGIN { printf "%.2f\n", t / hz / (b / 1073741824) }' >> "$WORKDIR/cpu.$case"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for rep in $(seq "$REPS"); do
  for case in in-direct in-veth out-direct out-veth; do
    run "$case" >> "$WORKDIR/mbps.$case"
  done
done

m() { median < "$WORKDIR/mbps.$1"; }
echo "bulk TCP, $BYTES bytes per transfer, median of $REPS (Mbit/s)"
printf '%-34s %10s %10s %8s %14s\n' direction "direct" "veth" ratio "direct CPU s/GiB"
for dir in in out; do
  d=$(m "$dir-direct"); v=$(m "$dir-veth"); cpu=$(median < "$WORKDIR/cpu.$dir-direct")
  label=$([ "$dir" = in ] && echo "Linux -> us (us: receiver)" || echo "us -> Linux (us: sender)")
  printf '%-34s %10s %10s %8s %14s\n' "$label" "$d" "$v" "$(awk -v d="$d" -v v="$v" 'BEGIN { printf "%.2f", d / v }')" "$cpu"
done
kill -TERM "$BENCH_PID"; wait "$BENCH_PID" 2>/dev/null || true; BENCH_PID=
grep -v '^sink:' "$WORKDIR/bench.log" | grep -v ready || true
