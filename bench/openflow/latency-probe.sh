#!/usr/bin/env bash
# bench/openflow/latency-probe.sh -- where a latency-mode round trip goes: one latency run of the load generator against
# our controller and one against ovs-testcontroller (loopback), each controller's CPU per flow_mod (/proc/PID/stat
# ticks over the run) and, with STRACE=1, a second run under `strace -c -f` for 2 s (syscalls per flow_mod). Assumes
# bench/openflow/run.sh has built the generator and published the controller. Bounded by `timeout`; not a test.
# Usage: SWITCHES=16 SECS=5 STRACE=1 POLLER=threads bench/openflow/latency-probe.sh
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/bench/openflow/bin/Release/net10.0/OfBench
OURS=${OURS:-$ROOT/examples/openflow-controller/dist/unix/openflow-controller}
W=$(mktemp -d /tmp/openflow-probe.XXXXXX)
"$OURS" --address 127.0.0.1 --port 16753 --log-level warn >"$W/ours.log" 2>&1 & P1=$!
OVS_RUNDIR=$W OVS_LOGDIR=$W OVS_DBDIR=$W ovs-testcontroller --unixctl="$W/tc.ctl" ptcp:16754:127.0.0.1 >"$W/ovs.log" 2>&1 & P2=$!
trap 'kill $P1 $P2 2>/dev/null; wait $P1 $P2 2>/dev/null; rm -rf "$W"' EXIT
sleep 1
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
gen() { timeout 60 "$BENCH" --controller "127.0.0.1:$1" --switches "${SWITCHES:-16}" --macs 1000 --mode latency --seconds "$2" --poller "${POLLER:-threads}"; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in ours ovs; do
  if [ $name = ours ]; then PID=$P1; PORT=16753; else PID=$P2; PORT=16754; fi
  c0=$(cpu $PID); out=$(gen $PORT "${SECS:-5}"); c1=$(cpu $PID)
  fm=$(echo "$out" | sed -n 's/.*total_flow_mods=\([0-9]*\).*/\1/p')
  rate=$(echo "$out" | sed -n 's/.*flow_mods_per_s=\([0-9]*\).*/\1/p')
  echo "$name: $rate flow_mod/s, $((c1 - c0)) CPU ticks for $fm flow_mods: $(awk -v t=$((c1 - c0)) -v n="$fm" 'BEGIN { printf "%.1f", t * 10000 / n }') us CPU per flow_mod"
  if [ -n "${STRACE:-}" ]; then
    gen $PORT 4 >"$W/$name.bench" & B=$!
    sleep 3; timeout 2 strace -c -f -p $PID -o "$W/$name.strace" 2>/dev/null; wait $B
    echo "  under strace: $(cat "$W/$name.bench")"; head -12 "$W/$name.strace"
  fi
done
