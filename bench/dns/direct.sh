#!/usr/bin/env bash
# bench/dns/direct.sh -- DNS queries/s of examples/dns over our direct network stack on a tap device, against the same
# appliance over host sockets and against NSD, in one run, with dnsperf.
#
# Topology (two network namespaces made by this script; nothing is configured outside them, no other address is used):
#
#   namespace $NSC (client)                                   namespace $NSS (servers)
#   +------------------------------------------+              +-------------------------------+
#   | dnsperf (CPU $CLIENT_CPU)                |              |                               |
#   |   |-- tap $TAP 10.216.0.1/24 --fd--> dns (direct stack, 10.216.0.2, CPU $SERVER_CPU)     |
#   |   |                                      |   (the appliance runs in $NSC: it owns the tap's fd)
#   |   '-- veth $VC 10.216.1.1/24 ========== veth $VS 10.216.1.2/24                          |
#   |                                          |              |   dns (socket stack) or NSD   |
#   +------------------------------------------+              |   on 10.216.1.2:53, CPU $SERVER_CPU
#                                                             +-------------------------------+
#
# The "packet" case is the direct stack on the unix target's other raw
# interface, --interface-kind packet: a second veth pair $VC2 (10.216.2.1/24, in $NSC) -- $VS2 (in $NSS, no address),
# the appliance in $NSS owning an AF_PACKET socket with memory-mapped TPACKET_V2 rings on $VS2 as 10.216.2.2; so it
# crosses the same kind of link as the socket stack and NSD.
#
# So every case crosses one kernel IP/UDP stack on the client side and one virtual link: for the direct stack the
# link is the tap (the appliance reads and writes Ethernet frames on its fd and does IP/UDP itself); for the socket
# stack and NSD it is a veth pair into a second namespace, where the kernel's IP/UDP stack and the server's sockets
# do the rest. CPU accounting is not symmetric: the kernel does a packet's receive work on the CPU that sent it, so
# for veth the servers' receive path (IP/UDP input) is charged to dnsperf's core, while for the tap the appliance's
# write() runs the client side's receive path and is charged to the appliance (server_cpu% and q/cpu-s are therefore
# pessimistic for the direct stack), and it puts the veth servers' receive work on dnsperf's core. RPS [1] evens
# this out: receive packet steering on each device sends every packet's receive work to the core of its receiver
# (tap and client veth: CLIENT_CPU; server veth: SERVER_CPU). On a machine with other load, qps mostly measures each
# server's share of its core (the direct stack now answers on one thread, as it runs to completion; before, it had two
# busy threads, tap receive and DNS, and so about twice the scheduler share of a one-thread server), so read q/cpu-s
# and the run-to-run spread as well; at high load every server is starved alike, answers in bigger batches, and all
# q/cpu-s figures rise. Servers are pinned to SERVER_CPU, dnsperf to CLIENT_CPU (taskset). Each load run is bounded
# (dnsperf -l RUN_LEN plus an outer timeout).
#
# Usage (as root; Debian packages: iproute2 dnsperf nsd bind9-dnsutils; optional: strace, linux-perf):
#   bench/dns/direct.sh
#   CASES="direct base socket" BASE_BIN=/tmp/old/dns bench/dns/direct.sh   # a change before/after, in one run
# Two load modes, interleaved with the cases rep by rep: "sat" (saturation: dnsperf -c CLIENTS -q OUTSTANDING, as fast
# as the server answers) and "fixed" (dnsperf -Q FIXED_QPS: the same offered load for every server, so q/cpu-s there is
# the CPU cost of one query at a rate the servers all sustain). The summary ends with the goals of issue 17 as ratios of
# medians of q/cpu-s (queries answered per CPU-second of the server process): direct/socket at saturation (>= 1.5),
# direct/socket at FIXED_QPS (>= 1.2), direct/NSD at saturation (>= 1.5), with the per-repetition ratios for the spread
# and the machine's load average before and after (the machine may be shared: a figure taken at high load is noisy).
# Knobs (environment): RUN_LEN [10] seconds per case and repetition, REPS [3] (the cases are interleaved, rep by rep;
#   the table shows the median of each column), MODES ["sat fixed"], FIXED_QPS [50000], CLIENTS [2], OUTSTANDING [200] (dnsperf -c / -q),
#   SERVER_CPU [0], CLIENT_CPU [1], RPS [1] (0: no receive packet steering, see above), CASES ["direct packet socket nsd";
#   packet is the AF_PACKET case, PACKET_BIN defaults to DIRECT_BIN; base: the direct stack over the tap from BASE_BIN,
#   an earlier image, to measure a change before/after in one run], PROFILE [1] (after the measurements: strace -c and,
#   if it works, perf record on the direct-stack appliance under the same load), PUBLISH [auto] (1: always publish the
#   two images, 0: never; auto: publish those missing), DIRECT_BIN, SOCKET_BIN (default: examples/dns/dist/unix-direct/dns
#   and examples/dns/dist/unix/dns, as tests/Unikernel.EndToEnd.Tests publishes them), WORKDIR [mktemp].
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_LEN=${RUN_LEN:-10}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-2}
OUTSTANDING=${OUTSTANDING:-200}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CASES=${CASES:-"direct packet socket nsd"}
MODES=${MODES:-"sat fixed"}
FIXED_QPS=${FIXED_QPS:-50000}
RPS=${RPS:-1}
PROFILE=${PROFILE:-1}
PUBLISH=${PUBLISH:-auto}
DIRECT_BIN=${DIRECT_BIN:-$ROOT/examples/dns/dist/unix-direct/dns}
SOCKET_BIN=${SOCKET_BIN:-$ROOT/examples/dns/dist/unix/dns}
PACKET_BIN=${PACKET_BIN:-$DIRECT_BIN}
ZONE_FILE=$ROOT/examples/dns/zones/example.org.zone

