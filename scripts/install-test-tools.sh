#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use as peers or helpers (the real services'
# own packages are installed by test/scripts/services.sh). Only what is missing; root needed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PACKAGES=(
  nmap          # relay-audit: its smtp-open-relay script as a peer
  swaks         # relay-audit: a second peer for relay verdicts
  dnsperf       # dnslog: query load on named while the log is rotated
  librsvg2-bin  # dnslog: rsvg-convert renders the timeline SVG in a test
  adns-tools    # mx-check benchmark: adnshost as a bulk-lookup peer
  time          # benchmarks: /usr/bin/time for peak RSS
  openssh-client # shared: ssh-keygen and ssh-agent as peers of the SSH layer's tests
  util-linux    # wipe: losetup for the loop-device tests
  btrfs-progs   # wipe: a copy-on-write file system on a loop device
  xfsprogs      # wipe: XFS with reflinked copies on a loop device
  'busybox|busybox-static' # dnslog: the remote commands where the only tools are busybox applets
                # (test/vm/prepare.sh installs busybox-static, which replaces busybox: either will do)
  systemd       # dnslog: systemd-analyze verify on the units `schedule --systemd` prints
  openssl       # relay-audit: a throwaway CA and certificates for the TLS tests of the SMTP client
  rsync         # the unit tests under Node.js 22 and 24 run in a copy of the built tree
  mariadb-plugin-spider # dnslog: Spider front over sharded MariaDB backends (test/src/spider.test.ts);
                # only ha_spider.so and a spider.cnf that the test servers' --no-defaults ignore
)
apt_install_missing --tag install-test-tools "${PACKAGES[@]}"
