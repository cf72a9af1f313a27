#!/usr/bin/env bash
# bench/net/soak.sh -- examples/dns over our direct stack on a tap, under SECONDS of mixed hostile traffic from scapy
# (bench/net/hostile-traffic.py mixed: spoofed queries from absent neighbours, fragment trains from many senders and
# from one, ARP request floods and unsolicited replies, invalid sources) at RATE frames/s, while dig keeps asking.
# Prints the share of dig queries answered and the appliance's RSS (idle, and the peak sampled after each batch).
# The test suite runs a 20 s version (DirectStackHostileTests); this is the 60 s one.
#
# One network namespace made here (tap 10.219.0.1/24, the appliance at 10.219.0.2), deleted at the end.
# Usage (as root; Debian packages: iproute2 bind9-dnsutils python3-scapy): bench/net/soak.sh
# Knobs: SECONDS_ [60], RATE [1500], MODE [mixed] (or flood: only spoofed queries from absent neighbours, the probe's
# case), VIA_GATEWAY [0] (1: dig asks from 192.0.2.53, an address behind the kernel as the appliance's gateway, so
# every answer goes through the gateway's neighbour entry), DIRECT_BIN (default examples/dns/dist/unix-direct/dns).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION=${SECONDS_:-60}
RATE=${RATE:-1500}
MODE=${MODE:-mixed}
VIA_GATEWAY=${VIA_GATEWAY:-0}
DIRECT_BIN=${DIRECT_BIN:-$ROOT/examples/dns/dist/unix-direct/dns}
TAG=$(printf '%x' $(( $$ % 0x100000 )))
NS=uksoak-$TAG
TAP=uks$TAG
WORK=$(mktemp -d)

for tool in ip dig; do
  command -v "$tool" >/dev/null || { echo "soak.sh: '$tool' is missing (Debian packages: iproute2, bind9-dnsutils)" >&2; exit 1; }
done
/usr/bin/python3 -c "import scapy.all" 2>/dev/null || { echo "soak.sh: scapy is missing (Debian package python3-scapy)" >&2; exit 1; }
[ -x "$DIRECT_BIN" ] || { echo "soak.sh: $DIRECT_BIN is missing: publish examples/dns with -p:UnikernelNet=direct first" >&2; exit 1; }

# shellcheck source=lib.sh
source "$ROOT/bench/net/lib.sh"
make_tap_namespace 10.219.0.1/24
GATEWAY=() BIND=()
if [ "$VIA_GATEWAY" = 1 ]; then
  ip netns exec "$NS" ip addr add 192.0.2.53/32 dev lo
  GATEWAY=(--ipv4-gateway 10.219.0.1) BIND=(-b 192.0.2.53)
fi
ip netns exec "$NS" "$DIRECT_BIN" --interface "$TAP" --ipv4 10.219.0.2/24 "${GATEWAY[@]}" --address 10.219.0.2 --port 53 > "$WORK/dns.log" 2>&1 &
DNS=$!
PIDS+=("$DNS")
wait_serving "$WORK/dns.log"
ip netns exec "$NS" timeout 20 dig @10.219.0.2 +time=2 +tries=3 host1.example.org A > /dev/null
MAC=$(ip netns exec "$NS" ip neigh show 10.219.0.2 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$DNS/status"; }
IDLE=$(rss)
for i in $(seq 0 99); do echo "s$i.apps.example.org A"; done > "$WORK/queries"

ip netns exec "$NS" timeout $((DURATION + 120)) /usr/bin/python3 "$ROOT/bench/net/hostile-traffic.py" "$MODE" --iface "$TAP" \
  --dst 10.219.0.2 --dst-mac "$MAC" --network 10.219.0.0/24 --rate "$RATE" --seconds "$DURATION" --port 53 > "$WORK/attack.log" 2>&1 &
ATTACK=$!
PIDS+=("$ATTACK")
asked=0 answered=0 peak=$IDLE
while kill -0 "$ATTACK" 2>/dev/null; do
  n=$(ip netns exec "$NS" timeout 300 dig "${BIND[@]}" @10.219.0.2 +time=1 +tries=1 +noall +answer -f "$WORK/queries" | grep -cE 'IN[[:space:]]+A[[:space:]]+192\.0\.2\.100' || true)
  asked=$((asked + 100)); answered=$((answered + n))
  now=$(rss); [ "$now" -gt "$peak" ] && peak=$now
done
wait "$ATTACK" || { echo "soak.sh: the attack failed:" >&2; cat "$WORK/attack.log" >&2; exit 1; }
kill -0 "$DNS" 2>/dev/null || { echo "soak.sh: the appliance died:" >&2; cat "$WORK/dns.log" >&2; exit 1; }
echo "hostile traffic: $(cat "$WORK/attack.log") frames in ${DURATION} s at ${RATE}/s"
awk -v a="$answered" -v q="$asked" 'BEGIN { printf "dig: %d of %d answered (%.2f%%)\n", a, q, 100 * a / q }'
echo "RSS: idle ${IDLE} kB, peak ${peak} kB during the attack"
