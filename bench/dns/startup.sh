#!/usr/bin/env bash
# bench/dns/startup.sh -- time from process start to the first DNS answer of the dns appliance.
#
# Usage: bench/dns/startup.sh [APPLIANCE_BINARY]   (default examples/dns/dist/unix/dns; RUNS=10)
# Each run picks a free loopback port, starts the image with its compiled-in zones (--log-level warn), and a
# UDP client sends "example.org SOA" every 1 ms until the first answer (bounded at 2 s). Prints every run and the
# median, in milliseconds. Measured from just before the process is spawned (fork+exec included).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${1:-$ROOT/examples/dns/dist/unix/dns}
[[ -x $BIN ]] || { echo "appliance binary not found: $BIN" >&2; exit 1; }
exec /usr/bin/python3 - "$BIN" "${RUNS:-10}" <<'PY'
import socket, struct, subprocess, sys, time, statistics
binary, runs = sys.argv[1], int(sys.argv[2])

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

def query(qid):
    name = b"".join(bytes([len(l)]) + l for l in b"example.org".split(b".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 6, 1)

times = []
for run in range(runs):
    port = free_port()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.setblocking(False)
    start = time.perf_counter()
    p = subprocess.Popen([binary, "--address", "127.0.0.1", "--port", str(port), "--log-level", "warn"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got, qid = None, 0
    try:
        while time.perf_counter() - start < 2.0 and got is None:
            qid = (qid + 1) & 0xFFFF
            try:
                c.sendto(query(qid), ("127.0.0.1", port))
            except OSError:
                pass
            deadline = time.perf_counter() + 0.001
            while time.perf_counter() < deadline:
                try:
                    data = c.recv(4096)
                    if len(data) >= 12 and data[2] & 0x80:
                        got = time.perf_counter() - start; break
                except (BlockingIOError, ConnectionRefusedError):
                    time.sleep(0.0001)
    finally:
        p.terminate()
        try: p.wait(2)
        except subprocess.TimeoutExpired: p.kill(); p.wait()
        c.close()
    if got is None:
        print(f"run {run + 1}: no answer within 2 s"); continue
    times.append(got * 1000)
    print(f"run {run + 1}: {got * 1000:.1f} ms")
if not times:
    sys.exit("no answers")
print(f"median start-up to first answer: {statistics.median(times):.1f} ms ({len(times)}/{runs} runs)")
PY
