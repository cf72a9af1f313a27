#!/usr/bin/env bash
# Boot-to-first-DNS-answer: the DNS appliance's microvm images (socket stack, and our direct stack on the kernel
# without Linux's IP stack) against NSD booted by the socket image's kernel.
#
#   bench/vm/boot-to-dns.sh [RUNS]        (default 5; needs root: a network namespace with a tap device)
#
# Publish both images first:
#   dotnet publish examples/dns -c Release -p:UnikernelTarget=microvm                         (dist/microvm/)
#   dotnet publish examples/dns -c Release -p:UnikernelTarget=microvm -p:UnikernelNet=direct  (dist/microvm-direct/)
#
# Every VM boots its vmlinux through the PVH entry (run-qemu.sh --pvh; the accelerator run-qemu.sh picks is printed)
# with a tap NIC in a network namespace made here (10.202.0.1 host, 10.202.0.2 guest: kernel `ip=` for the socket
# image and NSD, the appliance's own `--ipv4 10.202.0.2/24` for the direct image). The time is from
# starting QEMU to the first valid answer (NOERROR, AA, 192.0.2.80) to `www.example.org A` over UDP, polled every
# 50 ms from inside the namespace; QEMU is then killed. Prints each run, the medians and their ratios, then the image
# sizes (kernel, initramfs, total) of hello and dns (socket and direct) for microvm and xen.
#
# NSD image: Debian's /usr/sbin/nsd as /init (PID 1, `-d` foreground, `-c /etc/nsd/nsd.conf`), its shared libraries
# (ldd), a tiny config and the same zone file the appliance compiles in (examples/dns/zones/example.org.zone).
# No shell, no busybox. Its files get mtime 1, not 0 (see below). NSD does not chroot or drop privileges here; its state files go to /tmp.
# Images missing from examples/NAME/dist/TARGET are made with make-image.sh from the existing publish output.
set -euo pipefail

