#!/usr/bin/env bash
# CLI smoke tests: each tool's launcher (apps/*/bin/<tool>.js, the built dist/ behind it) run by one
# Node.js binary: `--help`, and real commands that need nothing beyond loopback and a temp dir —
# dnslog ships a sample log into a new SQLite file and reports on it (better-sqlite3's native
# addon under this Node), wipe overwrites a temp file and its bytes are checked, mx-check reads a
# hosts file and meets a resolver port where nothing listens, relay-audit audits the example
# sendmail config. Expects a built tree (npx turbo run build).
#
# Usage: bash scripts/smoke-cli.sh [NODE]     NODE: the node binary to run the tools with (default: node)
# One line per check; exit 1 naming the checks that failed (each with its last lines of output).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
NODE=${1:-node}
command -v "$NODE" >/dev/null || die "smoke-cli: no node binary '$NODE'"
NODE=$(command -v "$NODE")
version=$("$NODE" --version)
for tool in dnslog wipe mx-check relay-audit; do
  [ -f "apps/$tool/dist/cli.js" ] || die "smoke-cli: apps/$tool/dist/cli.js is missing: build first (npx turbo run build)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smoke-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=()
n=0

# check NAME EXIT FRAGMENT... -- CMD...: CMD (stdin from /dev/null, at most 120 s) must exit EXIT
# and print every FRAGMENT (stdout and stderr together).
check() {
  local name=$1 want=$2 out=$tmp/out.$((++n)) rc=0 f missing=()
  shift 2
  local fragments=()
  while [ "$1" != -- ]; do fragments+=("$1"); shift; done
  shift
  timeout 120 "$@" </dev/null >"$out" 2>&1 || rc=$?
  for f in "${fragments[@]}"; do grep -qF -- "$f" "$out" || missing+=("$f"); done
  if [ "$rc" = "$want" ] && [ ${#missing[@]} -eq 0 ]; then
    printf 'smoke-cli: ok   %-32s exit %s\n' "$name" "$rc"
    return 0
  fi
  local why="exit $rc"
  [ "$rc" = "$want" ] || why+=", expected $want"
  [ ${#missing[@]} -eq 0 ] || why+="; output lacks$(printf " '%s'" "${missing[@]}")"
  [ "$rc" != 124 ] || why+=" (timed out after 120 s)"
  printf 'smoke-cli: FAIL %-32s %s\n' "$name" "$why"
  tail -n 8 "$out" | sed 's/^/    | /'
  failed+=("$name")
}

# a check of something the tool left behind: CONDITION is a command
check_that() { # NAME WHAT CMD...
  local name=$1 what=$2
  shift 2
  if "$@" >/dev/null 2>&1; then printf 'smoke-cli: ok   %-32s %s\n' "$name" "$what"
  else printf 'smoke-cli: FAIL %-32s not so: %s\n' "$name" "$what"; failed+=("$name"); fi
}

printf 'smoke-cli: Node.js %s (%s)\n' "$version" "$NODE"

for tool in dnslog wipe mx-check relay-audit; do
  check "$tool --help" 0 "Usage: $tool" "Exit codes:" -- "$NODE" "apps/$tool/bin/$tool.js" --help
done

# ---- dnslog: parse, ship into SQLite, report
sample=$(compgen -G 'apps/dnslog/sample/query.log.*' | head -n 1 || true)
if [ -z "$sample" ]; then
  printf 'smoke-cli: FAIL %-32s no sample log apps/dnslog/sample/query.log.*\n' dnslog
  failed+=("dnslog sample")
else
  lines=$(wc -l <"$sample")
  # the most queried name of the sample, for the report to name
  top=$(sed -n 's/.*: query: \([^ ]*\) .*/\1/p' "$sample" | sort | uniq -c | sort -k1,1nr -k2 | awk 'NR == 1 { print $2 }')
  check "dnslog parse" 0 "$lines rows, 0 skipped" -- "$NODE" apps/dnslog/bin/dnslog.js parse "$sample"
  mkdir "$tmp/logs"
  cp "$sample" "$tmp/logs/"
  # older than ship's --min-age: a file named may still be writing is left for the next run
  touch -d '1 hour ago' "$tmp/logs/${sample##*/}"
  check "dnslog ship (SQLite)" 0 "shipped 1 file(s): $lines rows, 0 rejected" -- \
    "$NODE" apps/dnslog/bin/dnslog.js ship "$tmp/logs/${sample##*/}" --db "sqlite:$tmp/dnslog.sqlite" --server smoke
  check_that "dnslog ship moved the log" "${sample##*/} in old/" test -f "$tmp/logs/old/${sample##*/}"
  check "dnslog report top-names" 0 qname "$top" -- \
    "$NODE" apps/dnslog/bin/dnslog.js report top-names --db "sqlite:$tmp/dnslog.sqlite" --limit 3
fi

# ---- wipe: a temp regular file, the default passes (0x55, then 0xAA, verified)
size=65536
head -c "$size" /dev/urandom >"$tmp/secret.bin"
check "wipe a regular file" 0 "verified  passed" "outcome   wiped" -- \
  "$NODE" apps/wipe/bin/wipe.js --yes --report "$tmp/wipe-report.json" "$tmp/secret.bin"
head -c "$size" /dev/zero | tr '\0' '\252' >"$tmp/expected.bin"
check_that "wipe left 0xAA bytes" "$size bytes of 0xAA" cmp -s "$tmp/secret.bin" "$tmp/expected.bin"
check_that "wipe report" "outcome wiped, passes 0x55 0xAA" "$NODE" -e '
  const t = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).targets[0];
  process.exit(t.outcome === "wiped" && t.sizeBytes === Number(process.argv[2]) && t.passes.map((p) => p.pattern).join() === "0x55,0xAA" ? 0 : 1);
' "$tmp/wipe-report.json" "$size"

# ---- mx-check: a hosts file (offline), and a resolver port where nothing listens
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.1 spam-sink.example.com\n' >"$tmp/hosts"
printf 'nameserver 192.0.2.53\n' >"$tmp/resolv.conf"
check "mx-check hosts" 0 "spam-sink.example.com" -- \
  "$NODE" apps/mx-check/bin/mx-check.js hosts --hosts-file "$tmp/hosts" --resolv-conf "$tmp/resolv.conf"
# a UDP port that was free a moment ago (bound, read back, closed)
port=$("$NODE" -e 'const s = require("node:dgram").createSocket("udp4"); s.bind(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
check "mx-check, no resolver answers" 2 "mx-check: no resolver answered" "LOOKUP_FAILED" -- \
  "$NODE" apps/mx-check/bin/mx-check.js --resolver "127.0.0.1:$port" --timeout 500ms --retries 0 example.test

# ---- relay-audit: the config audit on the example sendmail files (the motivating hole: a name grant)
ex=apps/relay-audit/examples
check "relay-audit config (hole)" 1 "NAME_GRANT_SUFFIX" "client 198.51.100.7 (mail.partner.test): RELAYS" -- \
  "$NODE" apps/relay-audit/bin/relay-audit.js config --mc "$ex/sendmail.mc" --access "$ex/access" \
  --relay-domains "$ex/relay-domains" --hosts "$ex/hosts" --own 127.0.0.0/8 --own 192.0.2.0/24 --client 198.51.100.7
check "relay-audit config (closed)" 0 "findings: none" "client 198.51.100.7 (mail.partner.test): denied" -- \
  "$NODE" apps/relay-audit/bin/relay-audit.js config --mc "$ex/sendmail.mc" --access "$ex/access" \
  --hosts "$ex/hosts" --own 127.0.0.0/8 --own 192.0.2.0/24 --client 198.51.100.7

if [ ${#failed[@]} -gt 0 ]; then
  printf 'smoke-cli: error: %d check(s) failed under Node.js %s: %s\n' "${#failed[@]}" "$version" "$(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')" >&2
  exit 1
fi
printf 'smoke-cli: all checks passed under Node.js %s\n' "$version"
