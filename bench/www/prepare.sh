#!/usr/bin/env bash
# bench/www/prepare.sh -- what a crunched site's build-time ETag digests and response heads save at start-up (not a test).
#
#   bench/www/prepare.sh [WWW_IMAGE ...]
#
# StaticSite's constructor over (1) examples/www/site with gzip twins of its html and css (as crunch compiles it in)
# and (2) 200 generated 50 KB text files, once hashing every file (a store without digests: --site DIR), once
# with the digests the generator emits for crunch, and once with the response heads it emits too (bench/www/SiteBench,
# JIT, best of 5 runs). Then, for each image
# given (e.g. one built before and one after a change), start to first response as in bench/www/run.sh: median of
# $STARTS starts on core $SERVER_CPU, images alternating round by round. Knobs: ROUNDS_SMALL (20000), ROUNDS_BIG (20),
# STARTS (50), ROUNDS (2), SERVER_CPU (0).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/www-prepare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

dotnet build "$ROOT/bench/www/SiteBench" -c Release -nologo -clp:NoSummary -o "$WORK/bin" >/dev/null

cp -r "$ROOT/examples/www/site" "$WORK/www"
find "$WORK/www" \( -name '*.html' -o -name '*.css' \) -size +255c -exec gzip -9 -k {} \;
mkdir "$WORK/big"
python3 - "$WORK/big" <<'PY'
import random, sys
r = random.Random(1)
for i in range(200):
    open(f'{sys.argv[1]}/p{i}.html', 'w').write(''.join(r.choice('abcdefgh <>/\n') for _ in range(50000)))
PY

dotnet "$WORK/bin/SiteBench.dll" "$WORK/www" "${ROUNDS_SMALL:-20000}"
dotnet "$WORK/bin/SiteBench.dll" "$WORK/big" "${ROUNDS_BIG:-20}"

[[ $# -gt 0 ]] || exit 0
echo "=== start to first response (median of ${STARTS:-50} starts; a raw GET every 1 ms until a 200) ==="
for _ in $(seq "${ROUNDS:-2}"); do
  for image in "$@"; do
    python3 - "$image" "${STARTS:-50}" "${SERVER_CPU:-0}" <<'PY'
import signal, socket, statistics, subprocess, sys, time
www, starts, cpu = sys.argv[1], int(sys.argv[2]), sys.argv[3]
port = 18190
def first_response(deadline):
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                if s.recv(12).startswith(b'HTTP/1.1 200'):
                    return True
        except OSError:
            pass
        time.sleep(0.001)
    return False
samples = []
for _ in range(starts):
    t0 = time.perf_counter()
    p = subprocess.Popen(['taskset', '-c', cpu, www, '--address', '127.0.0.1', '--port', str(port), '--log-level', 'error'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = first_response(t0 + 10)
    samples.append(time.perf_counter() - t0)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
    if not ok:
        sys.exit(f'{www}: no response within 10 s')
print(f'{www}: median {statistics.median(samples) * 1000:.2f} ms (min {min(samples) * 1000:.2f}, max {max(samples) * 1000:.2f})')
PY
  done
done