runs="${1:-5}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d /tmp/boot-to-dns.XXXXXX)"
ns="ukbench$$"
cleanup() { ip netns delete "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

command -v nsd >/dev/null || { echo "boot-to-dns: nsd not installed (apt-get install nsd)" >&2; exit 1; }
dns_image="$repo/examples/dns/dist/microvm"
direct_image="$repo/examples/dns/dist/microvm-direct"
[ -x "$dns_image/run-qemu.sh" ] || { echo "boot-to-dns: publish first: dotnet publish examples/dns -c Release -p:UnikernelTarget=microvm" >&2; exit 1; }
[ -x "$direct_image/run-qemu.sh" ] || { echo "boot-to-dns: publish first: dotnet publish examples/dns -c Release -p:UnikernelTarget=microvm -p:UnikernelNet=direct" >&2; exit 1; }

# --- the NSD image: same kernel, nsd as init ---------------------------------------------------------------
mkdir -p "$work/nsd-files"
cat > "$work/nsd-files/nsd.conf" <<'CONF'
server:
  ip-address: 0.0.0.0
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "/etc/nsd"
  database: ""
  pidfile: "/tmp/nsd.pid"
  xfrdfile: "/tmp/xfrd.state"
  zonelistfile: "/tmp/zone.list"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: "example.org"
  zonefile: "/etc/nsd/example.org.zone"
CONF
nsd-checkconf "$work/nsd-files/nsd.conf"
"$repo/scripts/vm/make-image.sh" --target microvm --app /usr/sbin/nsd --name nsd --out "$work/nsd" >/dev/null
# mtime 1: NSD does not load a zone file with mtime 0 ("zonefile ... is older than zone transfer in memory").
INITRAMFS_MTIME=1 "$repo/scripts/vm/build-initramfs.sh" /usr/sbin/nsd "$work/nsd/nsd.initramfs.cpio.xz" \
  "$work/nsd-files/nsd.conf:/etc/nsd/nsd.conf" "$repo/examples/dns/zones/example.org.zone:/etc/nsd/example.org.zone" >/dev/null
cmp -s "$dns_image/vmlinux" "$work/nsd/vmlinux" || { echo "boot-to-dns: the dns image's kernel is not the current microvm kernel" >&2; exit 1; }

# --- the namespace ----------------------------------------------------------------------------------------
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add dev tap0 mode tap
ip -n "$ns" addr add 10.202.0.1/24 dev tap0
ip -n "$ns" link set tap0 up
kip="ip=10.202.0.2::10.202.0.1:255.255.255.0:bench:eth0:off"

# One boot: prints seconds from QEMU start to the first valid answer (or FAIL), then kills QEMU.
boot_once() { # DIR LOG KERNEL-ARGS [APPLIANCE ARGS...]
  local dir="$1" log="$2" kargs="$3"; shift 3
  ip netns exec "$ns" python3 - "$dir/run-qemu.sh" "$kargs" "$log" "$@" <<'PY'
import os, socket, struct, subprocess, sys, time
run, kip, log, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
query = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x03www\x07example\x03org\x00" + struct.pack(">HH", 1, 1)
want = socket.inet_aton("192.0.2.80")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.05)
start = time.monotonic()
with open(log, "wb") as out:
    qemu = subprocess.Popen([run, "--pvh", "--tap", "tap0", "--cmdline", kip, "--"] + args,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
result = "FAIL"
try:
    while time.monotonic() - start < 120 and qemu.poll() is None:
        try:
            s.sendto(query, ("10.202.0.2", 53))
            while True:
                data = s.recv(4096)
                ident, flags = struct.unpack(">HH", data[:4])
                if ident == 0x4242 and flags & 0x8000 and flags & 0x0400 and flags & 0x000F == 0 and want in data:
                    result = "%.2f" % (time.monotonic() - start)
                    break
        except OSError:
            continue
        break
finally:
    qemu.kill()
    qemu.wait()
print(result)
PY
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

echo "boot to first DNS answer (QEMU start -> valid UDP answer), $runs runs each, accelerator $("$dns_image/run-qemu.sh" --print-accel), load $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$work/appliance.times"; : > "$work/direct.times"; : > "$work/nsd.times"
for i in $(seq "$runs"); do
  a="$(boot_once "$dns_image" "$work/appliance.$i.log" "$kip" --address 0.0.0.0 --port 53)"
  d="$(boot_once "$direct_image" "$work/direct.$i.log" "" --ipv4 10.202.0.2/24 --address 0.0.0.0 --port 53)"
  n="$(boot_once "$work/nsd" "$work/nsd.$i.log" "$kip" -d -c /etc/nsd/nsd.conf)"
  echo "  run $i: appliance (socket) $a s, appliance (direct) $d s, nsd $n s"
  [ "$a" = FAIL ] || echo "$a" >> "$work/appliance.times"
  [ "$d" = FAIL ] || echo "$d" >> "$work/direct.times"
  [ "$n" = FAIL ] || echo "$n" >> "$work/nsd.times"
  if [ "$a" = FAIL ] || [ "$d" = FAIL ] || [ "$n" = FAIL ]; then tail -n 20 "$work/appliance.$i.log" "$work/direct.$i.log" "$work/nsd.$i.log" >&2; fi
done
ma="$(median < "$work/appliance.times")"; md="$(median < "$work/direct.times")"; mn="$(median < "$work/nsd.times")"
echo "median: appliance socket $ma s ($(wc -l < "$work/appliance.times") ok), appliance direct $md s ($(wc -l < "$work/direct.times") ok), nsd $mn s ($(wc -l < "$work/nsd.times") ok)"
awk -v a="$ma" -v d="$md" -v n="$mn" 'BEGIN { if (a > 0 && n > 0) printf "ratio socket/nsd: %.2f\n", a / n; if (d > 0 && a > 0) printf "ratio direct/socket: %.2f\n", d / a }'

# --- image sizes ------------------------------------------------------------------------------------------
size() { stat -c %s "$1"; }
echo
printf '%-10s %-8s %-10s %12s %12s %12s\n' app target kernel kernel-B initramfs-B total-B
for app in hello dns dns-direct; do
  for target in microvm xen; do
    if [ "$app" = dns-direct ]; then
      dir="$repo/examples/dns/dist/$target-direct"
      [ -f "$dir/dns.initramfs.cpio.xz" ] || { echo "dns-direct $target: not published"; continue; }
      kernel=vmlinux; [ "$target" = microvm ] && kernel=bzImage
      k="$(size "$dir/$kernel")"; r="$(size "$dir/dns.initramfs.cpio.xz")"
      printf '%-10s %-8s %-10s %12d %12d %12d\n' "$app" "$target" "$kernel" "$k" "$r" $((k + r))
      continue
    fi
    dir="$repo/examples/$app/dist/$target"
    if [ ! -f "$dir/$app.initramfs.cpio.xz" ]; then
      bin="$(ls -t "$repo"/examples/$app/bin/Release/*-socket/net10.0/linux-x64/publish/$app 2>/dev/null | head -n 1 || true)"
      [ -n "$bin" ] || { echo "$app $target: not published" ; continue; }
      dir="$work/size-$app-$target"
      "$repo/scripts/vm/make-image.sh" --target "$target" --app "$bin" --name "$app" --out "$dir" >/dev/null
    fi
    kernel=vmlinux; [ "$target" = microvm ] && kernel=bzImage
    k="$(size "$dir/$kernel")"; r="$(size "$dir/$app.initramfs.cpio.xz")"
    printf '%-10s %-8s %-10s %12d %12d %12d\n' "$app" "$target" "$kernel" "$k" "$r" $((k + r))
    if [ "$target" = xen ]; then
      printf '%-10s %-8s %-10s %12d %12d %12d\n' "$app" "$target" "vmlinux.xz" "$(xz -c -9 "$dir/vmlinux" | wc -c)" "$r" $(( $(xz -c -9 "$dir/vmlinux" | wc -c) + r ))
    fi
  done
done
printf '%-10s %-8s %-10s %12s %12d\n' nsd microvm - - "$(size "$work/nsd/nsd.initramfs.cpio.xz")"