TAG=$(printf '%x' $(( $$ % 0x100000 )))
NSC=ukbc-$TAG
NSS=ukbs-$TAG
TAP=ukbt$TAG
VC=ukbc$TAG
VS=ukbs$TAG
VC2=ukpc$TAG
VS2=ukps$TAG
PACKET_ADDR=10.216.2.2
DIRECT_ADDR=10.216.0.2
SERVER_ADDR=10.216.1.2

die() { echo "direct.sh: $*" >&2; exit 1; }
log() { echo "# $*" >&2; }

[[ $(id -u) == 0 ]] || die "run as root (namespaces, tap and veth devices)"
[[ -e /dev/net/tun ]] || die "/dev/net/tun is missing (modprobe tun)"
for tool in ip dnsperf dig taskset timeout; do command -v $tool >/dev/null || die "'$tool' not found (apt-get install iproute2 dnsperf bind9-dnsutils)"; done
[[ " $CASES " == *" nsd "* ]] && { command -v nsd >/dev/null || die "nsd not found (apt-get install nsd)"; }
NCPU=$(nproc --all)
(( SERVER_CPU < NCPU && CLIENT_CPU < NCPU && SERVER_CPU != CLIENT_CPU )) || die "need two distinct CPUs (have $NCPU)"

publish() { # net dist
  log "publishing examples/dns with UnikernelNet=$1 -> $2"
  (cd "$ROOT/examples/dns" && dotnet publish -c Release -p:UnikernelNet="$1" -p:UnikernelDist="$2/" -nologo -clp:NoSummary >&2) ||
    die "publish ($1) failed"
}
if [[ " $CASES " == *" direct "* ]] && [[ $PUBLISH == 1 || ( $PUBLISH == auto && ! -x $DIRECT_BIN ) ]]; then
  publish direct "$(dirname "$DIRECT_BIN")"
fi
if [[ " $CASES " == *" socket "* ]] && [[ $PUBLISH == 1 || ( $PUBLISH == auto && ! -x $SOCKET_BIN ) ]]; then
  publish socket "$(dirname "$SOCKET_BIN")"
fi

WD=${WORKDIR:-$(mktemp -d /tmp/uk-direct-bench.XXXXXX)}
mkdir -p "$WD"/{nsd,logs}
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -9 "$p" 2>/dev/null || true; done
  ip netns exec "$NSC" ip link del "$TAP" 2>/dev/null || true
  ip netns exec "$NSC" ip link del "$VC" 2>/dev/null || true
  ip netns exec "$NSC" ip link del "$VC2" 2>/dev/null || true
  ip netns del "$NSC" 2>/dev/null || true
  ip netns del "$NSS" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the two namespaces, the tap and the veth pair
