# bench/net/lib.sh -- shared by rss.sh and soak.sh (sourced): a namespace with a tap (kernel side ADDRESS/24, up), and
# clean-up of the processes started (PIDS), the namespace and the scratch directory WORK on exit.
# Expects NS, TAP and WORK to be set.

PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}

# make_tap_namespace KERNEL_ADDRESS/PREFIX
make_tap_namespace() {
  trap cleanup EXIT
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up
  ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap
  ip netns exec "$NS" sysctl -q -w "net.ipv6.conf.$TAP.disable_ipv6=1"
  ip netns exec "$NS" ip addr add "$1" dev "$TAP"
  ip netns exec "$NS" ip link set "$TAP" up
}

# wait_serving LOG: until the appliance logging to LOG says it serves (10 s at most).
wait_serving() {
  for _ in $(seq 100); do grep -q "dns: serving" "$1" && return 0; sleep 0.1; done
  echo "the appliance did not start:" >&2
  cat "$1" >&2
  exit 1
}
