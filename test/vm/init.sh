#!/bin/sh
# /init of the test VM's initramfs (busybox sh; prepare.sh copies it there). Loads the modules listed
# in /vm/modules.order, mounts the host's / read-only over 9p at /host with the guest's own proc, sys,
# dev and a tmpfs /tmp and /run over it, mounts the read-write share at /host/tmp/share, copies /vm
# (dmsetup, mdadm, busybox, modules) to /host/tmp/vm, then runs the scenario inside `chroot /host`
# and writes its exit code to the share as `exit-code`, and powers off.
#
# Kernel command line: toolbox.script=PATH (inside the chroot; default /tmp/share/scenario.sh).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

uptime() { cut -d' ' -f1 /proc/uptime; }
say() { echo "vm: $*"; }
off() {
  sync
  poweroff -f
  sleep 2
  echo o >/proc/sysrq-trigger
}
fail() {
  say "error: $*"
  off
}

say "init at $(uptime)s"
while read -r m; do
  insmod "/vm/modules/$m.ko" || fail "insmod $m failed"
done </vm/modules.order

script=/tmp/share/scenario.sh
for a in $(cat /proc/cmdline); do
  case $a in toolbox.script=*) script=${a#toolbox.script=} ;; esac
done

# the virtio devices may take a moment to show up after their drivers load
i=0
until mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /host 2>/dev/null; do
  i=$((i + 1))
  [ $i -lt 50 ] || fail "cannot mount the host's / (9p tag host)"
  sleep 0.1
done
mount -t proc proc /host/proc || fail "mount /host/proc"
mount -t sysfs sysfs /host/sys || fail "mount /host/sys"
mount -t devtmpfs devtmpfs /host/dev || fail "mount /host/dev"
mount -t tmpfs -o mode=1777 tmpfs /host/tmp || fail "mount /host/tmp"
mount -t tmpfs -o mode=755 tmpfs /host/run || fail "mount /host/run"
mkdir -p /host/tmp/share /host/dev/shm
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /host/tmp/share || fail "cannot mount the share (9p tag share)"
cp -a /vm /host/tmp/vm || fail "cannot copy /vm into the guest's /tmp"

say "scenario start at $(uptime)s"
env -i PATH=/tmp/vm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp \
  TERM=dumb LANG=C.UTF-8 SHARE=/tmp/share \
  /bin/chroot /host /bin/sh -c 'cd /tmp && exec /bin/sh "$0"' "$script"
rc=$?
echo "$rc" >/host/tmp/share/exit-code
say "scenario exit $rc at $(uptime)s"
umount /host/tmp/share
off
