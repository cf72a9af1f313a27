#!/usr/bin/env bash
# bench/tcp/iperf.sh -- examples/iperf (our iperf3 server on our direct stack, over a tap) measured by the stock iperf3
# client, next to Linux's iperf3 server over a veth pair measured in the same run; prints Gbit/s and the ratios.
#
#   namespace $NSA                                                   namespace $NSB
#   iperf3 -c --- tap $TAP 10.217.0.1 --fd--> examples/iperf (direct stack 10.217.0.2, :5201)
#            '--- veth $VA 10.217.1.1 ======= veth $VB 10.217.1.2  iperf3 -s :5201
#
# The appliance runs inside $NSA (it owns the tap's fd). Only addresses inside these namespaces are used; both are
# deleted on exit. Each test is bounded (-t, and a timeout around the client).
#
# Usage (as root; Debian packages: iproute2 iperf3 python3): bench/tcp/iperf.sh
# Knobs: DURATION [5] seconds per test, REPS [3] (cases interleaved; the table shows medians), PARALLEL [1] (-P),
# WORKDIR [mktemp], IMAGE [publish examples/iperf with -p:UnikernelNet=direct], INTERFACE_KIND [tap: with TCP
# segmentation offload; tap-no-offload: one frame per write(), for the comparison].
#
# With offload our sends (-R) move up to 64 KiB per writev() (IFF_VNET_HDR, GSO_TCPV4), as the veth case moves GSO
# super-packets; what we receive comes likewise (TUNSETOFFLOAD: GSO_TCPV4 packets of up to 64 KiB per readv()).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION=${DURATION:-5}
REPS=${REPS:-3}
PARALLEL=${PARALLEL:-1}
INTERFACE_KIND=${INTERFACE_KIND:-tap}
TAG=$(printf '%x' $(( $$ % 0x100000 )))
NSA=ukipa-$TAG
NSB=ukipb-$TAG
TAP=ukit$TAG
VA=ukia$TAG
VB=ukib$TAG
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/uk-iperf-bench-XXXXXX)}
APP_PID=
SERVER_PID=

for tool in ip iperf3 python3 timeout dotnet; do
  command -v "$tool" >/dev/null || { echo "iperf.sh: '$tool' is missing (Debian packages: iproute2 iperf3 python3 coreutils; dotnet SDK)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "iperf.sh: run as root (it creates namespaces, a tap and a veth pair)" >&2; exit 1; }

cleanup() {
  [ -n "$APP_PID" ] && kill -TERM "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  ip netns del "$NSA" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

IMAGE=${IMAGE:-}
if [ -z "$IMAGE" ]; then
  dotnet publish "$ROOT/examples/iperf" -c Release -p:UnikernelNet=direct -nologo -v q -clp:NoSummary >/dev/null
  IMAGE=$ROOT/examples/iperf/dist/unix-direct/iperf
fi

. "$ROOT/bench/tcp/topology.sh"
make_links

# Both run under `ip netns exec`, which execs them: the pids are the servers' own.
ip netns exec "$NSA" "$IMAGE" --interface "$TAP" --interface-kind "$INTERFACE_KIND" --ipv4 10.217.0.2/24 --address 10.217.0.2 --log-level warn > "$WORKDIR/app.log" 2>&1 &
APP_PID=$!
ip netns exec "$NSB" iperf3 -s -B 10.217.1.2 -p 5201 > "$WORKDIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "iperf: serving" "$WORKDIR/app.log" 2>/dev/null && break; sleep 0.1; done
grep -q "iperf: serving" "$WORKDIR/app.log" || { echo "the appliance did not start:"; cat "$WORKDIR/app.log"; exit 1; }
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/$APP_PID/stat"; }

# run CASE: prints the receiver's Gbit/s of one test (and, for the appliance, its CPU seconds per GB in $WORKDIR/cpu.CASE)
run() {
  local case=$1 address reverse=() before after
  case $case in
    fwd-direct) address=10.217.0.2 ;;
    rev-direct) address=10.217.0.2; reverse=(-R) ;;
    fwd-veth)   address=10.217.1.2 ;;
    rev-veth)   address=10.217.1.2; reverse=(-R) ;;
  esac
  [[ $case == *-direct ]] && before=$(cpu_ticks)
  timeout $((DURATION + 30)) ip netns exec "$NSA" iperf3 -c "$address" -p 5201 -t "$DURATION" -P "$PARALLEL" "${reverse[@]}" -J > "$WORKDIR/$case.json" \
    || { echo "iperf.sh: iperf3 $case failed:"; cat "$WORKDIR/$case.json"; exit 1; }
  local out
  out=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]["sum_received"]; print("%.3f %d" % (e["bits_per_second"]/1e9, e["bytes"]))' "$WORKDIR/$case.json")
  if [[ $case == *-direct ]]; then
    after=$(cpu_ticks)
    awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v b="${out#* }" 'BEGIN { printf "%.2f\n", t / hz / (b / 1e9) }' >> "$WORKDIR/cpu.$case"
  fi
  echo "${out% *}"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for rep in $(seq "$REPS"); do
  for case in fwd-direct fwd-veth rev-direct rev-veth; do
    run "$case" >> "$WORKDIR/gbps.$case"
  done
done

m() { median < "$WORKDIR/gbps.$1"; }
echo "iperf3 -c, -t $DURATION -P $PARALLEL, median of $REPS (Gbit/s, as the receiver counted); load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %10s %10s %8s %18s\n' test "direct" "veth" ratio "appliance CPU s/GB"
for dir in fwd rev; do
  d=$(m "$dir-direct"); v=$(m "$dir-veth"); cpu=$(median < "$WORKDIR/cpu.$dir-direct")
  label=$([ "$dir" = fwd ] && echo "forward (client -> server)" || echo "reverse -R (server -> client)")
  printf '%-40s %10s %10s %8s %18s\n' "$label" "$d" "$v" "$(awk -v d="$d" -v v="$v" 'BEGIN { printf "%.2f", d / v }')" "$cpu"
done
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null || true; APP_PID=
grep -v '^iperf: serving' "$WORKDIR/app.log" || true
