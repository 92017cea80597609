#!/usr/bin/env bash
# The README's test command: installs everything the tests need (npm packages; the Debian packages
# of the real services are installed by test/scripts/services.sh, which the integration tests'
# global setup runs), builds, typechecks, lints, and runs every unit and integration test; the unit
# tests and the CLI smoke tests (scripts/smoke-cli.sh) also under Node.js 22 and 24
# (scripts/test-node-versions.sh).
# Exits non-zero when anything fails. Needs root for the real services (apt-get, namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
check_node
[ "$(id -u)" = 0 ] || die "the integration tests start real services and network namespaces: run as root"
started=$(date +%s)

ensure_npm_deps
say "Debian packages the tests use as peers"
bash scripts/install-test-tools.sh
say "a small VM for the device tests (qemu, Debian's kernel, a busybox initramfs)"
bash test/vm/prepare.sh
rm -rf apps/*/.test-results packages/*/.test-results test/.test-results

say "build"
npx turbo run build --output-logs=errors-only
status=0
say "CLI smoke tests (each tool's --help and real commands, Node.js $(node --version))"
bash scripts/smoke-cli.sh || status=$?
say "typecheck"
npx turbo run typecheck --output-logs=errors-only || status=$?
say "lint (ESLint, type-checked; Prettier)"
npm run --silent lint || status=$?

say "unit tests"
npx turbo run test --concurrency=2 --continue || status=$?
say "unit tests under Node.js 22 and 24 (from the npm registry, native addons built for each)"
bash scripts/test-node-versions.sh 22 24 || status=$?
say "integration tests (real MariaDB, BIND, OpenSSH, sendmail)"
npx turbo run test:integration || status=$?

node scripts/test-summary.mjs || status=$?
printf 'test:all took %ss\n' "$(( $(date +%s) - started ))"
exit "$status"
