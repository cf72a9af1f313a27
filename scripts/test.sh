#!/usr/bin/env bash
# The whole test suite: set-up, build (warnings are errors), every test project, then a check that the run left
# nothing behind. Prints one closing line "N passed, N failed, N skipped". Exit code 0 only when everything passed
# and nothing was left behind.
#
# A test that hangs ends as a failure: the runner's hang timeout (UNIKERNEL_TEST_HANG_TIMEOUT, default 15min per
# test, generous: the first publish of a VM image can build a kernel) kills the test host and writes a dump into
# artifacts/test-results/.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/setup.sh || { echo "setup failed"; exit 1; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
started=$(date +%s)
dotnet build Unikernel.sln -c Release 2>&1 | tail -n 30
build=${PIPESTATUS[0]}
if [ "$build" -ne 0 ]; then
  echo "build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

# The kernels the VM tests boot, built (or found in the cache) before any test runs: a cold build takes minutes per
# flavour and must not count against a test's hang timeout. build-kernel.sh prints progress and the cache path.
for flavour in microvm microvm-noinet xen; do
  bash scripts/vm/build-kernel.sh "$flavour" > /dev/null || { echo "building the $flavour kernel failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
done
echo "kernels ready after $(( $(date +%s) - started ))s"

results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

# --- What the run must not leave behind: namespaces, links, test processes, test temp folders ------------------
tmp="${TMPDIR:-/tmp}"
# Temp folders the tests create (Directory.CreateTempSubdirectory prefixes used under tests/).
tmp_prefixes='^(unikernel-|uk-|zonetest\.|dnsjob\.|dns-diff-nsd\.)'
# Programs the tests start: real peers, QEMU, and the example appliances.
test_programs='^(nsd|knotd|named|dnsmasq|qemu-system-x86|hello|dns|tcpdump|socat)$'
snapshot() {
  ip netns list 2>/dev/null | awk '{print "netns " $1}'
  ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print "link " $2}'
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    ip -n "$ns" -o link show 2>/dev/null | awk -F': ' -v ns="$ns" '{sub(/@.*/, "", $2); print "link " $2 " (netns " ns ")"}'
  done
  ps -eo pid=,comm= | awk -v re="$test_programs" '$2 ~ re {print "process " $1 " " $2}'
  find "$tmp" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | grep -E "$tmp_prefixes" | sed "s|^|temp folder $tmp/|"
}
snapshot | sort > "$results/before.txt"

# One project at a time: the machine has two cores, and the end-to-end tests publish NativeAOT images.
hang_timeout=${UNIKERNEL_TEST_HANG_TIMEOUT:-15min}
dotnet test Unikernel.sln -c Release --no-build -m:1 --logger "trx" --results-directory "$results" \
  --blame-hang-timeout "$hang_timeout" --blame-hang-dump-type mini 2>&1 | tee "$results/output.txt"
status=${PIPESTATUS[0]}

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed)))
  skipped=$((skipped + $(get notExecuted)))
done
# A hang (or a crash) aborts that project's run: its unfinished test counts as a failure.
aborted=$(grep -c "Test Run Aborted" "$results/output.txt" || true)
failed=$((failed + ${aborted:-0}))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # a project failed without a result file
fi

# Processes get a few seconds to finish exiting after a test killed them; anything still there is a leftover.
leftovers=""
for _ in 1 2 3 4 5; do
  snapshot | sort > "$results/after.txt"
  leftovers=$(comm -13 "$results/before.txt" "$results/after.txt")
  [ -z "$leftovers" ] && break
  sleep 1
done
if [ -n "$leftovers" ]; then
  echo "the test run left these behind (see $results/before.txt and after.txt):"
  echo "$leftovers" | sed 's/^/  /'
  failed=$((failed + 1))
fi

echo "test wall time: $(( $(date +%s) - started )) s (build and tests)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
