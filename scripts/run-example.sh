#!/usr/bin/env bash
# Builds an example appliance as a NativeAOT image and runs it:
#   scripts/run-example.sh [EXAMPLE] [-- ARGS...]      e.g. scripts/run-example.sh hello -- --ticks 5
# The backend is chosen with UNIKERNEL_TARGET (unix, test, microvm, xen) and UNIKERNEL_NET (socket, direct).
set -euo pipefail
cd "$(dirname "$0")/.."
example=${1:-hello}
shift || true
[ "${1:-}" = "--" ] && shift
target=${UNIKERNEL_TARGET:-unix}
net=${UNIKERNEL_NET:-socket}

bash scripts/setup.sh >/dev/null
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet publish "examples/$example" -c Release -p:UnikernelTarget="$target" -p:UnikernelNet="$net" -nologo -clp:NoSummary
# dist/<target>/ for the socket stack, dist/<target>-<net>/ otherwise; the image is named after the unikernel
# (its config's name, e.g. hello-yaml's is hello), as is its device graph NAME.dot.
dist="examples/$example/dist/$target"
[ "$net" = socket ] || dist="$dist-$net"
graph=$(ls -t "$dist"/*.dot | head -n 1)
image="${graph%.dot}"
if [ "$target" = "unix" ] || [ "$target" = "test" ]; then
  echo "image: $image ($(stat -c %s "$image") bytes); device graph: $graph"
  exec "$image" "$@"
fi
echo "device graph: $graph; boot it with: examples/$example/dist/$target/run-qemu.sh"