ip netns add "$NSC"
ip netns add "$NSS"
ip netns exec "$NSC" ip link set lo up
ip netns exec "$NSS" ip link set lo up
ip netns exec "$NSC" ip tuntap add dev "$TAP" mode tap
ip netns exec "$NSC" sysctl -q -w "net.ipv6.conf.$TAP.disable_ipv6=1" || true
ip netns exec "$NSC" ip addr add 10.216.0.1/24 dev "$TAP"
ip netns exec "$NSC" ip link set "$TAP" up
ip netns exec "$NSC" ip link add "$VC" type veth peer name "$VS" netns "$NSS"
ip netns exec "$NSC" ip addr add 10.216.1.1/24 dev "$VC"
ip netns exec "$NSS" ip addr add "$SERVER_ADDR/24" dev "$VS"
ip netns exec "$NSC" ip link set "$VC" up
ip netns exec "$NSS" ip link set "$VS" up
if [[ " $CASES " == *" packet "* ]]; then
  ip netns exec "$NSC" ip link add "$VC2" type veth peer name "$VS2" netns "$NSS"
  ip netns exec "$NSC" ip addr add 10.216.2.1/24 dev "$VC2"
  ip netns exec "$NSS" sysctl -q -w "net.ipv6.conf.$VS2.disable_ipv6=1" || true
  ip netns exec "$NSC" ip link set "$VC2" up
  ip netns exec "$NSS" ip link set "$VS2" up
fi
if [[ $RPS == 1 ]]; then
  rps() { ip netns exec "$1" sh -c "printf '%x' $(( 1 << $3 )) > /sys/class/net/$2/queues/rx-0/rps_cpus" || die "cannot set RPS on $2 (RPS=0 to skip)"; }
  rps "$NSC" "$TAP" "$CLIENT_CPU"
  rps "$NSC" "$VC" "$CLIENT_CPU"
  rps "$NSS" "$VS" "$SERVER_CPU"
  if [[ " $CASES " == *" packet "* ]]; then rps "$NSC" "$VC2" "$CLIENT_CPU"; rps "$NSS" "$VS2" "$SERVER_CPU"; fi
fi

# --- queries: names across the zone (CNAME chains, wildcard, NXDOMAIN, several types)
cat >"$WD/queries" <<'EOF'
www.example.org A
example.org A
host1.example.org AAAA
mail.example.org A
example.org MX
example.org NS
ns1.example.org A
a.apps.example.org A
b.apps.example.org TXT
txt.example.org TXT
_sip._udp.example.org SRV
nope.example.org A
b.c.example.org A
ttl.example.org A
example.org SOA
ext.example.org A
EOF

cat >"$WD/nsd/nsd.conf" <<EOF
server:
    server-count: 1
    ip-address: $SERVER_ADDR
    port: 53
    do-ip4: yes
    do-ip6: no
    reuseport: no
    username: ""
    chroot: ""
    zonesdir: "$WD/nsd"
    database: ""
    zonelistfile: "$WD/nsd/zone.list"
    xfrdfile: "$WD/nsd/xfrd.state"
    xfrdir: "$WD/nsd"
    pidfile: "$WD/nsd/nsd.pid"
    logfile: "$WD/nsd/nsd.log"
    verbosity: 0
    hide-version: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "example.org"
    zonefile: "$ZONE_FILE"
EOF

