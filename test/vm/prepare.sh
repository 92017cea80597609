#!/usr/bin/env bash
# Prepares what test/vm/run-vm.ts boots: a stock Debian kernel (generic amd64 flavour, the one
# linux-image-amd64 depends on) and a busybox initramfs that mounts this machine's / read-only over
# 9p and runs a scenario script inside `chroot /host`. See test/vm/README.md.
#
#   sudo bash test/vm/prepare.sh            # cache: ${TOOLBOX_VM_DIR:-<repo>/.vm}
#
# Idempotent: installs with apt-get only what is missing (qemu-system-x86, busybox-static), downloads
# the kernel, dmsetup and mdadm packages once (unpacked with dpkg-deb -x into the cache: nothing goes
# into /boot, nothing of mdadm or dmsetup is installed on this machine), and rebuilds the initramfs
# (under a second). On any failure it prints one `prepare.sh: error: …` line and exits 1; every
# network step has a timeout.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${TOOLBOX_VM_DIR:-$repo/.vm}
source "$repo/scripts/lib.sh" # apt_install_missing (its say is redefined below)

fail() {
  printf 'prepare.sh: error: %s\n' "$*" >&2
  exit 1
}
say() { printf 'prepare.sh: %s\n' "$*"; }
# step WHAT CMD...: runs CMD quietly; on failure one error line with CMD's last line of output.
step() {
  local what=$1 out
  shift
  if ! out=$("$@" 2>&1); then
    fail "$what: $(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c1-300)"
  fi
}
trap 'fail "unexpected failure at line $LINENO: $BASH_COMMAND"' ERR

[[ $(id -u) == 0 ]] || fail "run as root (apt-get, mknod)"
[[ $(uname -m) == x86_64 ]] || fail "an x86_64 machine is needed (found $(uname -m))"
command -v apt-get >/dev/null || fail "apt-get not found: a Debian machine is needed"

mkdir -p "$cache" 2>/dev/null || fail "cannot create $cache"
[[ -e $cache/.gitignore ]] || printf '*\n' >"$cache/.gitignore"
# one prepare.sh at a time per cache (a second waits; run-vm reads what the first leaves)
exec 9>"$cache/.lock"
flock -w 900 9 || fail "another prepare.sh holds $cache/.lock for more than 15 min"

APT_OPTS=(-o DPkg::Lock::Timeout=120 -o Acquire::http::Timeout=30 -o Acquire::https::Timeout=30 -o Acquire::Retries=2 -q)
updated=0
apt_update() {
  if [[ $updated == 0 ]]; then
    say "apt-get update"
    step "apt-get update" timeout 300 apt-get "${APT_OPTS[@]}" update
    updated=1
  fi
}

