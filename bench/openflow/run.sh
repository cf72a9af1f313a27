#!/usr/bin/env bash
# bench/openflow/run.sh -- cbench-style controller benchmark: our openflow-controller appliance (NativeAOT, unix,
# socket stack) against ovs-testcontroller (Debian openvswitch-testcontroller), in the same run, with the same load
# generator (bench/openflow/Program.cs: N emulated switches send packet_in for M MACs; flow_mod answers per second, in
# throughput and latency modes). Loopback only; every run bounded by `timeout`. Not a test. Besides flow_mod/s and
# flow_mods per controller CPU-second, each mode prints the generator's own CPU share over the measured window: near
# 100% of its core, the generator (not the controller) limits the figure. With POLLER=single the generator is one
# epoll loop (one recv and one send per message and switch, nothing allocated per message).
#
# Usage (as root or not; from anywhere):
#   bench/openflow/run.sh                  # SWITCHES=16 MACS=1000 RUN_SECONDS=10 REPS=3
#   SWITCHES=32 MACS=10000 RUN_SECONDS=5 REPS=1 bench/openflow/run.sh
#   POLLER=single bench/openflow/run.sh    # the load generator reads every switch from one epoll loop (as cbench)
#   MODES=latency bench/openflow/run.sh    # one mode only
#   NET=direct bench/openflow/run.sh       # (root) ours published with -p:UnikernelNet=direct on a tap (10.217.0.2) in a
#                                          # namespace the script makes; the load generator and ovs-testcontroller run
#                                          # in that namespace too (ovs-testcontroller still on its loopback)
#   NET=packet bench/openflow/run.sh       # (root) ours on the direct stack over --interface-kind packet (AF_PACKET rings) on
#                                          # one end of a veth pair in a second namespace (10.217.0.2); the generator and
#                                          # ovs-testcontroller as with NET=direct
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SWITCHES=${SWITCHES:-16}
MACS=${MACS:-1000}
RUN_SECONDS=${RUN_SECONDS:-10}
REPS=${REPS:-3}
PORT_OURS=${PORT_OURS:-16653}
PORT_OVS=${PORT_OVS:-16654}
NET=${NET:-socket}
POLLER=${POLLER:-threads} # the load generator's readers: threads (one per switch) or single (one epoll loop)
MODES=${MODES:-throughput latency} # MODES=latency runs one mode
# Both controllers pinned to SERVER_CPU and the load generator to CLIENT_CPU (as bench/www and the DNS harness do).
# Unpinned, the scheduler sometimes puts a controller on the generator's core (a ping-pong there skips the cross-core
# wake-up) and sometimes not, and single latency runs of the same controller differed by 2x. PIN=0 turns it off.
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PIN=${PIN:-1}
case "$NET" in socket | direct | packet) ;; *) echo "NET must be socket, direct or packet" >&2; exit 2 ;; esac
BUILD_NET=$NET; [ "$NET" = packet ] && BUILD_NET=direct

command -v ovs-testcontroller >/dev/null || { echo "ovs-testcontroller not found (Debian package openvswitch-testcontroller)" >&2; exit 1; }

echo "== building the load generator and publishing the controller appliance"
dotnet build "$ROOT/bench/openflow" -c Release -nologo -clp:NoSummary -v q >/dev/null
(cd "$ROOT/examples/openflow-controller" && dotnet publish -c Release "-p:UnikernelNet=$BUILD_NET" -nologo -clp:NoSummary -v q >/dev/null)
BENCH=${BENCH:-$ROOT/bench/openflow/bin/Release/net10.0/OfBench} # BENCH= another build of the generator (A/B)
DIST=unix
[ "$NET" = socket ] || DIST=unix-$BUILD_NET
OURS=${OURS:-$ROOT/examples/openflow-controller/dist/$DIST/openflow-controller} # OURS= another build of the appliance (A/B)
WORK=$(mktemp -d /tmp/openflow-bench.XXXXXX)
pids=()
IN=() # the command prefix that runs a program where the controllers are
IN_OURS=() # where ours runs (NET=packet: the second namespace)
NS=ofbench$$
NS_OURS=ofbenchs$$
TAP=ofbt$$
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ "$NET" != socket ]; then
    ip -n "$NS" link del "$TAP" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    if ip netns list | grep -qw "$NS"; then echo "clean-up failed: namespace $NS is still there" >&2; fi
  fi
  if [ "$NET" = packet ]; then
    ip netns del "$NS_OURS" 2>/dev/null || true
    if ip netns list | grep -qw "$NS_OURS"; then echo "clean-up failed: namespace $NS_OURS is still there" >&2; fi
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

