#!/usr/bin/env bash
# bench/tcp/iperf-packet.sh -- examples/iperf on the direct stack over AF_PACKET TPACKET_V2 rings on a veth end
# (--interface-kind packet; that veth's offloads off, since our stack takes MTU-sized frames only), measured by the
# stock iperf3 client, next to Linux's iperf3 server over a second veth (offloads on) in the same run. Prints each
# run's Gbit/s (receiver's count), forward and -R. Namespaces ukp{a,b,c}TAG are made and deleted on exit.
# Usage (root; Debian iproute2 iperf3 ethtool python3): bench/tcp/iperf-packet.sh   Knobs: DURATION [4], REPS [3],
# IMAGE [examples/iperf/dist/unix-direct/iperf, published first if missing].
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMG=${IMAGE:-$ROOT/examples/iperf/dist/unix-direct/iperf}
[ -x "$IMG" ] || dotnet publish "$ROOT/examples/iperf" -c Release -p:UnikernelNet=direct -nologo -v q -clp:NoSummary >/dev/null
T=$(printf '%x' $(( $$ % 0x10000 )))
NA=ukpa$T; NB=ukpb$T; NC=ukpc$T
cleanup() { for p in $(jobs -p); do kill $p 2>/dev/null || true; done; wait 2>/dev/null; ip netns del $NA 2>/dev/null; ip netns del $NB 2>/dev/null; ip netns del $NC 2>/dev/null; true; }
trap cleanup EXIT
ip netns add $NA; ip netns add $NB; ip netns add $NC
# packet case: A(client) vpa -- vpb (B, appliance owns it via AF_PACKET)
ip link add vpa$T netns $NA type veth peer name vpb$T netns $NB
ip -n $NA addr add 10.219.0.1/24 dev vpa$T; ip -n $NA link set vpa$T up; ip -n $NA link set lo up; ip -n $NB link set vpb$T up
ip netns exec $NA ethtool -K vpa$T tso off gso off gro off tx off >/dev/null 2>&1 || true
ip netns exec $NB ethtool -K vpb$T tso off gso off gro off tx off >/dev/null 2>&1 || true
# linux case: A vla -- vlb (C, iperf3 -s)
ip link add vla$T netns $NA type veth peer name vlb$T netns $NC
ip -n $NA addr add 10.219.1.1/24 dev vla$T; ip -n $NA link set vla$T up
ip -n $NC addr add 10.219.1.2/24 dev vlb$T; ip -n $NC link set vlb$T up; ip -n $NC link set lo up
ip netns exec $NB $IMG --interface-kind packet --interface vpb$T --ipv4 10.219.0.2/24 --address 10.219.0.2 --log-level warn > /dev/null 2>&1 &
ip netns exec $NC iperf3 -s -B 10.219.1.2 > /dev/null 2>&1 &
sleep 1.5
for r in $(seq 1 "${REPS:-3}"); do
  for case in packet linux; do
    addr=10.219.0.2; [ $case = linux ] && addr=10.219.1.2
    for dir in "" "-R"; do
      g=$(ip netns exec $NA timeout 20 iperf3 -c $addr -t ${DURATION:-4} $dir -J 2>/dev/null | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' || echo fail)
      echo "rep $r $case ${dir:-fwd}: $g Gbit/s"
    done
  done
done
