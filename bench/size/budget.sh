#!/usr/bin/env bash
# bench/size/budget.sh -- image size, start-up and peak memory of the hello and dns appliances against issue 17's goals.
#
# Usage: bench/size/budget.sh [--publish]
#   --publish  publish examples/hello and examples/dns first (Release, target unix, socket stack)
# Knobs: HELLO_BIN [examples/hello/dist/unix/hello]  DNS_BIN [examples/dns/dist/unix/dns]
#        BEFORE_DNS []  an older dns image: start-up and memory are then measured for both, interleaved
#        RUNS [10] start-ups per image   LOAD_SECONDS [5] dnsperf run for the memory figure (skipped without dnsperf)
# Prints each figure next to its goal (hello <= 1.0 MB and dns <= 1.5 MB stripped; peak RSS of dns under load
# <= 5 MiB). The start-up goal (<= 0.5x Knot's) is a ratio: take it from ../shared/bench/dns-anchors.sh, whose
# start-up column measures every server the same way; bench/dns/startup.sh gives our own figure.
# Sizes are of `strip` copies, so a build with symbols compares the same. Not a test: nothing here fails a build.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HELLO_BIN=${HELLO_BIN:-$ROOT/examples/hello/dist/unix/hello}
DNS_BIN=${DNS_BIN:-$ROOT/examples/dns/dist/unix/dns}
BEFORE_DNS=${BEFORE_DNS:-}
RUNS=${RUNS:-10}
LOAD_SECONDS=${LOAD_SECONDS:-5}

if [[ ${1:-} == --publish ]]; then
  for app in hello dns; do
    dotnet publish "$ROOT/examples/$app" -c Release -p:UnikernelTarget=unix -nologo -clp:NoSummary >/dev/null
  done
fi

echo "load: $(uptime | sed 's/.*load average/load average/')"
size_line() { # name path goal-bytes
  local stripped; stripped=$(mktemp)
  strip -o "$stripped" "$2"
  local bytes; bytes=$(stat -c %s "$stripped"); rm -f "$stripped"
  awk -v n="$1" -v b="$bytes" -v g="$3" 'BEGIN { printf "%-22s %10d B stripped (%.2f MB)  goal <= %.1f MB  %s\n", n, b, b / 1e6, g / 1e6, (b <= g ? "met" : "NOT met") }'
}
for pair in "hello:$HELLO_BIN:1000000" "dns:$DNS_BIN:1500000"; do
  IFS=: read -r name path goal <<<"$pair"
  [[ -x $path ]] || { echo "$name: $path is missing (publish it, or pass --publish)"; continue; }
  size_line "$name" "$path" "$goal"
done
[[ -n $BEFORE_DNS ]] && size_line "dns (before)" "$BEFORE_DNS" 1500000

# Start-up to the first answer and peak RSS under dnsperf, interleaved over the images given.
/usr/bin/python3 - "$RUNS" "$LOAD_SECONDS" "$DNS_BIN" $BEFORE_DNS <<'PY'
import os, shutil, socket, statistics, struct, subprocess, sys, time
runs, load_seconds, binaries = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]

def free_port():
    while True:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port)); return port
        except OSError:
            pass
        finally:
            u.close(); t.close()

QUERY = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x07example\x03org\x00" + struct.pack(">HH", 6, 1)

def start(binary, port):
    return subprocess.Popen([binary, "--address", "127.0.0.1", "--port", str(port), "--log-level", "warn"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def first_answer(binary):
    port = free_port()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.setblocking(False)
    t0 = time.perf_counter(); p = start(binary, port); got = None
    try:
        while got is None and time.perf_counter() - t0 < 2.0:
            try: c.sendto(QUERY, ("127.0.0.1", port))
            except OSError: pass
            deadline = time.perf_counter() + 0.001
            while time.perf_counter() < deadline:
                try:
                    if c.recv(4096)[2] & 0x80: got = (time.perf_counter() - t0) * 1000; break
                except (BlockingIOError, ConnectionRefusedError):
                    time.sleep(0.0001)
    finally:
        p.terminate(); p.wait(5); c.close()
    return got

def hwm_under_load(binary):
    if shutil.which("dnsperf") is None:
        return None
    port = free_port(); p = start(binary, port)
    try:
        if first_answer_at(port) is None: return None
        qfile = "/tmp/budget-queries.%d" % os.getpid()
        with open(qfile, "w") as f:
            f.write("example.org SOA\nexample.org NS\nwww.example.org A\nnone.example.org A\nexample.org MX\n")
        subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(load_seconds), "-c", "4", "-q", "200"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=load_seconds + 20)
        os.remove(qfile)
        for line in open(f"/proc/{p.pid}/status"):
            if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    finally:
        p.terminate(); p.wait(5)

def first_answer_at(port):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(0.05)
    try:
        for _ in range(100):
            try:
                c.sendto(QUERY, ("127.0.0.1", port))
                if c.recv(4096)[2] & 0x80: return True
            except OSError: pass
        return None
    finally: c.close()

times = {b: [] for b in binaries}
for _ in range(runs):
    for b in binaries:
        t = first_answer(b)
        if t is not None: times[b].append(t)
for i, b in enumerate(binaries):
    label = "dns" if i == 0 else "dns (before)"
    ts = times[b]
    start_text = f"start-up to first answer median {statistics.median(ts):.1f} ms (min {min(ts):.1f}, {len(ts)}/{runs} runs)" if ts else "no answers"
    hwm = hwm_under_load(b)
    hwm_text = f"peak RSS (VmHWM) after {load_seconds} s of dnsperf -c 4: {hwm:.2f} MiB, goal <= 5 MiB {'met' if hwm <= 5 else 'NOT met'}" if hwm else "peak RSS: not measured (dnsperf missing or no answer)"
    print(f"{label:22s} {start_text}\n{'':22s} {hwm_text}")
PY