OURS_ADDRESS=127.0.0.1
OURS_ARGS=()
if [ "$NET" = direct ]; then
  [ "$(id -u)" = 0 ] && [ -e /dev/net/tun ] || { echo "NET=direct needs root and /dev/net/tun" >&2; exit 1; }
  command -v ip >/dev/null || { echo "ip not found (Debian package iproute2)" >&2; exit 1; }
  ip netns add "$NS"
  IN=(ip netns exec "$NS")
  "${IN[@]}" ip link set lo up
  "${IN[@]}" ip tuntap add dev "$TAP" mode tap
  "${IN[@]}" sysctl -q -w "net.ipv6.conf.$TAP.disable_ipv6=1"
  "${IN[@]}" ip addr add 10.217.0.1/24 dev "$TAP"
  "${IN[@]}" ip link set "$TAP" up
  OURS_ADDRESS=10.217.0.2
  OURS_ARGS=(--interface "$TAP" --ipv4 "$OURS_ADDRESS/24")
  IN_OURS=("${IN[@]}")
elif [ "$NET" = packet ]; then
  [ "$(id -u)" = 0 ] || { echo "NET=packet needs root" >&2; exit 1; }
  command -v ip >/dev/null || { echo "ip not found (Debian package iproute2)" >&2; exit 1; }
  ip netns add "$NS"
  ip netns add "$NS_OURS"
  IN=(ip netns exec "$NS")
  IN_OURS=(ip netns exec "$NS_OURS")
  "${IN[@]}" ip link set lo up
  # $TAP is the veth end the generator reaches ours through; its peer (no address: the kernel must not answer for
  # ours) is ours, in the second namespace.
  "${IN[@]}" ip link add "$TAP" type veth peer name "${TAP}s" netns "$NS_OURS"
  "${IN[@]}" sysctl -q -w "net.ipv6.conf.$TAP.disable_ipv6=1"
  "${IN_OURS[@]}" sysctl -q -w "net.ipv6.conf.${TAP}s.disable_ipv6=1"
  # Offloads off on both ends (as bench/tcp/iperf-packet.sh): our stack takes MTU-sized frames only, and a 64 KiB GSO
  # frame from the generator's kernel would be dropped as oversized, stalling that switch until Linux retransmits.
  command -v ethtool >/dev/null || { echo "ethtool not found (Debian package ethtool)" >&2; exit 1; }
  "${IN[@]}" ethtool -K "$TAP" tso off gso off gro off >/dev/null 2>&1 || true
  "${IN_OURS[@]}" ethtool -K "${TAP}s" tso off gso off gro off >/dev/null 2>&1 || true
  "${IN[@]}" ip addr add 10.217.0.1/24 dev "$TAP"
  "${IN[@]}" ip link set "$TAP" up
  "${IN_OURS[@]}" ip link set "${TAP}s" up
  OURS_ADDRESS=10.217.0.2
  OURS_ARGS=(--interface "${TAP}s" --interface-kind packet --ipv4 "$OURS_ADDRESS/24")
fi

ON_SERVER=(); ON_CLIENT=()
if [ "$PIN" = 1 ]; then ON_SERVER=(taskset -c "$SERVER_CPU"); ON_CLIENT=(taskset -c "$CLIENT_CPU"); fi

"${IN_OURS[@]}" "${ON_SERVER[@]}" "$OURS" "${OURS_ARGS[@]}" --address "$OURS_ADDRESS" --port "$PORT_OURS" --log-level warn >"$WORK/ours.log" 2>&1 &
pids+=($!)
OVS_RUNDIR=$WORK OVS_LOGDIR=$WORK OVS_DBDIR=$WORK "${IN[@]}" "${ON_SERVER[@]}" ovs-testcontroller --unixctl="$WORK/testcontroller.ctl" "ptcp:$PORT_OVS:127.0.0.1" >"$WORK/ovs.log" 2>&1 &
pids+=($!)
sleep 1

PID_OURS=${pids[0]}
PID_OVS=${pids[1]}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of the controller process, all threads
TICKS=$(getconf CLK_TCK)

