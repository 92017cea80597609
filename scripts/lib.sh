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
  # supported and tested: 20.19+ (Debian 12 and 13), 22.12+ and 24 (package.json "engines")
  case $major in
    20 | 24) ;;
    22) [ "$minor" -ge 12 ] || die "Node.js $(node --version) is too old: on the 22 line the toolbox needs 22.12 or newer" ;;
    *) printf 'warning: Node.js %s is not a tested version (tested: 20.19+, 22.12+, 24); going on\n' "$(node --version)" >&2 ;;
  esac
}

# npm ci when node_modules is missing or older than the lock file (a clean clone always installs).
ensure_npm_deps() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "npm ci"
    npm ci --no-audit --no-fund
  fi
}

# ---------------------------------------------------------------- Debian packages
# The one place that installs Debian packages for the repo's scripts.

# missing_packages PKG...: prints, one a line, those of PKG that dpkg does not call installed. A PKG
# may be alternatives, `a|b`: missing only when none of them is installed. One dpkg-query for all
# (it exits 1 for a name it has never heard of: not an error here); one line per package, since a
# package in another state (config-files, not-installed) must not hide the one after it.
missing_packages() {
  local installed spec alt names=() ok p
  for spec in "$@"; do IFS='|' read -ra alt <<<"$spec"; names+=("${alt[@]}"); done
  installed=" $({ dpkg-query -W -f='${Package}=${Status}\n' "${names[@]}" 2>/dev/null || true; } | sed -n 's/=install ok installed$//p' | tr '\n' ' ') "
  for spec in "$@"; do
    ok=0
    IFS='|' read -ra alt <<<"$spec"
    for p in "${alt[@]}"; do
      case "$installed" in *" $p "*) ok=1 ;; esac
    done
    [ "$ok" = 1 ] || printf '%s\n' "$spec"
  done
}

# apt_install_missing [OPTION...] [--] PKG...
# Installs those of PKG not yet installed (for alternatives `a|b`, a when none is), noninteractively (apt-get update first), and checks that
# they are installed afterwards; nothing to do is a quick no-op (no apt-get at all). apt-get's output
# goes to a log. On failure: one line `TAG: error: apt-get could not install P...: <apt's last error>
# (log: FILE)` on stderr, return 1 (with `set -e`, the script exits). Root needed when anything is missing.
#   --tag NAME       prefix of the lines it prints (default: the script's file name)
#   --log FILE       append apt-get's output to FILE and keep it (default: a temp file, removed on success)
#   --no-daemons     a policy-rc.d denying service starts while the packages install (when none exists)
#   --via CMD        download first, then install offline (--no-download) with CMD in front of
#                    apt-get (services.sh: loopback-only resolver files for the package scripts)
#   --on-error FUNC  call `FUNC LOG MESSAGE` instead of printing the error line (FUNC may exit)
apt_install_missing() {
  local tag=${0##*/} log= keep_log=0 no_daemons=0 via= on_error= policy=/usr/sbin/policy-rc.d added_policy=0
  while [ $# -gt 0 ]; do
    case $1 in
      --tag) tag=$2; shift 2 ;;
      --log) log=$2; keep_log=1; shift 2 ;;
      --no-daemons) no_daemons=1; shift ;;
      --via) via=$2; shift 2 ;;
      --on-error) on_error=$2; shift 2 ;;
      --) shift; break ;;
      -*) printf '%s: error: apt_install_missing: unknown option %s\n' "$tag" "$1" >&2; return 2 ;;
      *) break ;;
    esac
  done
  local specs=() missing=() still=() rc=0 apt what
  mapfile -t specs < <(missing_packages "$@")
  [ ${#specs[@]} -eq 0 ] && return 0
  missing=("${specs[@]%%|*}")
  if [ -z "$log" ]; then log=$(mktemp "/tmp/$tag.apt.XXXXXX.log") || return 1; fi
  printf '%s: apt-get install %s\n' "$tag" "${missing[*]}" >&2
  apt=(apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 -o Acquire::http::Timeout=30
    -o Acquire::https::Timeout=30 -o Acquire::Retries=2 -q -y --no-install-recommends)
  if ! DEBIAN_FRONTEND=noninteractive timeout 600 "${apt[@]}" update >>"$log" 2>&1; then
    what="apt-get update failed"
    rc=1
  elif [ -n "$via" ] && ! DEBIAN_FRONTEND=noninteractive timeout 900 "${apt[@]}" -d install "${missing[@]}" >>"$log" 2>&1; then
    what="apt-get could not download ${missing[*]}"
    rc=1
  else
    if [ "$no_daemons" = 1 ] && [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
    fi
    if [ -n "$via" ]; then
      DEBIAN_FRONTEND=noninteractive timeout 900 "$via" "${apt[@]}" --no-download install "${missing[@]}" >>"$log" 2>&1 || rc=1
    else
      DEBIAN_FRONTEND=noninteractive timeout 900 "${apt[@]}" install "${missing[@]}" >>"$log" 2>&1 || rc=1
    fi
    if [ "$added_policy" = 1 ]; then rm -f "$policy"; fi
    if [ "$rc" = 0 ]; then
      mapfile -t still < <(missing_packages "${specs[@]}")
      [ ${#still[@]} -eq 0 ] || { rc=1; printf 'still not installed after apt-get install: %s\n' "${still[*]}" >>"$log"; }
    fi
    what="apt-get could not install ${missing[*]}"
  fi
  if [ "$rc" != 0 ]; then
    # apt's own reason (its last E: line, else its last line) makes the one line say what went wrong
    local why
    why=$({ grep '^E: ' "$log" || grep -v '^[[:space:]]*$' "$log"; } 2>/dev/null | tail -n 1 | cut -c1-200 || true)
    [ -z "$why" ] || what+=": $why"
    if [ -n "$on_error" ]; then "$on_error" "$log" "$what"; else printf '%s: error: %s (log: %s)\n' "$tag" "$what" "$log" >&2; fi
    return 1
  fi
  [ "$keep_log" = 1 ] || rm -f "$log"
}
