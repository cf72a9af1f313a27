#!/usr/bin/env bash
# bench/www/run.sh -- the web appliance (examples/www over host sockets) against nginx and h2o, measured in one run.
#
#   bench/www/run.sh [WWW_BINARY]        (as root, from anywhere; not a test)
#
# Every server serves the same directory (a small HTML file and a 100 KiB file) on loopback, pinned to core
# $SERVER_CPU; the load generator is pinned to core $CLIENT_CPU. Printed:
#   1. wrk, $CONNECTIONS connections, $DURATION s per run: requests/s and requests per server CPU-second (utime+stime
#      of the server's processes from /proc, so other tenants of a shared machine do not count), and our ratios.
#   2. latency p50/p99 at a fixed rate below saturation: h2load --h1 --rps (per-request times from --log-file).
#   3. the image size of examples/www, and start to first response (median of $STARTS starts) against nginx.
# nginx: one process (master_process off), access_log off, sendfile on. h2o: num-threads 1, access log off.
# Knobs: DURATION (10), CONNECTIONS (50), RATE_CLIENTS (10), RATE_PER_CLIENT (300), STARTS (10), SERVER_CPU (0),
# CLIENT_CPU (1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WWW_BIN=${1:-${WWW_BIN:-$ROOT/examples/www/dist/unix/www}}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
RATE_CLIENTS=${RATE_CLIENTS:-10}
RATE_PER_CLIENT=${RATE_PER_CLIENT:-300}
STARTS=${STARTS:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

need() { command -v "$1" >/dev/null || { echo "bench/www: '$1' not found: install the Debian package $2 (scripts/setup.sh lists it)" >&2; exit 1; }; }
need wrk wrk
need nginx nginx-light
need h2o h2o
need h2load nghttp2-client
need taskset util-linux
need curl curl
need python3 python3

if [[ ! -x $WWW_BIN ]]; then
  echo "bench/www: publishing examples/www (NativeAOT) ..."
  dotnet publish "$ROOT/examples/www" -c Release -nologo -clp:NoSummary >/dev/null
fi
[[ -x $WWW_BIN ]] || { echo "bench/www: no image at $WWW_BIN" >&2; exit 1; }

WORK=$(mktemp -d /tmp/www-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

SITE=$WORK/site
. "$ROOT/bench/www/site.sh"
make_site "$SITE"
chmod -R a+rX "$SITE"
SMALL_BYTES=$(stat -c %s "$SITE/small.html")

PORT_WWW=18180
PORT_NGINX=18181
PORT_H2O=18182

# nginx: one process, no access log, sendfile.
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 10000000;
  keepalive_timeout 75s;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  types { text/html html; }
  server {
    listen 127.0.0.1:$PORT_NGINX;
    root $SITE;
  }
}
EOF

# h2o: one thread; it refuses to run as root without a user to switch to (so its files live in a directory nobody owns).
mkdir -p "$WORK/h2o"
chown nobody "$WORK/h2o"
cat >"$WORK/h2o.conf" <<EOF
user: nobody
num-threads: 1
error-log: $WORK/h2o/error.log
listen:
  host: 127.0.0.1
  port: $PORT_H2O
hosts:
  default:
    paths:
      /:
        file.dir: $SITE
EOF

start_server() { # name -> sets SERVER_PID
  case $1 in
    unikernel) taskset -c "$SERVER_CPU" "$WWW_BIN" --address 127.0.0.1 --port $PORT_WWW --site "$SITE" --log-level warn >"$WORK/www.log" 2>&1 & ;;
    nginx) taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" >"$WORK/nginx.log" 2>&1 & ;;
    h2o) taskset -c "$SERVER_CPU" h2o -c "$WORK/h2o.conf" >"$WORK/h2o.log" 2>&1 & ;;
  esac
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local port
  port=$(port_of "$1")
  for _ in $(seq 1 500); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/small.html" && return 0
    sleep 0.02
  done
  echo "bench/www: $1 did not start" >&2
  cat "$WORK"/*.log >&2 || true
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

port_of() { case $1 in unikernel) echo $PORT_WWW ;; nginx) echo $PORT_NGINX ;; h2o) echo $PORT_H2O ;; esac; }

# CPU ticks (utime + stime) of a process and its descendants.
cpu_ticks() {
  local total=0 pid
  for pid in $1 $(pgrep -P "$1" 2>/dev/null || true); do
    if [[ -r /proc/$pid/stat ]]; then
      local stat
      stat=$(sed 's/^.*) //' "/proc/$pid/stat")
      # fields after the command: state(1) ... utime is field 14 of the full line, i.e. 12 here; stime 13.
      total=$((total + $(echo "$stat" | awk '{ print $12 + $13 }')))
    fi
  done
  echo "$total"
}
TICKS=$(getconf CLK_TCK)

declare -A RPS CPU_RPS
echo "=== wrk: $CONNECTIONS connections, ${DURATION}s, server on core $SERVER_CPU, wrk on core $CLIENT_CPU ==="
printf '%-10s %-10s %12s %12s %16s\n' server file requests/s cpu-seconds requests/cpu-s
for server in unikernel nginx h2o; do
  start_server $server
  port=$(port_of $server)
  for file in small.html 100k.html; do
    url="http://127.0.0.1:$port/$file"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d1s "$url" >/dev/null # warm up
    before=$(cpu_ticks "$SERVER_PID")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url")
    after=$(cpu_ticks "$SERVER_PID")
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ { print }')
    cpu=$(python3 -c "print(max(($after - $before) / $TICKS, 0.01))")
    per_cpu=$(python3 -c "print(round($requests / $cpu))")
    RPS[$server.$file]=$rps
    CPU_RPS[$server.$file]=$per_cpu
    printf '%-10s %-10s %12s %12s %16s %s\n' $server $file "$rps" "$cpu" "$per_cpu" "$errors"
  done
  stop_server
done
echo
echo "=== ratios (ours / peer) ==="
for file in small.html 100k.html; do
  for peer in h2o nginx; do
    python3 -c "print('%-10s vs %-6s requests/s %.2fx   requests per CPU-second %.2fx' % ('$file', '$peer', ${RPS[unikernel.$file]} / ${RPS[$peer.$file]}, ${CPU_RPS[unikernel.$file]} / ${CPU_RPS[$peer.$file]}))"
  done
done

echo
total_rate=$((RATE_CLIENTS * RATE_PER_CLIENT))
echo "=== latency at a fixed rate: h2load --h1, $RATE_CLIENTS clients x $RATE_PER_CLIENT req/s = $total_rate req/s, ${DURATION}s, small.html ==="
printf '%-10s %10s %10s %10s %10s\n' server requests p50-ms p99-ms max-ms
for server in unikernel nginx h2o; do
  start_server $server
  port=$(port_of $server)
  log=$WORK/h2load-$server.log
  taskset -c "$CLIENT_CPU" h2load --h1 -c "$RATE_CLIENTS" --rps "$RATE_PER_CLIENT" -D "$DURATION" --log-file="$log" "http://127.0.0.1:$port/small.html" >"$WORK/h2load-$server.out" 2>&1 || true
  python3 - "$log" "$server" <<'EOF'
import sys
times = sorted(int(line.split('\t')[2]) / 1000.0 for line in open(sys.argv[1]) if line.count('\t') >= 2 and line.split('\t')[1] == '200')
if not times:
    print('%-10s no successful requests' % sys.argv[2]); sys.exit()
pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
print('%-10s %10d %10.3f %10.3f %10.3f' % (sys.argv[2], len(times), pick(0.50), pick(0.99), times[-1]))
EOF
  stop_server
done

echo
echo "=== image ==="
size=$(stat -c %s "$WWW_BIN")
printf 'examples/www image: %d bytes (%.2f MiB), %s\n' "$size" "$(python3 -c "print($size / 1048576)")" "$(file -b "$WWW_BIN" | grep -o 'stripped\|not stripped' || echo '?')"
printf 'site compiled in: %s\n' "$(find "$ROOT/examples/www/site" -type f | wc -l) files, $(find "$ROOT/examples/www/site" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }') bytes (plus their .gz/.br twins)"

echo
echo "=== start to first response (median of $STARTS starts; a raw GET every 1 ms until a 200) ==="
python3 - "$WWW_BIN" "$SITE" "$STARTS" "$WORK" "$SERVER_CPU" <<'EOF'
import os, signal, socket, statistics, subprocess, sys, time
www, site, starts, work, cpu = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
commands = {
    'unikernel': (['taskset', '-c', cpu, www, '--address', '127.0.0.1', '--port', '18190', '--log-level', 'error'], 18190),
    'nginx': (['taskset', '-c', cpu, 'nginx', '-c', work + '/nginx/nginx.conf', '-p', work + '/nginx'], 18181),
}
def first_response(port, deadline):
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                s.sendall(b'GET /small.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' if port != 18190 else b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                if s.recv(12).startswith(b'HTTP/1.1 200'):
                    return True
        except OSError:
            pass
        time.sleep(0.001)
    return False
for name, (command, port) in commands.items():
    samples = []
    for _ in range(starts):
        t0 = time.perf_counter()
        p = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = first_response(port, t0 + 10)
        samples.append(time.perf_counter() - t0)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill(); p.wait()
        if not ok:
            print(f'{name}: no response within 10 s'); break
    else:
        print(f'{name:10s} median {statistics.median(samples) * 1000:7.1f} ms  (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})')
EOF
