#!/usr/bin/env bash
# bench/openflow/switch.sh -- switch forwarding rate: packets/s through our openflow-switch appliance (NativeAOT, unix,
# its two ports are tap devices) against Open vSwitch's userspace datapath (ovs-vswitchd, datapath_type=netdev, its two
# ports are tap devices too: interface type=tap), in the same run, alternating. Both have one flow in_port=1 →
# output:2 (installed with ovs-ofctl; no controller). The load: a UDP blaster (switch-blast.py) in a host namespace
# behind port 1 sends 60-byte frames as fast as it can for RUN_SECONDS; we count the frames the switch delivers into
# the host namespace behind port 2 (the rx_packets of that tap). The blaster offers more than either switch forwards
# (its sent count is printed next to each figure), so the delivered rate is the switch's.
#
# Needs root, /dev/net/tun, ovs-vswitchd/ovsdb-server/ovs-ofctl (Debian openvswitch-switch, openvswitch-common),
# iproute2, python3. Makes its own namespaces (ofs*/ofo* with this shell's pid), its own OVS (private database, run
# and log directory, killed by pid), and removes all of it on exit. Every run is bounded by `timeout`.
#
# PROTOCOL=OpenFlow13 installs the flow with ovs-ofctl -O OpenFlow13 on both (ours then forwards through its 1.3
# pipeline: table 0, apply_actions(output:2); the OVS bridge gets protocols=OpenFlow10,OpenFlow13).
#
# FLOWS=N adds N flows to both switches, above the forwarding one, that the traffic does not match
# (priority=200,dl_dst=02:ff:00:00:xx:xx,actions=drop: what a learning switch's table of N addresses looks like to a
# packet for an address it has not learned): a table scanned entry by entry pays for every one of them per packet.
#
# Usage: bench/openflow/switch.sh          # RUN_SECONDS=5 REPS=3 PROTOCOL=OpenFlow10 FLOWS=0
#        SWITCH=path/to/openflow-switch RUN_SECONDS=3 REPS=1 bench/openflow/switch.sh   (skip the publish)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_SECONDS=${RUN_SECONDS:-5}
REPS=${REPS:-3}
MAX_PACKETS=${MAX_PACKETS:-50000000}
PROTOCOL=${PROTOCOL:-OpenFlow10}
FLOWS=${FLOWS:-0}
case "$PROTOCOL" in OpenFlow10|OpenFlow13) ;; *) echo "PROTOCOL must be OpenFlow10 or OpenFlow13" >&2; exit 1 ;; esac
[ "$(id -u)" = 0 ] && [ -e /dev/net/tun ] || { echo "switch.sh needs root and /dev/net/tun" >&2; exit 1; }
for tool in ip ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl ovs-appctl python3; do
  command -v "$tool" >/dev/null || { echo "$tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done
if [ -z "${SWITCH:-}" ]; then
  echo "== publishing the switch appliance"
  (cd "$ROOT/examples/openflow-switch" && dotnet publish -c Release -nologo -clp:NoSummary -v q >/dev/null)
  SWITCH=$ROOT/examples/openflow-switch/dist/unix/openflow-switch
fi
BLAST=$ROOT/bench/openflow/switch-blast.py

ID=$$
WORK=$(mktemp -d /tmp/openflow-switch-bench.XXXXXX)
NAMESPACES=()
pids=()
cleanup() {
  if [ -S "$WORK/ovs-vswitchd.ctl" ]; then ovs-appctl -t "$WORK/ovs-vswitchd.ctl" exit >/dev/null 2>&1 || true; fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  for ns in "${NAMESPACES[@]}"; do
    if ip netns list | grep -qw "$ns"; then echo "clean-up failed: namespace $ns is still there" >&2; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
ns_add() { ip netns add "$1"; NAMESPACES+=("$1"); ip -n "$1" link set lo up; }
export OVS_RUNDIR=$WORK OVS_DBDIR=$WORK OVS_LOGDIR=$WORK OVS_SYSCONFDIR=$WORK

# host_side NS_SWITCH TAP NS_HOST ADDRESS: moves a tap the switch holds into a host namespace, with an address.
host_side() {
  ip -n "$1" link set "$2" netns "$3"
  ip netns exec "$3" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
  ip -n "$3" addr add "$4/24" dev "$2"
  ip -n "$3" link set "$2" up
}
wait_for() { # seconds, command...
  local limit=$1; shift
  for ((i = 0; i < limit * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $*" >&2; return 1
}

# Ours: the appliance in ofsS (taps ofsa/ofsb, moved to ofsA/ofsB), managed on 127.0.0.1:16634 of ofsS.
ns_add "ofsS$ID"; ns_add "ofsA$ID"; ns_add "ofsB$ID"
ip netns exec "ofsS$ID" "$SWITCH" --port1 "ofsa$ID" --port2 "ofsb$ID" --controller 127.0.0.1:9 --listen 127.0.0.1:16634 --log-level warn >"$WORK/ours.log" 2>&1 &
pids+=($!)
wait_for 10 ip -n "ofsS$ID" link show "ofsb$ID"
host_side "ofsS$ID" "ofsa$ID" "ofsA$ID" 10.219.1.1
host_side "ofsS$ID" "ofsb$ID" "ofsB$ID" 10.219.1.2
wait_for 10 ip netns exec "ofsS$ID" ovs-ofctl -O "$PROTOCOL" add-flow tcp:127.0.0.1:16634 "in_port=1,actions=output:2"

# Open vSwitch: ovsdb-server + ovs-vswitchd in ofoS, a netdev bridge with two type=tap ports (moved to ofoA/ofoB).
ns_add "ofoS$ID"; ns_add "ofoA$ID"; ns_add "ofoB$ID"
ovsdb-tool create "$WORK/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$WORK/conf.db" "--remote=punix:$WORK/db.sock" "--unixctl=$WORK/ovsdb-server.ctl" "--log-file=$WORK/ovsdb-server.log" --no-chdir >/dev/null 2>&1 &
pids+=($!)
wait_for 10 test -S "$WORK/db.sock"
VSCTL=(ovs-vsctl "--db=unix:$WORK/db.sock" --timeout=20)
"${VSCTL[@]}" --no-wait init
ip netns exec "ofoS$ID" ovs-vswitchd "unix:$WORK/db.sock" "--unixctl=$WORK/ovs-vswitchd.ctl" "--log-file=$WORK/ovs-vswitchd.log" --no-chdir >/dev/null 2>&1 &
pids+=($!)
wait_for 10 test -S "$WORK/ovs-vswitchd.ctl"
"${VSCTL[@]}" add-br br0 -- set bridge br0 datapath_type=netdev fail_mode=secure other-config:disable-in-band=true protocols=OpenFlow10,OpenFlow13 \
  -- add-port br0 "ofoa$ID" -- set interface "ofoa$ID" type=tap ofport_request=1 \
  -- add-port br0 "ofob$ID" -- set interface "ofob$ID" type=tap ofport_request=2
wait_for 10 ip -n "ofoS$ID" link show "ofob$ID"
host_side "ofoS$ID" "ofoa$ID" "ofoA$ID" 10.219.2.1
host_side "ofoS$ID" "ofob$ID" "ofoB$ID" 10.219.2.2
ovs-ofctl -O "$PROTOCOL" add-flow "unix:$WORK/br0.mgmt" "in_port=1,actions=output:2"
if [ "$FLOWS" -gt 0 ]; then
  for ((i = 0; i < FLOWS; i++)); do printf 'priority=200,dl_dst=02:ff:00:00:%02x:%02x,actions=drop\n' $((i >> 8 & 255)) $((i & 255)); done >"$WORK/flows"
  ip netns exec "ofsS$ID" ovs-ofctl -O "$PROTOCOL" add-flows tcp:127.0.0.1:16634 "$WORK/flows"
  ovs-ofctl -O "$PROTOCOL" add-flows "unix:$WORK/br0.mgmt" "$WORK/flows"
  echo "flows installed: ours $(ip netns exec "ofsS$ID" ovs-ofctl -O "$PROTOCOL" dump-aggregate tcp:127.0.0.1:16634 | grep -o 'flow_count=[0-9]*'), ovs $(ovs-ofctl -O "$PROTOCOL" dump-aggregate "unix:$WORK/br0.mgmt" | grep -o 'flow_count=[0-9]*')"
fi

# The sender needs the receiver's MAC (no ARP through a one-way flow).
for side in s o; do
  dev=of${side}b$ID
  mac=$(ip netns exec "of${side}B$ID" cat "/sys/class/net/$dev/address")
  net=$([ $side = s ] && echo 1 || echo 2)
  ip -n "of${side}A$ID" neigh replace "10.219.$net.2" lladdr "$mac" dev "of${side}a$ID" nud permanent
done

run() { # s|o -> "delivered_per_s sent_per_s"
  local side=$1 net dev before after sent
  net=$([ "$side" = s ] && echo 1 || echo 2)
  dev=of${side}b$ID
  before=$(ip netns exec "of${side}B$ID" cat "/sys/class/net/$dev/statistics/rx_packets")
  sent=$(timeout $((RUN_SECONDS + 20)) ip netns exec "of${side}A$ID" python3 "$BLAST" "10.219.$net.2" "$RUN_SECONDS" "$MAX_PACKETS")
  sleep 0.3 # what is still queued in the switch arrives
  after=$(ip netns exec "of${side}B$ID" cat "/sys/class/net/$dev/statistics/rx_packets")
  awk -v d=$((after - before)) -v s="$sent" -v t="$RUN_SECONDS" 'BEGIN { printf "%.0f %.0f\n", d / t, s / t }'
}

# A short check that both forward at all (and a warm-up).
for side in s o; do
  read -r delivered _ < <(RUN_SECONDS=1 run "$side")
  [ "${delivered%.*}" -gt 0 ] || { echo "switch $side delivered nothing; logs:" >&2; cat "$WORK"/*.log >&2; exit 1; }
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "== $PROTOCOL, $FLOWS extra flows, $RUN_SECONDS s per run, $REPS runs per switch (alternating); 60-byte UDP frames, port 1 -> port 2; load: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$WORK/ours"; : >"$WORK/ovs"; : >"$WORK/ours.sent"; : >"$WORK/ovs.sent"
for ((i = 1; i <= REPS; i++)); do
  read -r d s < <(run s); echo "$d" >>"$WORK/ours"; echo "$s" >>"$WORK/ours.sent"
  read -r d s < <(run o); echo "$d" >>"$WORK/ovs"; echo "$s" >>"$WORK/ovs.sent"
done
ours=$(median <"$WORK/ours"); ovs=$(median <"$WORK/ovs")
ratio=$(awk -v a="$ours" -v b="$ovs" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
printf 'forwarding  ours %9s pkt/s   ovs-vswitchd netdev %9s pkt/s   ratio %s x   (runs: ours %s | ovs %s; offered: ours %s | ovs %s pkt/s)\n' \
  "$ours" "$ovs" "$ratio" "$(paste -sd' ' "$WORK/ours")" "$(paste -sd' ' "$WORK/ovs")" "$(paste -sd' ' "$WORK/ours.sent")" "$(paste -sd' ' "$WORK/ovs.sent")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