run() { # controller-address controller-port mode pid -> "flow_mods-per-second flow_mods-per-controller-CPU-second generator-CPU-%"
  local before after out gen
  before=$(cpu_ticks "$4")
  out=$(timeout $((RUN_SECONDS + 60)) "${IN[@]}" "${ON_CLIENT[@]}" "$BENCH" --controller "$1:$2" --switches "$SWITCHES" --macs "$MACS" --mode "$3" --seconds "$RUN_SECONDS" --poller "$POLLER" \
    | tee -a "$WORK/results")
  after=$(cpu_ticks "$4")
  gen=$(sed -n 's/.*generator_cpu=\([0-9]*\)%.*/\1/p' <<<"$out")
  retries=$(sed -n 's/.* retries=\([0-9]*\).*/\1/p' <<<"$out")
  # In latency mode a switch that waited 100 ms for an answer sends another packet_in (and forgets the first): the
  # controller or the path to it lost or held a message, which the figure then includes.
  if [ "$3" = latency ] && [ "${retries:-0}" -gt 0 ]; then echo "warning: $retries packet_in re-sent after 100 ms without an answer (controller at $1:$2)" >&2; fi
  out=$(sed -n 's/.*flow_mods_per_s=\([0-9]*\).*/\1/p' <<<"$out")
  # flow_mods counted over RUN_SECONDS; the controller's CPU over the same run (plus the generator's connect and
  # tear-down, which both controllers pay alike)
  awk -v r="$out" -v s="$RUN_SECONDS" -v t=$((after - before)) -v hz="$TICKS" -v g="${gen:-0}" \
    'BEGIN { printf "%d %d %d\n", r, (t > 0) ? r * s / (t / hz) : 0, g }'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "== net $NET, generator poller $POLLER, pinned $([ "$PIN" = 1 ] && echo "controllers to CPU $SERVER_CPU, generator to CPU $CLIENT_CPU" || echo no), load $(cut -d' ' -f1-3 /proc/loadavg): $SWITCHES switches, $MACS MACs each, $RUN_SECONDS s per run, $REPS runs per controller and mode (alternating)"
for mode in $MODES; do
  : >"$WORK/$mode.ours"; : >"$WORK/$mode.ovs"
  for ((i = 1; i <= REPS; i++)); do
    run "$OURS_ADDRESS" "$PORT_OURS" "$mode" "$PID_OURS" >>"$WORK/$mode.ours"
    run 127.0.0.1 "$PORT_OVS" "$mode" "$PID_OVS" >>"$WORK/$mode.ovs"
  done
  ours=$(cut -d' ' -f1 "$WORK/$mode.ours" | median); ovs=$(cut -d' ' -f1 "$WORK/$mode.ovs" | median)
  ours_cpu=$(cut -d' ' -f2 "$WORK/$mode.ours" | median); ovs_cpu=$(cut -d' ' -f2 "$WORK/$mode.ovs" | median)
  ratio=$(awk -v a="$ours" -v b="$ovs" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
  ratio_cpu=$(awk -v a="$ours_cpu" -v b="$ovs_cpu" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
  printf '%-10s  ours %9s flow_mod/s   ovs-testcontroller %9s flow_mod/s   ratio %s x   (runs: ours %s | ovs %s)\n' \
    "$mode" "$ours" "$ovs" "$ratio" "$(cut -d' ' -f1 "$WORK/$mode.ours" | paste -sd' ')" "$(cut -d' ' -f1 "$WORK/$mode.ovs" | paste -sd' ')"
  printf '%-10s  ours %9s per CPU-s    ovs-testcontroller %9s per CPU-s    ratio %s x   (flow_mods per controller CPU-second)\n' \
    "" "$ours_cpu" "$ovs_cpu" "$ratio_cpu"
  # The generator's own CPU over the measured window (100% = one core busy): near 100%, the generator and not the
  # controller limits the figure.
  printf '%-10s  generator CPU against ours %s%%, against ovs-testcontroller %s%%   (medians; runs: ours %s | ovs %s)\n' \
    "" "$(cut -d' ' -f3 "$WORK/$mode.ours" | median)" "$(cut -d' ' -f3 "$WORK/$mode.ovs" | median)" \
    "$(cut -d' ' -f3 "$WORK/$mode.ours" | paste -sd' ')" "$(cut -d' ' -f3 "$WORK/$mode.ovs" | paste -sd' ')"
done
