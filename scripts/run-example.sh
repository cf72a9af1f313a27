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
image="examples/$example/dist/$target/$example"
echo "image: $image ($(stat -c %s "$image") bytes); device graph: $image.dot"
if [ "$target" = "unix" ] || [ "$target" = "test" ]; then
  exec "$image" "$@"
fi
echo "boot it with: examples/$example/dist/$target/run-qemu.sh"
