#!/usr/bin/env bash
# bench/dns/run.sh -- measure the DNS appliance against NSD and Knot (and BIND) with the shared harness
# (../shared/bench/dns-anchors.sh: each server pinned to one core, dnsperf on the other, loopback only).
#
# Usage (from anywhere, as root):
#   bench/dns/run.sh [APPLIANCE_BINARY]
#   DNS_BIN=path/to/dns bench/dns/run.sh
#   QUICK=1 bench/dns/run.sh            # ~3 min quick look: REPS=1 RUN_LEN=5 one sweep point, no BIND
#
# The binary defaults to examples/dns/dist/unix/dns (the unix build of examples/dns). It is started as
#   $DNS_BIN $DNS_ARGS
# where DNS_ARGS defaults to '--address $ANCHOR_ADDR --port $ANCHOR_PORT --zone $ANCHOR_ZONE_FILE' (the harness
# exports those variables; single quotes keep them for the harness to expand). Every knob of the harness
# (SERVERS, REPS, RUN_LEN, SWEEP_C, SWEEP_Q, TCP_SERVERS, WORKDIR, ...) passes through.
#
# DNSPERF_EXTRA defaults to "-b 1024": dnsperf's sockets get a 1 MiB receive buffer (every server alike). With the
# default (rmem_default, 208 KiB) a server that answers -q 500 outstanding queries faster than dnsperf reads them
# overflows dnsperf's own socket: the "lost" queries of a -c 2 -q 500 run are exactly the kernel's UDP RcvbufErrors,
# counted on dnsperf's sockets in /proc/net/udp, none on the server's (issue 17; bench/README.md). Pass
# DNSPERF_EXTRA= to measure with dnsperf's default.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/dns-anchors.sh}
# From a worktree (/work/wt/NAME) the shared folder is one level further up.
[[ -f $HARNESS ]] || [[ ! -f $ROOT/../../shared/bench/dns-anchors.sh ]] || HARNESS=$ROOT/../../shared/bench/dns-anchors.sh
DNS_BIN=${1:-${DNS_BIN:-$ROOT/examples/dns/dist/unix/dns}}
DNS_ARGS=${DNS_ARGS:-'--address $ANCHOR_ADDR --port $ANCHOR_PORT --zone $ANCHOR_ZONE_FILE'}

[[ -x $HARNESS ]] || [[ -f $HARNESS ]] || { echo "harness not found: $HARNESS" >&2; exit 1; }
[[ -x $DNS_BIN ]] || { echo "appliance binary not found or not executable: $DNS_BIN (build examples/dns for unix, or pass a path)" >&2; exit 1; }
DNS_BIN=$(cd "$(dirname "$DNS_BIN")" && pwd)/$(basename "$DNS_BIN")

export CANDIDATE_CMD="$DNS_BIN $DNS_ARGS --log-level warn"
export CANDIDATE_NAME=${CANDIDATE_NAME:-unikernel-dns}
export CANDIDATE_SIZE_PATH=${CANDIDATE_SIZE_PATH:-$DNS_BIN}
export TCP_SERVERS=${TCP_SERVERS-"nsd candidate"}
export DNSPERF_EXTRA=${DNSPERF_EXTRA-"-b 1024"}
rmem_max=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 0)
if [[ $DNSPERF_EXTRA == *"-b "* ]] && (( rmem_max < 1048576 )); then
  echo "note: net.core.rmem_max is $rmem_max, so dnsperf's -b is capped there and fast runs may lose queries in dnsperf's own socket (sysctl -w net.core.rmem_max=4194304 lifts it)" >&2
fi

if [[ -n ${QUICK:-} ]]; then
  export SERVERS=${SERVERS:-"nsd knot"} REPS=${REPS:-1} RUN_LEN=${RUN_LEN:-5} SWEEP_C=${SWEEP_C:-"1 2"} SWEEP_Q=${SWEEP_Q:-"200"}
  export TCP_SWEEP_C=${TCP_SWEEP_C:-"4"} TCP_SWEEP_Q=${TCP_SWEEP_Q:-"100"}
fi

export WORKDIR=${WORKDIR:-$(mktemp -d /tmp/dns-bench.XXXXXX)}
status=0
bash "$HARNESS" || status=$?

# The harness's "q/cpu-s" is qps / busy share, where qps is dnsperf's (queries completed / its run time) but the
# busy share is averaged over the whole wall time of dnsperf, which includes dnsperf's wait for lost queries to time
# out (up to its -t, 5 s). A run that loses even one query is then credited with the server idling through that wait:
# Knot's 3 lost queries in a 5 s run gave wall 7.29 s, so its q/cpu-s came out 1.46x too high (issue 17;
# bench/README.md). Below: queries completed per CPU-second of the server process itself
# (completed / (server_cpu_pct x wall)), which that wait cannot inflate and which other tenants of the core do not
# enter, median over the runs, and the candidate's ratios.
if [[ -f $WORKDIR/results.tsv ]]; then
  echo
  echo "=== queries completed per server-process CPU-second (completed / (server_cpu_pct x wall_s)), median ==="
  awk -F'\t' 'NR > 1 && $14 > 0 && $19 > 0 { print $1 "." $2 "." ($3 == "main" ? "main" : "all"), $11 / ($14 / 100 * $19) }
              NR > 1 && $14 > 0 && $19 > 0 && $3 == "main" { print $1 "." $2 ".all", $11 / ($14 / 100 * $19) }' \
      "$WORKDIR/results.tsv" |
    sort -k1,1 -k2,2n |
    awk '{ v[$1] = v[$1] " " $2; n[$1]++ }
         END { for (k in v) { split(substr(v[k], 2), a, " "); m = a[int((n[k] + 1) / 2)]; printf "%-22s %10.0f  (%d runs)\n", k, m, n[k] } }' |
    sort | tee "$WORKDIR/per-process.txt"
  awk '{ split($1, k, "."); med[$1] = $2 }
       END { for (x in med) { split(x, k, "."); if (k[1] != "candidate") continue
               for (y in med) { split(y, j, "."); if (j[1] == "candidate" || j[2] != k[2] || j[3] != k[3]) continue
                 printf "candidate vs %-5s %s %-4s per process CPU-second: %.2f\n", j[1], k[2], k[3], med[x] / med[y] } } }' \
    "$WORKDIR/per-process.txt" | sort
fi
exit "$status"
