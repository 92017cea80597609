# Helpers for the repo's entry scripts (sourced, not run).
# shellcheck shell=bash
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 NEXT_TELEMETRY_DISABLED=1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# Node 20.19+ and npm are the only things a user must already have.
check_node() {
  command -v node >/dev/null || die "node is not installed: install Node.js 20 (Debian: apt-get install nodejs npm)"
  local major minor
  IFS=. read -r major minor _ <<<"$(node -p 'process.versions.node')"
  if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
    die "Node.js $(node --version) is too old: the toolbox needs 20.19 or newer"
  fi
}

# npm ci when node_modules is missing or older than the lock file (a clean clone always installs).
ensure_npm_deps() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "npm ci"
    npm ci --no-audit --no-fund
  fi
}
