#!/usr/bin/env bash
# Runs the tests that read the clock with the clock set by libfaketime to the hours and dates where
# date arithmetic goes wrong: just after midnight, noon, the evening, just before midnight, the last
# day of a month, New Year's Eve, and both DST changes in Europe/Berlin. Each setting runs every
# workspace's unit tests; with --integration also the integration files that read the clock (real
# services: the README's test command starts them, or `npm run services:start -w test`).
#
# Usage: bash scripts/clock-matrix.sh [--integration] [--only 'YYYY-MM-DD HH:MM:SS'] 
# Exit 0 when every run passed; 1 otherwise, with the failing settings listed last.
# faketime's clock starts at the setting and runs on at the real rate. The real services keep the
# real clock (the integration set-up starts them without libfaketime: BIND's tools hang under it).
# Files keep the kernel's real time stamps, so a test that compares an mtime with the clock must set
# the mtime itself.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

integration=0
only=
while [ $# -gt 0 ]; do
  case $1 in
    --integration) integration=1 ;;
    --only) only=$2; shift ;;
    *) die "usage: bash scripts/clock-matrix.sh [--integration] [--only 'YYYY-MM-DD HH:MM:SS']" ;;
  esac
  shift
done
command -v faketime >/dev/null || {
  [ "$(id -u)" = 0 ] || die "faketime is not installed (Debian: apt-get install faketime)"
  apt_install_missing --tag clock-matrix faketime || exit 2
}

# TZ|clock: every time of day on an ordinary day, a month end, New Year's Eve, the DST changes.
SETTINGS=(
  "UTC|2026-12-07 00:00:30"
  "UTC|2026-12-07 12:00:00"
  "UTC|2026-12-07 21:30:00"
  "UTC|2026-12-07 23:59:30"
  "Europe/Berlin|2026-11-30 23:59:30"
  "Europe/Berlin|2026-04-30 21:30:00"
  "Europe/Berlin|2026-12-31 23:59:30"
  "America/New_York|2026-12-31 21:30:00"
  "Europe/Berlin|2026-10-25 02:30:00"
  "Europe/Berlin|2026-10-25 00:00:30"
  "Europe/Berlin|2026-03-29 01:59:30"
)
# The integration files whose tests or whose tool under test read the clock. The files that run
# BIND's own tools (rndc, rndc-confgen, named) cannot run under libfaketime, which those tools fail
# under at start; their own clock reads are only timeouts and unique names.
INTEGRATION_FILES=(src/dnslog-partitions.test.ts src/dnslog-report.test.ts src/wipe-loop.test.ts)

[ "$integration" = 0 ] || [ -s .services/env.json ] || die "--integration needs the real services: npm run services:start -w test"
npx turbo run build --output-logs=errors-only >/dev/null
failed=()
logdir=$(mktemp -d /tmp/clock-matrix.XXXXXX)
for s in "${SETTINGS[@]}"; do
  tz=${s%%|*} at=${s#*|}
  [ -z "$only" ] || [ "$only" = "$at" ] || continue
  runs=(packages/shared apps/dnslog apps/mx-check apps/wipe apps/relay-audit)
  [ "$integration" = 0 ] || runs+=(test)
  for ws in "${runs[@]}"; do
    files=()
    [ "$ws" = test ] && files=("${INTEGRATION_FILES[@]}")
    log=$logdir/$(echo "$tz-$at-$ws" | tr ' /:' '___').log
    if (cd "$ws" && TZ=$tz faketime "$at" npx vitest run --reporter=dot "${files[@]}" >"$log" 2>&1); then
      printf 'ok    %-16s %s  %s\n' "$tz" "$at" "$ws"
    else
      printf 'FAIL  %-16s %s  %s  (log: %s)\n' "$tz" "$at" "$ws" "$log"
      failed+=("$tz $at $ws")
    fi
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'clock-matrix: %d run(s) failed:\n' "${#failed[@]}"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "clock-matrix: every run passed (logs in $logdir)"
