#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian 12 machine (run as root). Idempotent and quick when
# everything is present already.
set -euo pipefail

packages=(
  # Real peers and clients for the DNS tests and benchmarks.
  dnsutils knot-dnsutils nsd knot bind9 bind9-utils dnsperf python3-dnspython python3-cryptography
  # Network namespaces, tap devices, ping and a DHCP server for the direct-stack tests.
  iproute2 iputils-ping dnsmasq
  # VM images: QEMU, and the kernel built from Debian's source with our configuration.
  qemu-system-x86 cpio xz-utils linux-source build-essential bc bison flex libelf-dev libssl-dev
  # Measurements.
  hyperfine binutils
)

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
fi

# Stray daemons that a package did start would hold ports 53/67.
for daemon in named nsd knotd dnsmasq; do
  pkill -x "$daemon" 2>/dev/null || true
done
echo "setup: ok"