tree_pids() { local p=$1 c; echo "$p"; for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done; }
# CPU time of a process tree in nanoseconds: the sum of every thread's run time from /proc/PID/task/TID/schedstat
# (nanosecond resolution; utime+stime in clock ticks is too coarse when the server gets a few % of a loaded machine).
tree_ns() { local p sum=0 v; for p in $(tree_pids "$1"); do
  v=$(cat /proc/"$p"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'); sum=$((sum + ${v:-0})); done; echo "$sum"; }
core_busy() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
HZ=$(getconf CLK_TCK)

# start <case>: starts the server, sets SERVER_PID, SERVER_NS, ADDR
start_server() {
  case $1 in
    direct) SERVER_NS=$NSC; ADDR=$DIRECT_ADDR
      ip netns exec "$NSC" taskset -c "$SERVER_CPU" "$DIRECT_BIN" --interface "$TAP" --ipv4 "$DIRECT_ADDR/24" \
        --address "$DIRECT_ADDR" --port 53 --log-level warn </dev/null >"$WD/logs/$1.log" 2>&1 & ;;
    base) SERVER_NS=$NSC; ADDR=$DIRECT_ADDR
      ip netns exec "$NSC" taskset -c "$SERVER_CPU" "${BASE_BIN:?BASE_BIN: the direct-stack image to compare with}" --interface "$TAP" --ipv4 "$DIRECT_ADDR/24" \
        --address "$DIRECT_ADDR" --port 53 --log-level warn </dev/null >"$WD/logs/$1.log" 2>&1 & ;;
    packet) SERVER_NS=$NSS; ADDR=$PACKET_ADDR
      ip netns exec "$NSS" taskset -c "$SERVER_CPU" "$PACKET_BIN" --interface "$VS2" --interface-kind packet --ipv4 "$PACKET_ADDR/24" \
        --address "$PACKET_ADDR" --port 53 --log-level warn </dev/null >"$WD/logs/$1.log" 2>&1 & ;;
    socket) SERVER_NS=$NSS; ADDR=$SERVER_ADDR
      ip netns exec "$NSS" taskset -c "$SERVER_CPU" "$SOCKET_BIN" --address "$SERVER_ADDR" --port 53 --log-level warn \
        </dev/null >"$WD/logs/$1.log" 2>&1 & ;;
    nsd) SERVER_NS=$NSS; ADDR=$SERVER_ADDR
      ip netns exec "$NSS" taskset -c "$SERVER_CPU" nsd -d -c "$WD/nsd/nsd.conf" </dev/null >"$WD/logs/$1.log" 2>&1 & ;;
    *) die "unknown case '$1' (direct packet socket nsd base)";;
  esac
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 1 150); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "$1 exited at start: $(cat "$WD/logs/$1.log")"
    if ip netns exec "$NSC" timeout 3 dig +short +tries=1 +time=1 "@$ADDR" example.org SOA 2>/dev/null | grep -q hostmaster; then
      return 0
    fi
    sleep 0.2
  done
  die "$1 did not answer within 30 s: $(cat "$WD/logs/$1.log")"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  timeout 10 tail --pid="$SERVER_PID" -f /dev/null 2>/dev/null || kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

dnsperf_run() { # addr seconds out mode
  local rate=()
  [[ ${4:-sat} == fixed ]] && rate=(-Q "$FIXED_QPS")
  ip netns exec "$NSC" timeout $(( $2 + 20 )) taskset -c "$CLIENT_CPU" \
    dnsperf -s "$1" -p 53 -d "$WD/queries" -l "$2" -c "$CLIENTS" -q "$OUTSTANDING" "${rate[@]}" -t 2 >"$3" 2>&1 || true
}

