#!/usr/bin/env bash
# Builds the Unikernel VM kernel for one target from Debian's linux-source package.
#
#   scripts/vm/build-kernel.sh microvm|xen|microvm-noinet|xen-noinet
#
# Configuration: `make ARCH=x86_64 tinyconfig` + scripts/vm/kernel/base.config +
# scripts/vm/kernel/TARGET.config (+ scripts/vm/kernel/noinet.config for the -noinet flavours: no Linux IP stack,
# for appliances on the direct stack). Later fragments override earlier ones. The result is cached outside the
# repository in
#   ${UNIKERNEL_CACHE:-$HOME/.cache/unikernel}/kernel/FLAVOUR-KEY/{bzImage,vmlinux,config,build-seconds}
# where KEY hashes the fragments, the recipe version below and the source package version, so a second
# run only prints the directory. The last line printed on stdout is that directory.
#
# Environment: UNIKERNEL_CACHE (cache root), UNIKERNEL_KERNEL_JOBS (default 2),
# UNIKERNEL_NO_APT=1 (never call apt-get; fail if a package is missing, as always from the Unikernel package).
set -euo pipefail

flavour="${1:-microvm}"
case "$flavour" in
  microvm|xen|microvm-noinet|xen-noinet) ;;
  *) echo "usage: $0 microvm|xen|microvm-noinet|xen-noinet" >&2; exit 2 ;;
esac
target="${flavour%-noinet}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${UNIKERNEL_CACHE:-$HOME/.cache/unikernel}"
jobs="${UNIKERNEL_KERNEL_JOBS:-2}"
log() { echo "build-kernel: $*" >&2; }

# --- Build dependencies (Debian packages) ----------------------------------------------
# In this repository (scripts/setup.sh beside this folder) a root user gets them installed. From the Unikernel package
# (build/vm/) or with UNIKERNEL_NO_APT=1, nothing is installed: a missing one is an error in MSBuild's format (the
# build shows it as an error) that names the apt-get command to run.
packages=(linux-source build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils)
fail() { echo "build-kernel : error UKVM001 : $*" >&2; exit 1; }
if ! command -v dpkg-query >/dev/null; then
  fail "the VM kernel is built from Debian's linux-source package, and this machine has no dpkg (Debian or Ubuntu needed). On Debian: sudo apt-get install ${packages[*]}"
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "${UNIKERNEL_NO_APT:-0}" = 1 ] || [ ! -f "$here/../setup.sh" ] || [ "$(id -u)" != 0 ]; then
    fail "building the $flavour VM kernel needs Debian packages that are not installed: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
fi

tarball="$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)"
[ -n "$tarball" ] || fail "no /usr/src/linux-source-*.tar.xz although linux-source is installed: reinstall it with: sudo apt-get install --reinstall linux-source"
srcname="$(basename "$tarball" .tar.xz)"            # linux-source-6.1
pkgversion="$(dpkg-query -W -f='${Version}' "$srcname" 2>/dev/null || stat -c %s "$tarball")"

# Bump when the way the kernel is built changes (not needed for edits of the fragments: they are hashed).
recipe=1
fragments=("$here/kernel/base.config" "$here/kernel/$target.config")
[ "$flavour" = "$target" ] || fragments+=("$here/kernel/noinet.config")
key="$( { echo "$srcname $pkgversion recipe $recipe"; cat "${fragments[@]}"; } | sha256sum | cut -c1-16)"
out="$cache/kernel/$flavour-$key"
if [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ]; then
  log "cached: $out"
  echo "$out"
  exit 0
fi

# One build per target at a time (a target's flavours share its build tree). A second caller waits; while it waits it
# looks for its own result every 5 s, so a build of another key (other fragments) does not keep it waiting once its key
# is cached.
mkdir -p "$cache/kernel-build"
exec 9>"$cache/kernel-build/$target.lock"
if ! flock -n 9; then
  log "another build of a $target kernel is running (lock $cache/kernel-build/$target.lock): waiting for it"
  until flock -w 5 9; do
    if [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ]; then
      log "cached: $out"
      echo "$out"
      exit 0
    fi
  done
fi
if [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ]; then
  log "cached: $out"
  echo "$out"
  exit 0
fi

# --- Source tree (extracted once per package version, under its own lock: flavours build side by side) ----
src="$cache/src/$srcname-$pkgversion"
mkdir -p "$cache/src"
exec 8>"$cache/src/extract.lock"
flock -n 8 || { log "waiting for another extraction of $srcname"; flock 8; }
if [ ! -f "$src/.extracted" ]; then
  log "extracting $tarball"
  rm -rf "$src" "$src.tmp"
  mkdir -p "$src.tmp"
  nice -n 10 tar -xJf "$tarball" -C "$src.tmp" --strip-components=1
  touch "$src.tmp/.extracted"
  mv "$src.tmp" "$src"
