#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use as peers or helpers (the real services'
# own packages are installed by test/scripts/services.sh). Only what is missing; root needed.
set -euo pipefail
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
  busybox       # dnslog: the remote commands where the only tools are busybox applets
  systemd       # dnslog: systemd-analyze verify on the units `schedule --systemd` prints
  openssl       # relay-audit: a throwaway CA and certificates for the TLS tests of the SMTP client
  rsync         # the unit tests under Node.js 22 and 24 run in a copy of the built tree
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-test-tools: apt-get install ${missing[*]}" >&2
log=$(mktemp /tmp/install-test-tools.XXXXXX.log)
timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq >"$log" 2>&1 \
  || { echo "install-test-tools: error: apt-get update failed (log: $log)" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
  || { echo "install-test-tools: error: apt-get could not install ${missing[*]} (log: $log)" >&2; exit 1; }
rm -f "$log"