declare -A QPS LOST SENT PCPU CORE LAT QPCS CCORE HWM
add() { eval "$1[\$2]=\"\${$1[\$2]:-} \$3\""; }
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'; }
ratio() { [[ -n ${1:-} && -n ${2:-} && $2 != 0 ]] && awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}' || echo NA; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(load)
declare -A RATIOS   # "mode:a/b" -> per-rep ratios of q/cpu-s
profiled=0
for rep in $(seq 1 "$REPS"); do
 declare -A REPQ=()
 for c in $CASES; do
  log "rep $rep, case $c: starting (load $(load))"
  start_server "$c"
  sleep 1
  for mode in $MODES; do
  k=$c/$mode
  t0=$(tree_ns "$SERVER_PID"); read -r b0 a0 < <(core_busy "$SERVER_CPU"); read -r cb0 ca0 < <(core_busy "$CLIENT_CPU"); w0=$(date +%s.%N)
  out=$WD/logs/$c.$mode.$rep.dnsperf
  dnsperf_run "$ADDR" "$RUN_LEN" "$out" "$mode"
  t1=$(tree_ns "$SERVER_PID"); read -r b1 a1 < <(core_busy "$SERVER_CPU"); read -r cb1 ca1 < <(core_busy "$CLIENT_CPU"); w1=$(date +%s.%N)
  q=$(awk '/Queries per second:/ {printf "%.0f", $4}' "$out")
  [[ -n $q ]] || { log "dnsperf output for $c ($mode):"; cat "$out" >&2; }
  add QPS "$k" "$q"
  add SENT "$k" "$(awk '/Queries sent:/ {print $3}' "$out")"
  add LOST "$k" "$(awk '/Queries lost:/ {print $3}' "$out")"
  add LAT "$k" "$(awk '/Average Latency/ {printf "%.3f", $4 * 1000}' "$out")"
  add PCPU "$k" "$(awk -v t=$((t1 - t0)) -v w0="$w0" -v w1="$w1" 'BEGIN {printf "%.0f", 100 * t / 1e9 / (w1 - w0)}')"
  qc=$(awk -v q="${q:-0}" -v t=$((t1 - t0)) -v w0="$w0" -v w1="$w1" 'BEGIN {printf "%.0f", (t > 0 ? q * (w1 - w0) / (t / 1e9) : 0)}')
  add QPCS "$k" "$qc"
  REPQ[$k]=$qc
  add CCORE "$k" "$(awk -v b=$((cb1 - cb0)) -v a=$((ca1 - ca0)) 'BEGIN {printf "%.0f", (a > 0 ? 100 * b / a : 0)}')"
  add CORE "$k" "$(awk -v b=$((b1 - b0)) -v a=$((a1 - a0)) 'BEGIN {printf "%.0f", (a > 0 ? 100 * b / a : 0)}')"
  log "rep $rep, case $c, $mode: ${q:-?} qps, $qc q/cpu-s"
  done
  if [[ $c == "${PROFILE_CASE:-direct}" && $PROFILE == 1 && $profiled == 0 ]]; then
    profiled=1
    log "profiling the direct stack under the same load (saturation)"
    if command -v strace >/dev/null; then
      ip netns exec "$NSC" timeout 20 taskset -c "$CLIENT_CPU" dnsperf -s "$ADDR" -p 53 -d "$WD/queries" -l 6 -c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$WD/logs/strace.dnsperf" 2>&1 &
      sleep 0.5
      timeout -s INT 5 strace -c -f -p "$SERVER_PID" -o "$WD/logs/strace.txt" 2>/dev/null || true
      wait $! || true
    fi
    if command -v perf >/dev/null; then
      ip netns exec "$NSC" timeout 20 taskset -c "$CLIENT_CPU" dnsperf -s "$ADDR" -p 53 -d "$WD/queries" -l 6 -c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$WD/logs/perf.dnsperf" 2>&1 &
      sleep 0.5
      perf record -q -g -p "$SERVER_PID" -o "$WD/logs/perf.data" -- sleep 4 >/dev/null 2>&1 || true
      wait $! || true
      perf report -i "$WD/logs/perf.data" --no-children --percent-limit 1.5 --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -40 >"$WD/logs/perf.txt" || true
    fi
  fi
  # Peak resident memory of the server (the largest VmHWM in its process tree), after its load runs.
  add HWM "$c" "$(for p in $(tree_pids "$SERVER_PID"); do awk '/^VmHWM:/ {print $2}' /proc/"$p"/status 2>/dev/null; done | sort -n | tail -1)"
  stop_server
 done
 for mode in $MODES; do
  for pair in direct/socket direct/nsd packet/socket packet/nsd socket/nsd base/socket direct/base packet/base; do
    a=${pair%/*} b=${pair#*/}
    [[ -n ${REPQ[$a/$mode]:-} && -n ${REPQ[$b/$mode]:-} ]] && RATIOS[$mode:$pair]="${RATIOS[$mode:$pair]:-} $(ratio "${REPQ[$a/$mode]}" "${REPQ[$b/$mode]}")"
  done
 done
done
LOAD_AFTER=$(load)
for c in $CASES; do for mode in $MODES; do
  for k in QPS SENT LOST LAT PCPU CORE QPCS CCORE; do eval "v=\${$k[\$c/\$mode]:-}"; eval "$k[\$c/\$mode]=\$(median \"\$v\")"; done
done; HWM[$c]=$(median "${HWM[$c]:-}"); done