fi
flock -u 8

# --- Configure and build out of tree ----------------------------------------------------
# One build tree per target, shared by its flavours and reused across keys: after a fragment edit, or going from
# microvm to microvm-noinet, kbuild's per-option dependencies (include/config/, fixdep) rebuild only what the changed
# options touch, so the second flavour costs a fraction of a cold build (CI builds microvm, then microvm-noinet).
build="$cache/kernel-build/$target"
mkdir -p "$build"
mk() { nice -n 10 make -C "$src" O="$build" ARCH=x86_64 -j"$jobs" \
         KBUILD_BUILD_USER=unikernel KBUILD_BUILD_HOST=unikernel \
         KBUILD_BUILD_TIMESTAMP="@0" "$@"; }

start=$(date +%s)
# The expected duration: what the last build of this target took on this machine (any key), if there was one.
last="$(ls -t "$cache"/kernel/"$flavour"-*/build-seconds 2>/dev/null | head -n 1 || true)"
expected="$( [ -n "$last" ] && cat "$last" || true)"
log "building the $flavour kernel from $srcname ($( [ -n "$expected" ] && echo "the last build here took ${expected}s" || echo "no earlier build here to estimate from; several minutes on 2 cores" )); result: $out"
log "configuring $flavour in $build"
# Kconfig's own notes ("warning: override: ...") go to a log: MSBuild would take such lines for build warnings.
{
  mk tinyconfig &&
  KCONFIG_CONFIG="$build/.config" "$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "${fragments[@]}" &&
  mk olddefconfig
} > "$build/config.log" 2>&1 || { tail -n 40 "$build/config.log" >&2; fail "configuring the $flavour kernel failed (log: $build/config.log)"; }

# Every option the fragments ask for (the last fragment that names it wins) must have survived olddefconfig.
declare -A wanted=()
order=()
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) opt="${line%%=*}" ;;
    "# CONFIG_"*" is not set") opt="${line#\# }"; opt="${opt%% *}" ;;
    *) continue ;;
  esac
  [ -n "${wanted[$opt]+x}" ] || order+=("$opt")
  wanted[$opt]="$line"
done < <(cat "${fragments[@]}")
bad=0
for opt in "${order[@]}"; do
  line="${wanted[$opt]}"
  case "$line" in
    CONFIG_*=*)
      grep -qxF "$line" "$build/.config" || { log "not applied: $line (have: $(grep "^$opt=" "$build/.config" || echo unset))"; bad=1; } ;;
    *)
      if grep -q "^$opt=" "$build/.config"; then log "not applied: $line"; bad=1; fi ;;
  esac
done
[ "$bad" = 0 ] || { log "configuration fragment not applied (see above)"; exit 1; }

log "building bzImage vmlinux with -j$jobs (nice 10); log: $build/build.log"
# A progress line every 30 s while make runs: elapsed (of the expected), files compiled so far, make's last line.
(
  while sleep 30; do
    compiled="$(grep -c '^  CC' "$build/build.log" 2>/dev/null || true)"
    log "still building $flavour: $(( $(date +%s) - start ))s${expected:+ (last build ${expected}s)}, ${compiled:-0} files compiled, last: $(tail -n 1 "$build/build.log" 2>/dev/null | cut -c1-70 || true)"
  done
) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
mk bzImage vmlinux > "$build/build.log" 2>&1 || { kill "$ticker" 2>/dev/null || true; tail -n 40 "$build/build.log" >&2; exit 1; }
kill "$ticker" 2>/dev/null || true
wait "$ticker" 2>/dev/null || true
seconds=$(( $(date +%s) - start ))
# Children's user and system CPU time (independent of other load on the machine). `times` runs in this shell: in a
# pipe or $(...) it would report a fresh subshell's zeros.
times > "$build/times.txt"
cpu="$(tail -n 1 "$build/times.txt")"

tmp="$out.tmp"
rm -rf "$tmp"; mkdir -p "$tmp"
cp "$build/arch/x86/boot/bzImage" "$tmp/bzImage"
# vmlinux without symbols: loadable segments and the PVH ELF note stay.
objcopy --strip-all "$build/vmlinux" "$tmp/vmlinux"
cp "$build/.config" "$tmp/config"
echo "$seconds" > "$tmp/build-seconds"
echo "$cpu" > "$tmp/build-cpu"
echo "$srcname $pkgversion" > "$tmp/source"
rm -rf "$out"; mv "$tmp" "$out"
log "built $flavour in ${seconds}s (CPU user/sys of the build: $cpu): bzImage $(stat -c %s "$out/bzImage") B, vmlinux $(stat -c %s "$out/vmlinux") B; cached in $out"
echo "$out"
