#!/usr/bin/env bash
# The README's first command: installs the npm dependencies, builds, and runs the main job on its
# embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
check_node
ensure_npm_deps
say "build"
npx turbo run build --output-logs=errors-only
# The main job on its embedded default: ship the committed sample (real lines written by BIND's
# named) into ./dnslog.sqlite — no server, no configuration — then report on it.
mkdir -p .demo/spool
cp apps/dnslog/sample/query.log.20261125093000 .demo/spool/
cd .demo
say "dnslog ship spool/query.log.* --min-age 0   (into ./dnslog.sqlite, the default)"
# (--min-age 0: the sample was copied into the spool a moment ago; ship otherwise leaves files
# modified in the last minute for the next run, as named may still be writing them)
npx --no-install dnslog ship 'spool/query.log.*' --server ns1.demo --min-age 0
say "dnslog report top-names --limit 10"
npx --no-install dnslog report top-names --limit 10
say "dnslog report top-clients --limit 10"
npx --no-install dnslog report top-clients --limit 10
say "dnslog report qtypes"
npx --no-install dnslog report qtypes
printf '\nThe database is .demo/dnslog.sqlite (sqlite3 .demo/dnslog.sqlite "SELECT * FROM dns_queries LIMIT 5").\n'