name() { case $1 in direct) echo "dns, direct stack (tap)";; packet) echo "dns, direct stack (packet/veth)";; base) echo "dns, BASE_BIN direct (tap)";; socket) echo "dns, socket stack (veth)";; nsd) echo "NSD $(nsd -v 2>&1 | awk 'NR==1 {print $3}') (veth)";; esac; }
echo
echo "examples/dns and NSD, UDP, dnsperf -c $CLIENTS -q $OUTSTANDING -l $RUN_LEN, median of $REPS interleaved runs, RPS=$RPS, from namespace $NSC; server on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU ($(nproc --all) CPUs, $(uname -r)); load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
for mode in $MODES; do
  [[ $mode == fixed ]] && echo "-- fixed offered load: dnsperf -Q $FIXED_QPS" || echo "-- saturation"
  printf '%-30s %10s %10s %10s %10s %12s %12s %12s %12s\n' case qps sent lost avg_ms server_cpu% core_busy% client_core% q/cpu-s
  for c in $CASES; do
    k=$c/$mode
    printf '%-30s %10s %10s %10s %10s %12s %12s %12s %12s\n' "$(name "$c")" "${QPS[$k]:-NA}" "${SENT[$k]:-NA}" "${LOST[$k]:-NA}" "${LAT[$k]:-NA}" "${PCPU[$k]:-NA}" "${CORE[$k]:-NA}" "${CCORE[$k]:-NA}" "${QPCS[$k]:-NA}"
  done
done
echo "peak RSS (VmHWM, median over reps, KiB): $(for c in $CASES; do printf '%s %s; ' "$c" "${HWM[$c]:-NA}"; done)"
echo "lost = queries dnsperf gave up on (2 s timeout); server_cpu% = CPU time of the server process (all threads, user+system, from schedstat) per wall second; core_busy% = the server core's busy share (includes softirq work the kernel does there, and any other load on the machine); client_core% = the same for dnsperf's core; q/cpu-s = queries answered per CPU-second of the server process (the figure least disturbed by other load)"
echo
echo "goals (issue 17), q/cpu-s ratio of medians [per-repetition ratios]:"
goal() { # label mode a b target
  local r; r=$(ratio "${QPCS[$3/$2]:-}" "${QPCS[$4/$2]:-}")
  local verdict=NA
  [[ $r != NA ]] && verdict=$(awk -v r="$r" -v t="$5" 'BEGIN {print (r >= t ? "met" : "NOT met")}')
  printf '  %-44s %6s  (goal >= %s: %s) [%s ]\n' "$1" "$r" "$5" "$verdict" "${RATIOS[$2:$3/$4]:-}"
}
[[ " $MODES " == *" sat "* ]] && goal "direct / socket, saturation" sat direct socket 1.5
[[ " $MODES " == *" fixed "* ]] && goal "direct / socket, fixed $FIXED_QPS qps" fixed direct socket 1.2
[[ " $MODES " == *" sat "* ]] && goal "direct / NSD, saturation" sat direct nsd 1.5
[[ " $MODES " == *" fixed "* ]] && goal "direct / NSD, fixed $FIXED_QPS qps" fixed direct nsd 1.5
if [[ " $CASES " == *" packet "* ]]; then
  [[ " $MODES " == *" sat "* ]] && goal "packet / socket, saturation" sat packet socket 1.5
  [[ " $MODES " == *" fixed "* ]] && goal "packet / socket, fixed $FIXED_QPS qps" fixed packet socket 1.2
  [[ " $MODES " == *" sat "* ]] && goal "packet / NSD, saturation" sat packet nsd 1.5
  [[ " $MODES " == *" fixed "* ]] && goal "packet / NSD, fixed $FIXED_QPS qps" fixed packet nsd 1.5
fi
if [[ " $CASES " == *" base "* ]]; then
  for mode in $MODES; do
    goal "base (BASE_BIN) / socket, $mode" "$mode" base socket 1.0
    goal "direct / base (BASE_BIN), $mode" "$mode" direct base 1.0
  done
fi
[[ " $MODES " == *" sat "* ]] && goal "socket / NSD, saturation (for reference)" sat socket nsd 1.5
if [[ -s $WD/logs/strace.txt ]]; then
  echo; echo "direct stack, system calls under load (strace -c -f, 5 s; strace slows the server: counts, not time):"
  head -20 "$WD/logs/strace.txt"
fi
if [[ -s $WD/logs/perf.txt ]]; then
  echo; echo "direct stack, perf record -g (4 s, self time, >= 1.5 %):"
  cat "$WD/logs/perf.txt"
fi
echo; echo "logs: $WD/logs"
