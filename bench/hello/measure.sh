#!/usr/bin/env bash
# Image size and start-up time of examples/hello (NativeAOT, target unix).
#   bench/hello/measure.sh [RUNS]     (default 20 runs)
# Prints the stripped image size and the median time from process start to the first line on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
dotnet publish examples/hello -c Release -p:UnikernelTarget=unix -nologo -clp:NoSummary >/dev/null
image=examples/hello/dist/unix/hello
stripped=$(mktemp)
strip -o "$stripped" "$image"
echo "image: $image"
echo "size (stripped): $(stat -c %s "$stripped") bytes"
rm -f "$stripped"
/usr/bin/python3 - "$image" "$runs" <<'PY'
import statistics, subprocess, sys, time
image, runs = sys.argv[1], int(sys.argv[2])
samples = []
for _ in range(runs):
    start = time.perf_counter()
    process = subprocess.Popen([image, "--ticks", "1"], stdout=subprocess.PIPE)
    line = process.stdout.readline()
    samples.append((time.perf_counter() - start) * 1000)
    process.wait(timeout=10)
    assert line.startswith(b"hello: tick 1"), line
print(f"time to first line: median {statistics.median(samples):.2f} ms, min {min(samples):.2f} ms, max {max(samples):.2f} ms over {runs} runs")
PY
