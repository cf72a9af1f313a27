#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian 12 machine (run as root). Idempotent and quick when
# everything is present already.
set -euo pipefail

packages=(
  # Real peers and clients for the DNS tests and benchmarks.
  dnsutils knot-dnsutils nsd knot bind9 bind9-utils dnsperf python3-dnspython python3-cryptography
  # Network namespaces, tap devices, ping and a DHCP server for the direct-stack tests.
  iproute2 iputils-ping dnsmasq
  # Hostile traffic (spoofed sources, fragment trains, ARP floods) against the direct stack over a tap.
  python3-scapy
  # Linux peers for the direct stack's TCP tests and benchmarks.
  socat netcat-openbsd
  # OpenFlow peers: Open vSwitch (userspace datapath, ovs-ofctl) and its test controller; ethtool turns veth offloads off.
  openvswitch-switch openvswitch-common openvswitch-testcontroller ethtool
  # VM images: QEMU, and the kernel built from Debian's source with our configuration.
  qemu-system-x86 cpio xz-utils linux-source build-essential bc bison flex libelf-dev libssl-dev
  # Measurements.
  hyperfine binutils
  # The device graph as SVG next to each image (dot), and its test.
  graphviz
  # Web clients, servers and load generators for the HTTP tests and bench/www (policy-rc.d keeps nginx/h2o stopped).
  curl python3 wrk nginx-light h2o nghttp2-client
)
# Editor tests: yaml-language-server (installed from npm into the test's folder) runs on node. Only when the commands
# are missing: a node from elsewhere (NodeSource's nodejs carries npm) conflicts with Debian's npm package.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Daemons from these packages must not start on their own: tests start private instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Tests run private Open vSwitch instances; a system one started by the package (where policy-rc.d did not stop
  # it) is stopped right after the install that brought it.
  if [[ " ${missing[*]} " == *" openvswitch-switch "* ]] && [ -e /var/run/openvswitch/ovs-vswitchd.pid ]; then
    /usr/share/openvswitch/scripts/ovs-ctl stop || true
  fi
fi

# Stray daemons that a package did start would hold ports 53/67.
for daemon in named nsd knotd dnsmasq; do
  pkill -x "$daemon" 2>/dev/null || true
done
echo "setup: ok"
