#!/usr/bin/env bash
# Packs a NativeAOT appliance as the only program of an initramfs.
#
#   scripts/vm/build-initramfs.sh APPLIANCE_BINARY OUT [SRC:DEST ...]
#
# OUT is an xz-compressed cpio (newc) archive holding:
#   /init                  the appliance (PID 1)
#   the ELF interpreter and the shared libraries `ldd` lists for it (glibc: ld-linux, libc, libm)
#   /dev/console (c 5 1), empty /proc /sys /dev /tmp, and any extra SRC:DEST files
# Every entry is owned by root with mtime 0 and the list is sorted, so the same inputs give the same bytes.
# INITRAMFS_MTIME=SECONDS sets another fixed mtime (NSD skips a zone file whose mtime is 0: "older than in memory").
# The archive is built by the kernel's usr/gen_init_cpio (compiled once into the cache); no root needed.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 APPLIANCE_BINARY OUT [SRC:DEST ...]" >&2; exit 2
fi
app="$(readlink -f "$1")"; out="$2"; shift 2
[ -x "$app" ] || { echo "build-initramfs: $app is not an executable" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${UNIKERNEL_CACHE:-$HOME/.cache/unikernel}"

# --- gen_init_cpio from the kernel source ----------------------------------------------
gen="$cache/bin/gen_init_cpio"
if [ ! -x "$gen" ]; then
  mkdir -p "$cache/bin"
  csrc="$(ls -d "$cache"/src/linux-source-*/usr/gen_init_cpio.c 2>/dev/null | head -n 1 || true)"
  if [ -z "$csrc" ]; then
    tarball="$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$tarball" ] || { echo "build-initramfs: needs linux-source (run scripts/vm/build-kernel.sh first)" >&2; exit 1; }
    tmpd="$(mktemp -d)"
    tar -xJf "$tarball" -C "$tmpd" --wildcards '*/usr/gen_init_cpio.c'
    csrc="$(ls "$tmpd"/*/usr/gen_init_cpio.c)"
  fi
  # The compiler's notes go to a log (MSBuild would take "warning:" lines for build warnings); shown on failure.
  cc -O2 -o "$gen.tmp" "$csrc" > "$cache/bin/gen_init_cpio.log" 2>&1 || { cat "$cache/bin/gen_init_cpio.log" >&2; exit 1; }
  mv "$gen.tmp" "$gen"
fi

# --- The list ------------------------------------------------------------------------------
list="$(mktemp)"
stage="$(mktemp -d)"
trap 'rm -rf "$list" "$stage" "$out.tmp"' EXIT
{
  echo "dir /dev 0755 0 0"
  echo "nod /dev/console 0600 0 0 c 5 1"
  echo "dir /proc 0555 0 0"
  echo "dir /sys 0555 0 0"
  echo "dir /tmp 1777 0 0"
  echo "dir /etc 0755 0 0"
} > "$list"

dirs=()
files=()
add_file() {   # SRC DEST MODE  (staged copy with mtime 0: gen_init_cpio keeps the files' own mtimes)
  local d staged; d="$(dirname "$2")"
  while [ "$d" != "/" ] && [ "$d" != "." ]; do dirs+=("$d"); d="$(dirname "$d")"; done
  staged="$stage/${#files[@]}"
  cp "$1" "$staged"; touch -d "@${INITRAMFS_MTIME:-0}" "$staged"
  files+=("file $2 $staged $3 0 0")
}

add_file "$app" /init 0755
# The interpreter and libraries, under the paths the binary will look for them.
interp="$(readelf -l "$app" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')"
if [ -n "$interp" ]; then
  add_file "$(readlink -f "$interp")" "$interp" 0755
  while read -r name _ path _; do
    case "$path" in /*) add_file "$(readlink -f "$path")" "$path" 0755 ;; esac
  done < <(ldd "$app" | grep "=> /")
fi
for extra in "$@"; do
  add_file "$(readlink -f "${extra%%:*}")" "${extra#*:}" 0644
done

if [ "${#dirs[@]}" -gt 0 ]; then
  printf '%s\n' "${dirs[@]}" | sort -u | grep -vxE '/dev|/proc|/sys|/tmp|/etc' | sed 's/.*/dir & 0755 0 0/' >> "$list" || true
fi
printf '%s\n' "${files[@]}" | sort -k2,2 >> "$list"

# --- Archive ---------------------------------------------------------------------------
# xz: crc32 check (the kernel's decoder has no crc64/sha256) and the x86 BCJ filter for code.
"$gen" -t "${INITRAMFS_MTIME:-0}" "$list" | xz --check=crc32 --x86 --lzma2=preset=9e,dict=4MiB -T1 > "$out.tmp"
mv "$out.tmp" "$out"
if [ "${UNIKERNEL_VERBOSE:-0}" = 1 ]; then cat "$list" >&2; fi
echo "build-initramfs: $out $(stat -c %s "$out") B (appliance $(basename "$app") $(stat -c %s "$app") B, xz-compressed cpio)" >&2
