# bench/tcp/topology.sh -- sourced by the TCP benchmarks: namespace $NSA with a tap $TAP (kernel side 10.217.0.1/24)
# and a veth $VA (10.217.1.1/24) to $VB (10.217.1.2/24) in namespace $NSB; builds TcpBench into $WORKDIR/bin.
# The caller sets NSA NSB TAP VA VB WORKDIR ROOT and deletes the namespaces on exit. make_links makes the same
# namespaces and links without building TcpBench (bench/www/direct.sh runs the web appliance on them instead).

make_topology() {
  dotnet build "$ROOT/bench/tcp" -c Release -nologo -v q -o "$WORKDIR/bin" >/dev/null
  make_links
}

make_links() {
  ip netns add "$NSA"
  ip netns add "$NSB"
  ip -n "$NSA" link set lo up
  ip -n "$NSB" link set lo up
  ip netns exec "$NSA" ip tuntap add dev "$TAP" mode tap
  ip netns exec "$NSA" sysctl -q -w "net.ipv6.conf.$TAP.disable_ipv6=1"
  ip -n "$NSA" addr add 10.217.0.1/24 dev "$TAP"
  ip -n "$NSA" link set "$TAP" up
  ip link add "$VA" netns "$NSA" type veth peer name "$VB" netns "$NSB"
  ip -n "$NSA" addr add 10.217.1.1/24 dev "$VA"
  ip -n "$NSB" addr add 10.217.1.2/24 dev "$VB"
  ip -n "$NSA" link set "$VA" up
  ip -n "$NSB" link set "$VB" up
}

# wait_ready LOG: waits (at most 10 s) for TcpBench to print "ready" into LOG.
wait_ready() {
  for _ in $(seq 100); do grep -q ready "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "TcpBench did not start:"; cat "$1"; exit 1
}