# --- 1. host packages: qemu, busybox (static: it runs in the initramfs), cpio ------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v xz >/dev/null || need+=(xz-utils)
is_static() { local out; out=$(ldd "$1" 2>&1 || true); [[ $out == *'not a dynamic'* ]]; }
if ! [[ -x /bin/busybox ]] || ! is_static /bin/busybox; then need+=(busybox-static); fi
command -v cpio >/dev/null || need+=(cpio)
command -v dpkg-deb >/dev/null || fail "dpkg-deb not found"
# (no service started by a package's scripts)
if ((${#need[@]} > 0)); then apt_install_missing --tag prepare.sh --no-daemons "${need[@]}" || exit 1; fi
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 still missing after installing qemu-system-x86"
busybox=/bin/busybox
is_static "$busybox" || fail "$busybox is not statically linked (busybox-static)"

# --- 2. the kernel, dmsetup and mdadm packages, unpacked into the cache -------------------------
kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *|\{0,1\}Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | grep -v -- '-unsigned$' | head -n 1
}
kpkg=$(kernel_pkg || true)
if [[ -z $kpkg ]]; then
  apt_update
  kpkg=$(kernel_pkg || true)
fi
[[ -n $kpkg ]] || fail "no linux-image-<version>-amd64 found in linux-image-amd64's dependencies (apt-cache depends linux-image-amd64)"
dmpkg=$(apt-cache depends dmsetup 2>/dev/null | sed -n 's/^ *Depends: \(libdevmapper[^ ]*\)$/\1/p' | head -n 1 || true)
[[ -n $dmpkg ]] || dmpkg=libdevmapper1.02.1
pkgs=("$kpkg" dmsetup "$dmpkg" mdadm)

debs=$cache/debs
mkdir -p "$debs"
have_deb() { compgen -G "$debs/${1}_*.deb" >/dev/null; }
missing_debs=()
for p in "${pkgs[@]}"; do have_deb "$p" || missing_debs+=("$p"); done
if ((${#missing_debs[@]} > 0)); then
  say "downloading ${missing_debs[*]}"
  dl() { (cd "$debs" && timeout 600 apt-get "${APT_OPTS[@]}" download "${missing_debs[@]}"); }
  if ! dl >/dev/null 2>&1; then
    apt_update
    step "apt-get download ${missing_debs[*]}" dl
  fi
  for p in "${missing_debs[@]}"; do have_deb "$p" || fail "apt-get download $p produced no .deb in $debs"; done
fi
# keep only the newest version of each package we use (a later run may have found a newer kernel)
for p in "${pkgs[@]}"; do
  newest=$(ls -1 "$debs/${p}_"*.deb | sort -V | tail -n 1)
  for f in "$debs/${p}_"*.deb; do [[ $f == "$newest" ]] || rm -f "$f"; done
done
kdeb=$(ls -1 "$debs/${kpkg}_"*.deb | tail -n 1)

# The kernel: vmlinuz and the modules the VM uses (uncompressed, each after its dependencies) are
# kept in $cache/kernel; the whole package (400 MB unpacked) only in a temporary directory.
BOOT_MODULES=(virtio_pci virtio_blk 9pnet_virtio 9p dm_mod md_mod raid1) # built in or .ko: both fine
OPTIONAL_MODULES=(nvme dm_flakey dm_delay dm_dust)                       # loaded at boot when present
EXTRA_MODULES=(scsi_debug)                                               # shipped, not loaded
kdir=$cache/kernel
kstamp="$(basename "$kdeb") ${BOOT_MODULES[*]} / ${OPTIONAL_MODULES[*]} / ${EXTRA_MODULES[*]}"
if [[ $(cat "$kdir/.stamp" 2>/dev/null || true) != "$kstamp" ]]; then
  say "unpacking $(basename "$kdeb")"
  rm -rf "$kdir" "$cache/.extract"
  mkdir -p "$kdir/modules" "$cache/.extract"
  trap 'rm -rf "$cache/.extract"' EXIT
  kroot=$cache/.extract
  step "dpkg-deb -x $(basename "$kdeb")" dpkg-deb -x "$kdeb" "$kroot"
  vmlinuz=$(ls -1 "$kroot"/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
  [[ -n $vmlinuz ]] || fail "$kdeb has no /boot/vmlinuz-*"
  kver=${vmlinuz##*/vmlinuz-}
  moddir=
  for d in "$kroot/lib/modules/$kver" "$kroot/usr/lib/modules/$kver"; do if [[ -d $d ]]; then moddir=$d; fi; done
  [[ -n $moddir ]] || fail "$kdeb has no modules directory for $kver"

  # index every .ko by its name (dashes and underscores are the same to the kernel)
  declare -A kofile=()
  while IFS= read -r f; do
    b=${f##*/}
    b=${b%.xz}
    b=${b%.zst}
    b=${b%.gz}
    b=${b%.ko}
    kofile[${b//-/_}]=$f
  done < <(find "$moddir/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
  ((${#kofile[@]} > 0)) || fail "no kernel modules found under $moddir"
  if [[ ${kofile[dm_mod]:-} == *.zst ]] && ! command -v zstd >/dev/null; then install_pkgs zstd; fi

  ko_plain() { # ko_plain FILE OUT: the module uncompressed (busybox insmod reads plain .ko)
    case $1 in
      *.xz) xz -dc "$1" >"$2" ;;
      *.zst) zstd -qdc "$1" >"$2" ;;
      *.gz) gzip -dc "$1" >"$2" ;;
      *) cp "$1" "$2" ;;
    esac
  }
  declare -A placed=()
  order=()
  add_module() { # add_module NAME: NAME after its dependencies (modinfo depends=), each once
    local n=${1//-/_} f out deps d
    if [[ -n ${placed[$n]:-} ]]; then return 0; fi
    f=${kofile[$n]:-}
    [[ -n $f ]] || fail "kernel $kver has no module $1"
    placed[$n]=1
    out=$kdir/modules/$n.ko
    ko_plain "$f" "$out" || fail "cannot uncompress $f"
    deps=$(tr '\0' '\n' <"$out" | sed -n 's/^depends=//p' | head -n 1)
    for d in ${deps//,/ }; do add_module "$d"; done
    order+=("$n")
  }
  builtin=$(sed 's#.*/##; s#\.ko$##; s#-#_#g' "$moddir/modules.builtin" 2>/dev/null || true)
  for m in "${BOOT_MODULES[@]}"; do
    if [[ -n ${kofile[$m]:-} ]]; then
      add_module "$m"
    elif ! grep -qx "$m" <<<"$builtin"; then
      fail "kernel $kver has no module $m (neither a .ko nor built in)"
    fi
  done
  for m in "${OPTIONAL_MODULES[@]}"; do
    if [[ -n ${kofile[$m]:-} ]]; then add_module "$m"; fi
  done
  printf '%s\n' "${order[@]}" >"$kdir/modules.order"
  # only what is not loaded at boot already
  order=()
  for m in "${EXTRA_MODULES[@]}"; do
    if [[ -n ${kofile[$m]:-} ]]; then add_module "$m"; fi
  done
  if ((${#order[@]} > 0)); then printf '%s\n' "${order[@]}"; fi >"$kdir/modules.extra"
  cp "$vmlinuz" "$kdir/vmlinuz"
  printf '%s\n' "$kver" >"$kdir/version"
  rm -rf "$cache/.extract"
  printf '%s\n' "$kstamp" >"$kdir/.stamp"
fi
kver=$(cat "$kdir/version")

troot=$cache/tools
stamp=$(for p in dmsetup "$dmpkg" mdadm; do ls -1 "$debs/${p}_"*.deb; done | xargs -n1 basename | tr '\n' ' ')
if [[ ! -e $troot/.unpacked || $(cat "$troot/.unpacked") != "$stamp" ]]; then
  rm -rf "$troot"
  mkdir -p "$troot"
  for p in dmsetup "$dmpkg" mdadm; do
    f=$(ls -1 "$debs/${p}_"*.deb | tail -n 1)
    step "dpkg-deb -x $(basename "$f")" dpkg-deb -x "$f" "$troot"
  done
  printf '%s' "$stamp" >"$troot/.unpacked"
fi

# --- 3. the initramfs ---------------------------------------------------------------------------
stage=$cache/initramfs.stage
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,proc,sys,dev,host,tmp,vm/bin,vm/libexec,vm/lib,vm/modules}
cp "$busybox" "$stage/bin/busybox"
for a in sh mount umount mkdir insmod cat echo sleep poweroff sync chroot env cp ls dmesg mknod ln; do
  ln -sf busybox "$stage/bin/$a"
done
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3

cp "$kdir"/modules/*.ko "$stage/vm/modules/"
cp "$kdir/modules.order" "$kdir/modules.extra" "$stage/vm/"
# modules.order: loaded at boot by /init; modules.extra: a scenario loads them with
#   insmod /tmp/vm/modules/NAME.ko ARGS   (in this order; e.g. scsi_debug)

# dmsetup and mdadm from the unpacked packages, with the libraries they need that the host lacks;
# in the guest they run from /tmp/vm/bin inside the chroot (wrappers set LD_LIBRARY_PATH)
libdirs=$(find "$troot" -type d \( -path '*/lib/x86_64-linux-gnu' \) | tr '\n' ':')
for tool in dmsetup mdadm; do
  bin=$(find "$troot" -type f -name "$tool" -path '*sbin*' | head -n 1)
  [[ -n $bin ]] || fail "no $tool binary in the unpacked packages"
  if nf=$(LD_LIBRARY_PATH=$libdirs ldd "$bin" 2>&1 | grep 'not found'); then
    fail "$tool needs libraries this machine lacks: $(echo "$nf" | awk '{print $1}' | tr '\n' ' ')"
  fi
  cp "$bin" "$stage/vm/libexec/$tool"
  LD_LIBRARY_PATH=$libdirs ldd "$bin" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
    case $lib in "$troot"/*) cp -L "$lib" "$stage/vm/lib/" ;; esac
  done
  printf '#!/bin/sh\nLD_LIBRARY_PATH=/tmp/vm/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec /tmp/vm/libexec/%s "$@"\n' "$tool" >"$stage/vm/bin/$tool"
  chmod 755 "$stage/vm/bin/$tool"
done
cp "$busybox" "$stage/vm/busybox"
for a in insmod rmmod lsmod blockdev; do
  printf '#!/bin/sh\nexec /tmp/vm/busybox %s "$@"\n' "$a" >"$stage/vm/bin/$a"
  chmod 755 "$stage/vm/bin/$a"
done

cp "$here/init.sh" "$stage/init"
chmod 755 "$stage/init"

initrd=$cache/initrd.img
step "cpio" bash -c "cd '$stage' && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1 >'$initrd.new'"
mv "$initrd.new" "$initrd"
rm -f "$cache/vmlinuz" # (an older layout's copy)
rm -rf "$stage"

cat >"$cache/vm.json.new" <<EOF
{
  "kernelPackage": "$kpkg",
  "kernelVersion": "$kver",
  "kernel": "$kdir/vmlinuz",
  "initrd": "$cache/initrd.img",
  "modules": "$(tr '\n' ' ' <"$kdir/modules.order" | sed 's/ $//')",
  "nvme": $(if [[ -e $kdir/modules/nvme.ko ]]; then echo true; else echo false; fi),
  "qemu": "$(command -v qemu-system-x86_64)"
}
EOF
mv "$cache/vm.json.new" "$cache/vm.json"
say "ready: $kpkg, initramfs $(du -k "$initrd" | cut -f1) KiB, modules: $(tr '\n' ' ' <"$kdir/modules.order")(cache $cache)"
