#!/usr/bin/env bash
# Assembles a bootable VM image for a published NativeAOT appliance.
#
#   scripts/vm/make-image.sh --target microvm|xen --app NATIVE_BINARY --name NAME --out DIR
#                            [--cmdline "KERNEL ARGS"] [--args "APPLIANCE ARGS"] [--mem MIB]
#
# DIR receives:
#   microvm: bzImage (QEMU -M microvm), vmlinux (Firecracker: ELF), NAME.initramfs.cpio.xz,
#            run-qemu.sh, firecracker.json
#   xen:     vmlinux (ELF with the PVH note), NAME.initramfs.cpio.xz, NAME.xl.cfg,
#            run-qemu.sh (boots the same vmlinux through its PVH entry under QEMU, for testing)
# --cmdline is added to the kernel command line (e.g. a static "ip=ADDR::GW:MASK::eth0:off"), --args are the
# appliance's own arguments: the kernel passes everything after " -- " to init as argv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="" app="" name="" out="" cmdline="" appargs="" mem=128
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    --app) app="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --cmdline) cmdline="$2"; shift 2 ;;
    --args) appargs="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    *) echo "make-image: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$target" in microvm|xen) ;; *) echo "make-image: --target microvm|xen" >&2; exit 2 ;; esac
[ -n "$app" ] && [ -f "$app" ] || { echo "make-image: --app must be the published native binary" >&2; exit 2; }
[ -n "$out" ] || { echo "make-image: --out DIR" >&2; exit 2; }
name="${name:-$(basename "$app")}"
case "$name" in *[!A-Za-z0-9._-]*) echo "make-image: --name may only hold [A-Za-z0-9._-]" >&2; exit 2 ;; esac

kernel_dir="$("$here/build-kernel.sh" "$target" | tail -n 1)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
initramfs="$name.initramfs.cpio.xz"
"$here/build-initramfs.sh" "$app" "$out/$initramfs"

cp "$kernel_dir/vmlinux" "$out/vmlinux"
if [ "$target" = microvm ]; then
  cp "$kernel_dir/bzImage" "$out/bzImage"
  qemu_kernel=bzImage
  qemu_machine="microvm,acpi=off"
  base_cmdline="console=ttyS0 reboot=t panic=1 quiet"
else
  rm -f "$out/bzImage"
  qemu_kernel=vmlinux            # PVH entry point
  qemu_machine="microvm,acpi=off"
  base_cmdline="console=ttyS0 console=hvc0 reboot=t panic=1 quiet"
fi

# --- run-qemu.sh ----------------------------------------------------------------------------
cat > "$out/run-qemu.sh" <<EOF
#!/bin/sh
# Boots $name under QEMU ($qemu_machine) with the serial console on stdio.
# The VM powers itself off when the appliance exits; QEMU then exits (-no-reboot).
#   ./run-qemu.sh [--tap IFNAME] [--mem MIB] [--cmdline "KERNEL ARGS"] [--pvh] [-- APPLIANCE ARGS...]
# --pvh boots the ELF vmlinux through its PVH entry instead (no self-decompression: much faster under TCG).
# A tap NIC becomes eth0 (virtio-net); configure it with e.g. --cmdline "ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off".
# Uses KVM when /dev/kvm is usable, TCG otherwise. QEMU_EXTRA is appended to QEMU's arguments.
set -eu
here="\$(cd "\$(dirname "\$0")" && pwd)"
tap="" mem="$mem" extra="$cmdline" kernel="$qemu_kernel"
while [ \$# -gt 0 ]; do
  case "\$1" in
    --tap) tap="\$2"; shift 2 ;;
    --mem) mem="\$2"; shift 2 ;;
    --cmdline) extra="\$extra \$2"; shift 2 ;;
    --pvh) kernel=vmlinux; shift ;;
    --) shift; break ;;
    *) echo "run-qemu.sh: unknown option \$1" >&2; exit 2 ;;
  esac
done
if [ \$# -gt 0 ]; then appargs="\$*"; else appargs="$appargs"; fi
if [ -w /dev/kvm ]; then accel="-accel kvm -cpu host"; else accel="-accel tcg -cpu max"; fi
net="" devices=""
if [ -n "\$tap" ]; then
  net="-netdev tap,id=net0,ifname=\$tap,script=no,downscript=no -device virtio-net-device,netdev=net0"
  # QEMU's microvm appends the virtio-mmio devices at the very end of the command line, i.e. after " -- ", where
  # the kernel no longer reads them (they would reach the appliance's argv). So auto-kernel-cmdline is off and the
  # device is named before " -- ": the first virtio device sits on microvm's last transport (base 0xfeb00000 +
  # 7 * 0x200, GSI 5 + 7).
  devices="virtio_mmio.device=512@0xfeb00e00:12"
fi
# shellcheck disable=SC2086
exec qemu-system-x86_64 -M $qemu_machine,auto-kernel-cmdline=off \$accel -m "\$mem" -smp 1 \\
  -nodefaults -no-user-config -display none -serial stdio -no-reboot \\
  -kernel "\$here/\$kernel" -initrd "\$here/$initramfs" \\
  -append "$base_cmdline \$devices \$extra -- \$appargs" \$net \${QEMU_EXTRA:-}
EOF
chmod +x "$out/run-qemu.sh"

json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

if [ "$target" = microvm ]; then
  # Firecracker: ELF vmlinux, reset through its i8042 (reboot=k). Paths are relative to DIR: run it from there.
  cat > "$out/firecracker.json" <<EOF
{
  "boot-source": {
    "kernel_image_path": "vmlinux",
    "initrd_path": "$initramfs",
    "boot_args": "$(json_escape "console=ttyS0 reboot=k panic=1 pci=off quiet $cmdline -- $appargs")"
  },
  "drives": [],
  "machine-config": {
    "vcpu_count": 1,
    "mem_size_mib": $mem,
    "smt": false
  },
  "network-interfaces": [
    {
      "iface_id": "eth0",
      "guest_mac": "06:00:00:00:00:02",
      "host_dev_name": "tap0"
    }
  ]
}
EOF
else
  # Xen PVH domU. Relative paths: run `xl create $name.xl.cfg` from DIR.
  cat > "$out/$name.xl.cfg" <<EOF
# Xen PVH domU for the Unikernel appliance $name (xl create $name.xl.cfg, from this directory).
name = "$name"
type = "pvh"
kernel = "vmlinux"
ramdisk = "$initramfs"
extra = "console=hvc0 panic=1 quiet $cmdline -- $appargs"
memory = $mem
vcpus = 1
vif = [ "bridge=xenbr0" ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
fi

kernel_file="$qemu_kernel"
total=$(( $(stat -c %s "$out/$kernel_file") + $(stat -c %s "$out/$initramfs") ))
echo "make-image: $target image of $name in $out: $kernel_file $(stat -c %s "$out/$kernel_file") B + initramfs $(stat -c %s "$out/$initramfs") B = $total B" >&2
