#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian 12 machine (run as root). Idempotent and quick when
# everything is present already.
set -euo pipefail

packages=(
  # Real peers and clients for the DNS tests and benchmarks.
  dnsutils knot-dnsutils nsd knot bind9 dnsperf python3-dnspython
  # Network namespaces, tap devices, ping and a DHCP server for the direct-stack tests.
  iproute2 iputils-ping dnsmasq
  # VM images: QEMU, and the kernel built from Debian's source with our configuration.
  qemu-system-x86 cpio xz-utils linux-source build-essential bc bison flex libelf-dev libssl-dev
  # Measurements.
  hyperfine binutils
  # TCP and HTTP peers and clients of the direct-stack and web tests (socat, curl, nc) and the scapy-driven
  # conformance and hostile-input tests (under /usr/bin/python3).
  socat curl netcat-openbsd python3-scapy
  # The stock iperf3 client against examples/iperf (end-to-end tests, bench/tcp/iperf.sh).
  iperf3
  # Offloads off on the OpenFlow test links (a software switch sees whole frames, not GSO super-packets).
  ethtool
  # Open vSwitch for the OpenFlow interop tests (ovs-vswitchd with the netdev datapath, ovs-ofctl, ovs-testcontroller).
  openvswitch-switch openvswitch-common openvswitch-testcontroller
  # DNSSEC signing for the signed-zone tests (ldns-signzone, dnssec-signzone) and the zone checkers used as oracles.
  ldnsutils bind9-utils
  # The device graph as SVG (dot), and system-call traces for the seal's allow-lists.
  graphviz strace
  # Profiling the hot paths (perf record/report).
  linux-perf
  # Peers and load generators of bench/www (nginx, h2o, wrk, h2load) and bench/openflow.
  nginx-light h2o wrk nghttp2-client
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

# Services that are running now: the install below must not leave others running (see stop_new_services).
systemd_running() { command -v systemctl >/dev/null && [ -d /run/systemd/system ]; }
active_services() { systemd_running && systemctl list-units --type=service --state=active --no-legend --plain 2>/dev/null | awk '{print $1}' | sort; }

# Daemons from these packages must not start on their own: tests start private instances on their own ports and
# configuration and stop exactly those. invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d; exit 101
# means "do not start". An existing policy-rc.d (the machine's own) is put back afterwards, ours is removed.
policy=/usr/sbin/policy-rc.d
policy_saved=""
restore_policy() {
  if [ -n "$policy_saved" ] && [ -f "$policy_saved" ]; then
    mv -f "$policy_saved" "$policy"
    policy_saved=""
  elif [ -f "$policy.unikernel" ]; then
    rm -f "$policy"
  fi
  rm -f "$policy.unikernel"
}

# Belt and braces: a unit shipped by a package we just installed that is active now but was not before the install
# was started by the install; stop it (and only it). Units of other packages, and ones that were running, stay.
stop_new_services() { # BEFORE_FILE PACKAGES...
  local before="$1"; shift
  systemd_running || return 0
  local unit
  for unit in $(dpkg -L "$@" 2>/dev/null | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.service$' | xargs -r -n1 basename | sort -u); do
    if systemctl is-active --quiet "$unit" && ! grep -qxF "$unit" "$before"; then
      echo "setup: stopping $unit (started by the package install)"
      systemctl stop "$unit" || true
    fi
  done
}

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  before="$(mktemp)"
  active_services > "$before" || true
  trap 'restore_policy; rm -f "$before"' EXIT
  if [ -e "$policy" ]; then
    policy_saved="$policy.saved-by-unikernel-setup"
    cp -p "$policy" "$policy_saved"
  fi
  printf '#!/bin/sh\n# Written by Unikernel scripts/setup.sh for one install; removed (or the previous one restored) after it.\nexit 101\n' > "$policy.unikernel"
  chmod +x "$policy.unikernel"
  cp -p "$policy.unikernel" "$policy"
  apt-get update -q
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900 "${missing[@]}"
  restore_policy
  stop_new_services "$before" "${missing[@]}"
fi
echo "setup: ok"
