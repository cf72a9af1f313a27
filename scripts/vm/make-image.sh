#!/usr/bin/env bash
# Assembles a bootable VM image for a published NativeAOT appliance.
#
#   scripts/vm/make-image.sh --target microvm|xen --app NATIVE_BINARY --name NAME --out DIR
#                            [--net socket|direct] [--cmdline "KERNEL ARGS"] [--args "APPLIANCE ARGS"] [--mem MIB]
#
# --net direct (an appliance built with -p:UnikernelNet=direct) takes the TARGET-noinet kernel (no Linux IP stack:
# scripts/vm/kernel/noinet.config) and gives the appliance "--interface eth0" first: its own stack drives the NIC
# through AF_PACKET, and the kernel neither configures nor answers on it.
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
target="" app="" name="" out="" cmdline="" appargs="" mem=128 net=socket
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    --app) app="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --cmdline) cmdline="$2"; shift 2 ;;
    --args) appargs="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --net) net="$2"; shift 2 ;;
    *) echo "make-image: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$target" in microvm|xen) ;; *) echo "make-image: --target microvm|xen" >&2; exit 2 ;; esac
[ -n "$app" ] && [ -f "$app" ] || { echo "make-image: --app must be the published native binary" >&2; exit 2; }
[ -n "$out" ] || { echo "make-image: --out DIR" >&2; exit 2; }
case "$net" in socket|direct) ;; *) echo "make-image: --net socket|direct" >&2; exit 2 ;; esac
case "$mem" in ''|*[!0-9]*) echo "make-image: --mem MIB (a number)" >&2; exit 2 ;; esac
flavour="$target" fixedargs=""
if [ "$net" = direct ]; then
  flavour="$target-noinet"
  # The kernel names the VM's NIC eth0; the catalogue's --interface default is unix's tap0.
  fixedargs="--interface eth0"
  case " $cmdline " in *" ip="*) echo "make-image: --net direct: no ip= (the appliance's own stack owns the NIC)" >&2; exit 2 ;; esac
fi
name="${name:-$(basename "$app")}"
case "$name" in *[!A-Za-z0-9._-]*) echo "make-image: --name may only hold [A-Za-z0-9._-]" >&2; exit 2 ;; esac

# random.trust_cpu=on (every command line below): the CPU's RDRAND seeds the kernel's CSPRNG at boot. Without it a
# VM with no entropy device waits in getrandom() until jitter entropy is collected (3.8 s under TCG, measured: the
# direct stack asks for random bytes at start-up). QEMU's TCG, KVM, Firecracker and Xen all pass RDRAND through.
kernel_dir="$(bash "$here/build-kernel.sh" "$flavour" | tail -n 1)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
initramfs="$name.initramfs.cpio.xz"
bash "$here/build-initramfs.sh" "$app" "$out/$initramfs"

cp "$kernel_dir/vmlinux" "$out/vmlinux"
if [ "$target" = microvm ]; then
  cp "$kernel_dir/bzImage" "$out/bzImage"
  qemu_kernel=bzImage
  qemu_machine="microvm,acpi=off"
  base_cmdline="console=ttyS0 reboot=t panic=1 random.trust_cpu=on quiet"
else
  rm -f "$out/bzImage"
  qemu_kernel=vmlinux            # PVH entry point
  qemu_machine="microvm,acpi=off"
  base_cmdline="console=ttyS0 console=hvc0 reboot=t panic=1 random.trust_cpu=on quiet"
fi

# --- run-qemu.sh (from run-qemu.in.sh: @WORD@ placeholders) -------------------------------------------
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }   # one single-quoted shell word
tpl="$(cat "$here/run-qemu.in.sh")"
sub() { tpl="${tpl//"@$1@"/"$2"}"; }
sub NAME "$name"
sub MACHINE "$qemu_machine"
sub NET "$( [ "$net" = direct ] && echo "this one" || echo "not this one" )"
sub STACK "$net"
sub MEM "$(shq "$mem")"
sub CMDLINE "$(shq "$cmdline")"
sub APPARGS "$(shq "$appargs")"
sub FIXEDARGS "$fixedargs"
# Direct stack: no large receive offloads (the host would hand the guest TCP/UDP segments bigger than the MTU, which
# only a kernel stack could take). Unfinished checksums (guest_csum) are finished by PacketNetworkInterface.
sub NICOPTS "$( [ "$net" = direct ] && echo ",guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off" )"
sub KERNEL "$qemu_kernel"
sub INITRAMFS "$initramfs"
sub BASE_CMDLINE "$base_cmdline"
printf '%s\n' "$tpl" > "$out/run-qemu.sh"
chmod +x "$out/run-qemu.sh"

json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

if [ "$target" = microvm ]; then
  # Firecracker: ELF vmlinux, reset through its i8042 (reboot=k). Paths are relative to DIR: run it from there.
  cat > "$out/firecracker.json" <<EOF
{
  "boot-source": {
    "kernel_image_path": "vmlinux",
    "initrd_path": "$initramfs",
    "boot_args": "$(json_escape "console=ttyS0 reboot=k panic=1 pci=off random.trust_cpu=on quiet $cmdline -- $fixedargs $appargs")"
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
extra = "console=hvc0 panic=1 random.trust_cpu=on quiet $cmdline -- $fixedargs $appargs"
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
echo "make-image: $target ($net stack, kernel $flavour) image of $name in $out: $kernel_file $(stat -c %s "$out/$kernel_file") B + initramfs $(stat -c %s "$out/$initramfs") B = $total B" >&2
