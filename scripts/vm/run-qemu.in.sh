#!/bin/sh
# Boots @NAME@ under QEMU (@MACHINE@) with the serial console on stdio.
# The VM powers itself off when the appliance exits; QEMU then exits (-no-reboot).
#   ./run-qemu.sh [--tap IFNAME | --forward tcp|udp:HOSTPORT:GUESTPORT ...] [--mem MIB] [--cmdline "KERNEL ARGS"]
#                 [--pvh] [--print-accel] [-- APPLIANCE ARGS...]
# --pvh boots the ELF vmlinux through its PVH entry instead (no self-decompression: much faster under TCG).
# A tap NIC becomes eth0 (virtio-net). Socket images: configure it with e.g.
#   --cmdline "ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off"
# Direct-stack images (@NET@): the kernel has no IP stack; the appliance takes eth0 (its --ipv4, or DHCP).
# --forward (repeatable; no root, no tap) gives the VM QEMU's user-mode network instead: HOSTPORT on the host's
# 127.0.0.1 is forwarded to GUESTPORT of the VM, e.g. --forward tcp:8000:8080. A socket image gets the address QEMU's
# network expects (ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off) unless --cmdline names an ip=.
# Accelerator: UNIKERNEL_ACCEL=kvm|tcg forces one; otherwise KVM only when /dev/kvm is usable, the CPU flags show
# vmx or svm, and a probe boot of this kernel under KVM ends by itself within 10 s (some hosts expose a /dev/kvm
# that cannot run ordinary guests, e.g. PVM); TCG otherwise. The choice is printed on stderr.
# --print-accel prints only the choice (kvm or tcg) and exits. QEMU_EXTRA is appended to QEMU's arguments.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
tap="" forwards="" mem=@MEM@ extra=@CMDLINE@ kernel=@KERNEL@ print_accel=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tap) tap="$2"; shift 2 ;;
    --forward)
      case "${2:-}" in
        tcp:*:*|udp:*:*) ;;
        *) echo "run-qemu.sh: --forward tcp|udp:HOSTPORT:GUESTPORT, not '${2:-}'" >&2; exit 2 ;;
      esac
      fwd="$2"; proto="${fwd%%:*}"; ports="${fwd#*:}"
      forwards="$forwards,hostfwd=$proto:127.0.0.1:${ports%%:*}-:${ports#*:}"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --cmdline) extra="$extra $2"; shift 2 ;;
    --pvh) kernel=vmlinux; shift ;;
    --print-accel) print_accel=1; shift ;;
    --) shift; break ;;
    *) echo "run-qemu.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ $# -gt 0 ]; then appargs="$*"; else appargs=@APPARGS@; fi
# Arguments every boot of this image needs, before the user's (a later repeat of an option wins).
appargs="@FIXEDARGS@ $appargs"

command -v qemu-system-x86_64 >/dev/null || { echo "run-qemu.sh: qemu-system-x86_64 not found (apt-get install qemu-system-x86)" >&2; exit 1; }

kvm_reason() { # prints why KVM is not used, or nothing when it may be probed
  [ -e /dev/kvm ] || { echo "no /dev/kvm"; return; }
  { [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || { echo "/dev/kvm not read-writable"; return; }
  grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null || { echo "no vmx/svm in /proc/cpuinfo"; return; }
}

# A bounded probe: the real kernel under KVM with no initramfs panics at once (no root) and resets; -no-reboot
# ends QEMU with status 0. An abort (unsupported MSRs) or a hang (no progress in 10 s) means KVM is unusable here.
kvm_probe() {
  timeout -s KILL 10 qemu-system-x86_64 -M @MACHINE@,auto-kernel-cmdline=off -accel kvm -cpu host -m 64 -smp 1 \
    -nodefaults -no-user-config -display none -serial none -no-reboot \
    -kernel "$here/vmlinux" -append "@BASE_CMDLINE@ panic=-1" </dev/null >/dev/null 2>&1
}

accel="${UNIKERNEL_ACCEL:-auto}"
case "$accel" in
  kvm) why="UNIKERNEL_ACCEL=kvm" ;;
  tcg) why="UNIKERNEL_ACCEL=tcg" ;;
  auto)
    why="$(kvm_reason)"
    if [ -z "$why" ]; then
      if kvm_probe; then accel=kvm why="probe boot under KVM succeeded"; else accel=tcg why="probe boot under KVM failed or hung"; fi
    else
      accel=tcg
    fi ;;
  *) echo "run-qemu.sh: UNIKERNEL_ACCEL must be kvm or tcg, not '$accel'" >&2; exit 2 ;;
esac
if [ "$print_accel" = 1 ]; then echo "$accel"; exit 0; fi
echo "run-qemu.sh: accelerator $accel ($why)" >&2
if [ "$accel" = kvm ]; then accel_args="-accel kvm -cpu host"; else accel_args="-accel tcg -cpu max"; fi

net="" devices=""
if [ -n "$tap" ] && [ -n "$forwards" ]; then
  echo "run-qemu.sh: --tap or --forward, not both" >&2; exit 2
fi
if [ -n "$forwards" ]; then
  net="-netdev user,id=net0$forwards -device virtio-net-device,netdev=net0@NICOPTS@"
  case " $extra " in
    *" ip="*) ;;
    *) if [ "@STACK@" = socket ]; then extra="$extra ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"; fi ;;
  esac
fi
if [ -n "$tap" ]; then
  net="-netdev tap,id=net0,ifname=$tap,script=no,downscript=no -device virtio-net-device,netdev=net0@NICOPTS@"
fi
if [ -n "$net" ]; then
  # QEMU's microvm appends the virtio-mmio devices at the very end of the command line, i.e. after " -- ", where
  # the kernel no longer reads them (they would reach the appliance's argv). So auto-kernel-cmdline is off and the
  # device is named before " -- ": the first virtio device sits on microvm's last transport (base 0xfeb00000 +
  # 7 * 0x200, GSI 5 + 7).
  devices="virtio_mmio.device=512@0xfeb00e00:12"
fi
# shellcheck disable=SC2086
exec qemu-system-x86_64 -M @MACHINE@,auto-kernel-cmdline=off $accel_args -m "$mem" -smp 1 \
  -nodefaults -no-user-config -display none -serial stdio -no-reboot \
  -kernel "$here/$kernel" -initrd "$here/@INITRAMFS@" \
  -append "@BASE_CMDLINE@ $devices $extra -- $appargs" $net ${QEMU_EXTRA:-}
