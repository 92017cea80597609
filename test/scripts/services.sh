#!/usr/bin/env bash
# services.sh — install (when missing) and run the real services the integration tests talk to:
# MariaDB, BIND named, OpenSSH sshd and sendmail, all reachable only from this machine.
#
# Usage: bash test/scripts/services.sh start|stop|status [component...]
#   start   idempotent: installs missing Debian packages, starts what is not running, reuses what
#           is, writes <dir>/env.json for the tests and prints a summary. Exit 0, or 1 with the
#           tail of the failing service's log and one `services.sh: error:` line.
#   stop    stops, by pid file, only what this script started, then removes the network
#           namespaces and the bridge it created. Components: mariadb named sshd sshd-v1 sendmail
#           net (default: all; stopping `net` also stops sshd-v1 and sendmail, which live in it).
#   status  one line per component; exit 0 when all run, 3 otherwise.
#
# Data: ${TOOLBOX_SERVICES_DIR:-<repo>/.services}; every file a service writes lives under it.
# Ports (the first free one from the base, up to +50; a running service keeps its port):
#   MYSQL_PORT=13306 DNS_PORT=15353 RNDC_PORT=19530 SSHD_PORT=12222
#
# Network: listeners are on 127.0.0.1 / ::1, or inside network namespaces this script creates
# (shown for slot 0; a data dir started while another holds slot 0 takes slot K: tbxK-mta...,
# 10.99.K.0/24 — env.json names what it got):
#   tbx-br0 (root namespace) 10.99.0.254/24 plus 10.99.0.21 and 10.99.0.22 as source addresses
#   tbx-mta  10.99.0.1   sendmail on :25 (and 127.0.0.1:25 inside), queue only, never delivers
#   tbx-v1   10.99.0.11  a vantage host with its own sshd on :22
#   tbx-v2   10.99.0.12, 10.99.0.13
# The namespaces have no default route, so nothing in them can reach beyond their /24. Every
# daemon runs in a private mount namespace whose /etc/resolv.conf, /etc/hosts and
# /etc/nsswitch.conf are loopback-only copies (<dir>/etc), so none can send a DNS query off the
# machine; sendmail additionally uses only its private hosts file.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$SCRIPT_DIR/../.." && pwd)
source "$REPO/scripts/lib.sh" # apt_install_missing (its say and die are redefined below)
ACTION=${1:-}
[ $# -gt 0 ] && shift
COMPONENTS_ARG=("$@")

ALL_COMPONENTS=(mariadb named sshd sshd-v1 sendmail net)

# The test network of one data dir: slot K names it and numbers it (10.99.K.0/24; the names carry
# no number for slot 0). Each data dir takes the first slot no other holds, so two checkouts (a CI
# clone next to a developer's services) run side by side; `$NET/slot` remembers it.
NET_SLOTS=64
set_net_slot() { # K
  local p=tbx
  [ "$1" = 0 ] || p=tbx$1
  NET_SLOT=$1
  NS_MTA=$p-mta
  NS_V1=$p-v1
  NS_V2=$p-v2
  BRIDGE=$p-br0
  SUBNET=10.99.$1.0/24
  BR_ADDR=10.99.$1.254
  ROOT_SRC_ADDRS=("10.99.$1.21" "10.99.$1.22")
  MTA_ADDR=10.99.$1.1
  V1_ADDR=10.99.$1.11
  V2_ADDRS=("10.99.$1.12" "10.99.$1.13")
}
set_net_slot 0
MTA_NAME=mta.toolbox.test

MYSQL_DB=toolbox
MYSQL_USER=toolbox
RNDC_KEY_NAME=toolbox-rndc
PORT_SPAN=50

log() { printf 'services.sh: %s\n' "$*" >&2; }
# During start the EXIT trap rolls back first and prints the error last, as the final line.
FATAL=
DEFER_ERROR=0
die() {
  if [ "$DEFER_ERROR" = 1 ] && [ "$BASHPID" = "$$" ]; then FATAL=$*; exit 1; fi
  printf 'services.sh: error: %s\n' "$*" >&2
  exit 1
}

# A service that did not come up: the tail of its log, then the one error line.
fail_service() { # log-file message
  if [ -s "$1" ]; then
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 25 "$1" >&2
    printf -- '---\n' >&2
  fi
  die "$2 (log: $1)"
}

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages, binds ports and creates network namespaces)"

DIR=${TOOLBOX_SERVICES_DIR:-$REPO/.services}
mkdir -p -- "$DIR"
DIR=$(cd -- "$DIR" && pwd)
# The path goes verbatim into my.cnf, named.conf, sshd_config and sendmail's m4: keep it plain.
case "$DIR" in
  *[!A-Za-z0-9._/+-]*) die "data dir '$DIR' has characters the service configs cannot take; set TOOLBOX_SERVICES_DIR to a plain path" ;;
esac
[ ${#DIR} -le 70 ] || die "data dir '$DIR' is too long for the MariaDB unix socket path; set TOOLBOX_SERVICES_DIR to a shorter path"

MY=$DIR/mysql
NM=$DIR/named
SSHD=$DIR/sshd
SM=$DIR/sendmail
NET=$DIR/net
LO=$DIR/bin/lo-only # runs a command with loopback-only resolver files (see write_lo_only)
if [ -s "$NET/slot" ]; then
  case "$(<"$NET/slot")" in [0-9] | [1-5][0-9] | 6[0-3]) set_net_slot "$(<"$NET/slot")" ;; *) die "$NET/slot holds no slot number (0-63); remove $NET after 'ip netns list' shows none of its namespaces" ;; esac
fi

STARTED=() # components this invocation started (rolled back if start fails)

# ---------------------------------------------------------------- process helpers
proc_alive() { # pid: alive and not a zombie
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

# Prints the pid from a pid file when that process is alive AND is the daemon this script
# started (right executable, and our config path on its command line or our network
# namespace), so a pid reused after a reboot is never taken for ours, nor killed.
own_pid() { # component
  local f exe want_ns="" want_arg="" p real
  case "$1" in
    mariadb) f=$MY/mysqld.pid; exe=/usr/sbin/mariadbd; want_arg=$MY/my.cnf ;;
    named) f=$NM/run/named.pid; exe=/usr/sbin/named; want_arg=$NM/named.conf ;;
    sshd) f=$SSHD/sshd.pid; exe=/usr/sbin/sshd; want_arg=$SSHD/sshd_config ;;
    sshd-v1) f=$SSHD/v1/sshd.pid; exe=/usr/sbin/sshd; want_arg=$SSHD/v1/sshd_config ;;
    # sendmail rewrites its command line (setproctitle): check its network namespace instead
    sendmail) f=$SM/run/sendmail.pid; exe=$(readlink -f /usr/sbin/sendmail-mta 2>/dev/null || echo /usr/lib/sm.bin/sendmail); want_ns=$NS_MTA ;;
    *) return 1 ;;
  esac
  [ -s "$f" ] || return 1
  p=$(head -n1 "$f" 2>/dev/null | tr -dc 0-9)
  [ -n "$p" ] && proc_alive "$p" || return 1
  real=$(readlink "/proc/$p/exe" 2>/dev/null) || return 1
  # the same file, compared by device and inode: under a chroot the link reads as the host's path
  # (/var/tmp/…/root/usr/sbin/mariadbd); an executable replaced by an upgrade reads "… (deleted)"
  if ! [ "/proc/$p/exe" -ef "$exe" ]; then
    case "$real" in *"$exe (deleted)") ;; *) return 1 ;; esac
  fi
  if [ -n "$want_arg" ]; then
    case "$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)" in *"$want_arg"*) ;; *) return 1 ;; esac
  fi
  if [ -n "$want_ns" ]; then
    [ -e "/run/netns/$want_ns" ] || return 1
    [ "$(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/run/netns/$want_ns" 2>/dev/null)" ] || return 1
  fi
  echo "$p"
}

# Retries a probe every 0.1 s for at most SECS; gives up at once when PID dies.
# On failure WAIT_WHY says which of the two happened.
WAIT_WHY=
wait_ready() { # secs pid probe...
  local secs=$1 pid=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  while [ "$SECONDS" -le "$deadline" ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -n "$pid" ] && ! proc_alive "$pid"; then WAIT_WHY="exited while starting"; return 1; fi
    sleep 0.1
  done
  WAIT_WHY="did not answer within $secs s"
  return 1
}

# Starts a daemon in the background with its output in LOG; sets LAUNCHED to its pid.
LAUNCHED=
launch() { # log cmd...
  local logf=$1
  shift
  # 8>&- 9>&-: the daemon must not inherit (and keep holding) this script's locks
  nohup "$@" >> "$logf" 2>&1 < /dev/null 8>&- 9>&- &
  LAUNCHED=$!
}

kill_pid() { # pid label
  local i
  kill -TERM "$1" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do proc_alive "$1" || return 0; sleep 0.1; done
  log "$2 (pid $1) ignored SIGTERM for 10 s; SIGKILL"
  kill -KILL "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- files and ports
# Moves SRC over DST when the contents differ; succeeds when DST changed.
install_if_changed() { # src dst
  if [ -e "$2" ] && cmp -s "$1" "$2"; then rm -f "$1"; return 1; fi
  mv -f "$1" "$2"
}

TAKEN=" " # ports chosen in this run, not yet bound
port_free() { # port protocols (t, u or tu)
  local proto
  case "$TAKEN" in *" $1 "*) return 1 ;; esac
  for proto in $(echo "$2" | grep -o .); do
    # any listener on the port, whatever its address, counts: 0.0.0.0 and [::] overlap ours
    [ -z "$(ss -Hln"$proto" "sport = :$1" 2>/dev/null)" ] || return 1
  done
}

PORT=
choose_port() { # label base protocols -> PORT: the first free port in [base, base+PORT_SPAN]
  local p
  case "$2" in '' | *[!0-9]*) die "$1: port '$2' is not a number" ;; esac
  for ((p = $2; p <= $2 + PORT_SPAN && p <= 65535; p++)); do
    if port_free "$p" "$3"; then PORT=$p; TAKEN+="$p "; return 0; fi
  done
  die "$1: ports $2-$(($2 + PORT_SPAN)) are all taken by other processes; set its *_PORT variable to another base"
}

# A running service keeps its port; say so when the caller asked for another one.
note_port_kept() { # label variable-name port
  local asked=${!2:-}
  if [ -n "$asked" ] && [ "$asked" != "$3" ]; then
    log "$2=$asked ignored: $1 already runs on port $3 (stop it to move it)"
  fi
}

# ---------------------------------------------------------------- packages
pkg_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]; }

POLICY_ADDED=0
policy_deny_on() { # keep package scripts from starting daemons (no systemd here)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_ADDED=1
  fi
}
policy_deny_off() {
  if [ "$POLICY_ADDED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_ADDED=0; fi
}

install_packages() {
  local want=(mariadb-server mariadb-client bind9 bind9-utils bind9-dnsutils openssh-server sendmail-bin sendmail-cf m4 openssl)
  local missing=() p
  mapfile -t missing < <(missing_packages "${want[@]}")
  [ ${#missing[@]} -eq 0 ] && return 0
  case " ${missing[*]} " in
    *" sendmail-bin "*)
      for p in postfix exim4-daemon-light exim4-daemon-heavy; do
        if pkg_installed "$p"; then die "$p is installed and installing sendmail would remove it; remove it first"; fi
      done ;;
  esac
  : > "$DIR/apt.log"
  # Package scripts run sendmail and mariadb-install-db, which look up this host's name: download,
  # then install offline with the loopback-only resolver files, so that no lookup leaves the machine.
  policy_deny_on
  apt_install_missing --tag services.sh --log "$DIR/apt.log" --via "$LO" --on-error apt_failed "${missing[@]}"
  policy_deny_off
}
apt_failed() { # log-file message
  policy_deny_off
  fail_service "$1" "$2"
}

# ---------------------------------------------------------------- loopback-only resolver files
write_lo_only() {
  mkdir -p "$DIR/etc" "$DIR/bin"
  local tmp=$DIR/etc/.tmp
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$tmp"
  install_if_changed "$tmp" "$DIR/etc/resolv.conf" || true
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\nservices: files\nprotocols: files\n' > "$tmp"
  install_if_changed "$tmp" "$DIR/etc/nsswitch.conf" || true
  # Also sendmail's hosts file: with a name, a refused relay reads exactly
  # "550 5.7.1 <rcpt>... Relaying denied"; without, "... IP name lookup failed [a.b.c.d]".
  cat > "$tmp" <<EOF
127.0.0.1	$MTA_NAME localhost $(uname -n)
::1	localhost ip6-localhost ip6-loopback
$MTA_ADDR	mta-ns.toolbox.test
$V1_ADDR	v1.toolbox.test
${V2_ADDRS[0]}	v2.toolbox.test
${V2_ADDRS[1]}	v2b.toolbox.test
${ROOT_SRC_ADDRS[0]}	src21.toolbox.test
${ROOT_SRC_ADDRS[1]}	src22.toolbox.test
$BR_ADDR	gw.toolbox.test
EOF
  install_if_changed "$tmp" "$DIR/etc/hosts" || true
  cat > "$tmp" <<EOF
#!/bin/sh
# Runs a command in a private mount namespace whose /etc/resolv.conf, /etc/hosts and
# /etc/nsswitch.conf are the loopback-only copies in $DIR/etc (written by services.sh).
exec unshare -m --propagation private sh -c 'for f in resolv.conf hosts nsswitch.conf; do mount --bind "\$0/\$f" "/etc/\$f" || exit 1; done; exec "\$@"' "$DIR/etc" "\$@"
EOF
  chmod 755 "$tmp"
  install_if_changed "$tmp" "$LO" || true
}

# ---------------------------------------------------------------- network namespaces
ns_exists() { [ -e "/run/netns/$1" ]; }
has_addr() { # netns("" = root) dev addr
  local n=()
  [ -n "$1" ] && n=(-n "$1")
  # (no `| grep -q`: grep quitting early makes ip die of SIGPIPE, and pipefail fails the check)
  case "$(ip "${n[@]}" -4 -o addr show dev "$2" 2>/dev/null)" in *" $3/"*) return 0 ;; *) return 1 ;; esac
}

net_ok() {
  local a
  ip link show "$BRIDGE" > /dev/null 2>&1 || return 1
  has_addr "" "$BRIDGE" "$BR_ADDR" || return 1
  for a in "${ROOT_SRC_ADDRS[@]}"; do has_addr "" "$BRIDGE" "$a" || return 1; done
  ns_exists "$NS_MTA" && has_addr "$NS_MTA" eth0 "$MTA_ADDR" || return 1
  ns_exists "$NS_V1" && has_addr "$NS_V1" eth0 "$V1_ADDR" || return 1
  ns_exists "$NS_V2" || return 1
  for a in "${V2_ADDRS[@]}"; do has_addr "$NS_V2" eth0 "$a" || return 1; done
}

add_ns() { # netns addresses...
  local ns=$1 peer="${1}-p" first=1 a
  shift
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "$peer" type veth peer name eth0 netns "$ns"
  # no IPv6 link-local addresses: nothing but the IPv4 below ever speaks on these links
  ip link set dev "$peer" addrgenmode none
  ip link set dev "$peer" master "$BRIDGE" up
  ip -n "$ns" link set dev eth0 addrgenmode none
  for a in "$@"; do
    if [ "$first" = 1 ]; then ip -n "$ns" addr add "$a/24" dev eth0; first=0; else ip -n "$ns" addr add "$a/32" dev eth0; fi
  done
  ip -n "$ns" link set eth0 up
  # deliberately no default route: only 10.99.0.0/24 is reachable from inside
}

# A slot is free when none of its names and none of its addresses or routes exist on this machine.
net_slot_free() { # K
  local ns
  set_net_slot "$1"
  for ns in "$NS_MTA" "$NS_V1" "$NS_V2"; do ns_exists "$ns" && return 1; done
  ip link show "$BRIDGE" > /dev/null 2>&1 && return 1
  [[ $(ip -4 -o addr show) == *" 10.99.$1."* ]] && return 1
  [ -z "$(ip -4 route show "$SUBNET" 2>/dev/null)" ]
}

# Picks this data dir's slot (start only), before anything writes an address into a config, and
# claims it by creating its bridge: the kernel lets only one `ip link add` of a name succeed, so two
# starts (even from different root file systems on one kernel) never get one slot.
choose_net_slot() {
  local k
  [ -e "$NET/created" ] && return 0 # ours already: keep it (net_up checks it is whole)
  for ((k = 0; k < NET_SLOTS; k++)); do
    net_slot_free "$k" || continue
    ip link add "$BRIDGE" type bridge 2> /dev/null || continue
    mkdir -p "$NET"
    echo "$k" > "$NET/slot"
    # marked as soon as the bridge exists, so that stop (or the rollback of a failed start) removes it
    echo "$BRIDGE $NS_MTA $NS_V1 $NS_V2" > "$NET/created"
    STARTED+=(net)
    [ "$k" = 0 ] || log "test network slot 0 is taken on this machine (by another data dir); this one uses $BRIDGE, $SUBNET"
    return 0
  done
  die "all $NET_SLOTS test network slots (10.99.0-$((NET_SLOTS - 1)).0/24, tbx*-br0) are taken; 'ip netns list' shows them, 'services.sh stop' with their TOOLBOX_SERVICES_DIR frees them"
}

# Makes (or remakes) the namespaces and addresses of the slot whose bridge this data dir holds.
net_up() {
  local ns p
  net_ok && return 0
  if [ -e "$NET/up" ]; then
    log "network namespaces incomplete; recreating them"
    stop_component sendmail
    stop_component sshd-v1
  fi
  rm -f "$NET/up"
  for ns in "$NS_MTA" "$NS_V1" "$NS_V2"; do # a half-made one of ours: made afresh
    ns_exists "$ns" || continue
    for p in $(ip netns pids "$ns" 2> /dev/null); do kill_pid "$p" "process in $ns"; done
    ip link del "${ns}-p" 2> /dev/null || true
    ip netns del "$ns"
  done
  ip link show "$BRIDGE" > /dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr flush dev "$BRIDGE"
  ip link set dev "$BRIDGE" addrgenmode none
  ip addr add "$BR_ADDR/24" dev "$BRIDGE"
  for ns in "${ROOT_SRC_ADDRS[@]}"; do ip addr add "$ns/32" dev "$BRIDGE"; done
  ip link set "$BRIDGE" up
  add_ns "$NS_MTA" "$MTA_ADDR"
  add_ns "$NS_V1" "$V1_ADDR"
  add_ns "$NS_V2" "${V2_ADDRS[@]}"
  touch "$NET/up"
  log "created $BRIDGE and network namespaces $NS_MTA $NS_V1 $NS_V2"
}

net_down() {
  local ns p
  [ -e "$NET/created" ] || return 0
  for ns in "$NS_MTA" "$NS_V1" "$NS_V2"; do
    ns_exists "$ns" || continue
    # whatever still runs in a namespace we made (e.g. a shell left by an SSH session) is ours
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill_pid "$p" "process in $ns"; done
    ip link del "${ns}-p" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -f "$NET/created" "$NET/up"
  log "removed $BRIDGE and network namespaces $NS_MTA $NS_V1 $NS_V2"
}

# ---------------------------------------------------------------- MariaDB
mysql_root() { timeout 20 mariadb --no-defaults --socket="$MY/mysqld.sock" -uroot "$@"; }

# TLS for MariaDB, for dnslog's ?ssl= tests: a private CA, a server certificate it signed for
# 127.0.0.1 and localhost, and another CA that signed nothing here (a client that trusts only it
# must refuse the server). Made once per data dir.
make_mariadb_tls() {
  local d=$MY/tls
  [ -s "$d/server.pem" ] && [ -s "$d/server-key.pem" ] && [ -s "$d/ca.pem" ] && [ -s "$d/other-ca.pem" ] && return 0
  rm -rf "$d" && mkdir -p "$d" && chmod 700 "$d"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=toolbox test CA" -keyout "$d/ca-key.pem" -out "$d/ca.pem" &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server-key.pem" -out "$d/server.csr" &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$d/server.ext" &&
      openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 3650 \
        -extfile "$d/server.ext" -out "$d/server.pem" &&
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=another test CA" -keyout "$d/other-ca-key.pem" -out "$d/other-ca.pem"
  } > "$MY/tls.log" 2>&1 || fail_service "$MY/tls.log" "openssl could not make the MariaDB test certificates"
}

start_mariadb() {
  local pid port tmp=$MY/.tmp pw
  LAUNCHED=
  mkdir -p "$MY/data" "$MY/tmp" "$MY/files"
  if pid=$(own_pid mariadb) && [ ! -s "$MY/port" ]; then
    stop_component mariadb # running, but its port is unknown: restart it
  fi
  if pid=$(own_pid mariadb); then
    port=$(<"$MY/port")
    note_port_kept MariaDB MYSQL_PORT "$port"
  else
    pid=
    choose_port MariaDB "${MYSQL_PORT:-13306}" t
    port=$PORT
  fi
  make_mariadb_tls
  cat > "$tmp" <<EOF
# generated by services.sh
[mysqld]
user = root
datadir = $MY/data
tmpdir = $MY/tmp
secure-file-priv = $MY/files
socket = $MY/mysqld.sock
pid-file = $MY/mysqld.pid
log-error = $MY/error.log
bind-address = 127.0.0.1
port = $port
local-infile = 1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
innodb-buffer-pool-size = 1G
innodb-log-file-size = 512M
innodb-flush-log-at-trx-commit = 2
max-connections = 200
ssl-ca = $MY/tls/ca.pem
ssl-cert = $MY/tls/server.pem
ssl-key = $MY/tls/server-key.pem
EOF
  if install_if_changed "$tmp" "$MY/my.cnf" && [ -n "$pid" ]; then
    log "MariaDB config changed; it applies after 'services.sh stop mariadb' and start"
  fi
  if [ -n "$pid" ]; then
    log "MariaDB already running (pid $pid, 127.0.0.1:$port)"
  else
    if [ ! -d "$MY/data/mysql" ]; then
      log "mariadb-install-db into $MY/data"
      "$LO" timeout 120 mariadb-install-db --defaults-file="$MY/my.cnf" --user=root \
        --auth-root-authentication-method=socket --skip-test-db > "$MY/install-db.log" 2>&1 \
        || { rm -rf "$MY/data"; fail_service "$MY/install-db.log" "mariadb-install-db failed"; }
    fi
    rm -f "$MY/mysqld.sock" "$MY/mysqld.pid"
    echo "$port" > "$MY/port"
    launch "$MY/stdout.log" "$LO" /usr/sbin/mariadbd --defaults-file="$MY/my.cnf"
    if ! wait_ready 60 "$LAUNCHED" timeout 3 mariadb-admin --no-defaults --socket="$MY/mysqld.sock" -uroot ping; then
      kill_pid "$LAUNCHED" mariadbd
      cat "$MY/stdout.log" >> "$MY/error.log" 2>/dev/null || true
      fail_service "$MY/error.log" "MariaDB (127.0.0.1:$port) $WAIT_WHY"
    fi
    STARTED+=(mariadb)
    log "MariaDB started (pid $LAUNCHED, 127.0.0.1:$port)"
    pid=$LAUNCHED
  fi
  MYSQL_PID=$pid
  if [ ! -s "$MY/password" ]; then
    pw=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    (umask 077 && printf '%s\n' "${pw:0:24}" > "$MY/password")
  fi
  chmod 600 "$MY/password"
  pw=$(head -n1 "$MY/password")
  case "$pw" in '' | *[!A-Za-z0-9]*) die "$MY/password must hold one alphanumeric password; delete it to get a new one" ;; esac
  MYSQL_VERSION=$(mysql_root -N <<EOF
CREATE DATABASE IF NOT EXISTS \`$MYSQL_DB\`;
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'localhost' IDENTIFIED BY '$pw';
ALTER USER '$MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER '$MYSQL_USER'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON \`$MYSQL_DB\`.* TO '$MYSQL_USER'@'127.0.0.1', '$MYSQL_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`${MYSQL_DB}\\_%\`.* TO '$MYSQL_USER'@'127.0.0.1', '$MYSQL_USER'@'localhost';
SELECT VERSION();
EOF
) || die "could not create database $MYSQL_DB and user $MYSQL_USER in MariaDB"
  (umask 077 && cat > "$tmp" <<EOF
[client]
host = 127.0.0.1
port = $port
user = $MYSQL_USER
password = $pw
database = $MYSQL_DB
local-infile = 1
EOF
  )
  install_if_changed "$tmp" "$MY/client.cnf" || true
  chmod 600 "$MY/client.cnf"
}

# ---------------------------------------------------------------- BIND named
write_zones() {
  local tmp=$NM/.tmp changed=1
  cat > "$tmp" <<'EOF'
$TTL 300
@       IN SOA  ns1.example.test. hostmaster.example.test. ( 1 3600 600 86400 300 )
        IN NS   ns1.example.test.
ns1     IN A    127.0.0.1
@       IN MX   10 mail.example.test.
mail    IN A    127.0.0.1
nullmx  IN MX   0 .
local   IN MX   10 localhost.
multi   IN MX   10 mx1.example.test.
multi   IN MX   20 mx2.example.test.
mx1     IN A    127.0.0.2
mx2     IN A    127.0.0.3
cname   IN CNAME mail.example.test.
badmx   IN MX   10 cname.example.test.
www     IN A    127.0.0.1
        IN AAAA ::1
nomx    IN A    127.0.0.1
txt     IN TXT  "v=spf1 -all"
_smtp._tcp IN SRV 0 5 25 mail.example.test.
EOF
  install_if_changed "$tmp" "$NM/zones/example.test.zone" && changed=0
  cat > "$tmp" <<EOF
\$TTL 300
@       IN SOA  ns1.toolbox.test. hostmaster.toolbox.test. ( 1 3600 600 86400 300 )
        IN NS   ns1.toolbox.test.
ns1     IN A    127.0.0.1
@       IN MX   10 mta.toolbox.test.
mta     IN A    $MTA_ADDR
v1      IN A    $V1_ADDR
v2      IN A    ${V2_ADDRS[0]}
v2b     IN A    ${V2_ADDRS[1]}
src21   IN A    ${ROOT_SRC_ADDRS[0]}
src22   IN A    ${ROOT_SRC_ADDRS[1]}
gw      IN A    $BR_ADDR
EOF
  install_if_changed "$tmp" "$NM/zones/toolbox.test.zone" && changed=0
  return $changed
}

check_named_config() {
  local z
  "$LO" named-checkconf "$NM/named.conf" > "$NM/log/check.log" 2>&1 || fail_service "$NM/log/check.log" "named-checkconf rejects $NM/named.conf"
  for z in example.test toolbox.test; do
    # -i local: full integrity checks would resolve out-of-zone MX targets off the machine
    "$LO" named-checkzone -q -i local "$z" "$NM/zones/$z.zone" > "$NM/log/check.log" 2>&1 \
      || fail_service "$NM/log/check.log" "zone $z does not load ($NM/zones/$z.zone)"
  done
}

start_named() {
  local pid port rport tmp=$NM/.tmp changed=1
  LAUNCHED=
  mkdir -p "$NM/zones" "$NM/log" "$NM/run"
  if pid=$(own_pid named) && { [ ! -s "$NM/port" ] || [ ! -s "$NM/rndc-port" ]; }; then
    stop_component named # running, but its ports are unknown: restart it
  fi
  if pid=$(own_pid named); then
    port=$(<"$NM/port")
    rport=$(<"$NM/rndc-port")
    note_port_kept named DNS_PORT "$port"
    note_port_kept rndc RNDC_PORT "$rport"
  else
    pid=
    choose_port named "${DNS_PORT:-15353}" tu
    port=$PORT
    choose_port rndc "${RNDC_PORT:-19530}" t
    rport=$PORT
  fi
  if [ ! -s "$NM/rndc.key" ]; then
    (umask 077 && rndc-confgen -a -A hmac-sha256 -k "$RNDC_KEY_NAME" -c "$NM/rndc.key" > /dev/null 2>&1) \
      || die "rndc-confgen could not write $NM/rndc.key"
  fi
  chmod 600 "$NM/rndc.key"
  cat > "$tmp" <<EOF
include "$NM/rndc.key";
options { default-key "$RNDC_KEY_NAME"; default-server 127.0.0.1; default-port $rport; };
EOF
  install_if_changed "$tmp" "$NM/rndc.conf" || true
  # BIND 9.20 (Debian 13) removed lock-file; 9.18 (Debian 12) would otherwise use /run/named.
  local lockfile=""
  case "$(/usr/sbin/named -v 2>/dev/null)" in
    'BIND 9.1'[0-8]'.'*) lockfile="lock-file \"$NM/run/named.lock\";" ;;
  esac
  cat > "$tmp" <<EOF
// generated by services.sh
include "$NM/rndc.key";
controls { inet 127.0.0.1 port $rport allow { 127.0.0.1; } keys { "$RNDC_KEY_NAME"; }; };
options {
  directory "$NM";
  pid-file "$NM/run/named.pid";
  $lockfile
  session-keyfile "$NM/run/session.key";
  managed-keys-directory "$NM/run";
  dump-file "$NM/run/named_dump.db";
  statistics-file "$NM/run/named.stats";
  listen-on port $port { 127.0.0.1; };
  listen-on-v6 port $port { ::1; };
  allow-query { 127.0.0.0/8; ::1; };
  allow-transfer { none; };
  recursion no;
  notify no;
  dnssec-validation no;
  querylog yes;
};
logging {
  channel query_log { file "$NM/log/query.log"; severity info; print-time yes; print-severity yes; print-category yes; };
  channel general_log { file "$NM/log/named.log"; severity info; print-time yes; print-severity yes; print-category yes; };
  category queries { query_log; };
  category default { general_log; };
};
zone "example.test" { type primary; file "$NM/zones/example.test.zone"; };
zone "toolbox.test" { type primary; file "$NM/zones/toolbox.test.zone"; };
EOF
  install_if_changed "$tmp" "$NM/named.conf" && changed=0
  write_zones && changed=0
  if [ -z "$pid" ] || [ "$changed" = 0 ]; then check_named_config; fi
  if [ -n "$pid" ]; then
    log "named already running (pid $pid, port $port)"
    if [ "$changed" = 0 ]; then
      log "named config or zones changed: rndc reload"
      timeout 10 rndc -c "$NM/rndc.conf" reload > /dev/null || die "rndc reload failed (named pid $pid)"
    fi
  else
    rm -f "$NM/run/named.pid"
    echo "$port" > "$NM/port"
    echo "$rport" > "$NM/rndc-port"
    launch "$NM/log/stderr.log" "$LO" /usr/sbin/named -f -c "$NM/named.conf"
    pid=$LAUNCHED
  fi
  if ! wait_ready 30 "$pid" dns_answers 127.0.0.1 "$port" || ! wait_ready 10 "$pid" dns_answers ::1 "$port" \
    || ! wait_ready 10 "$pid" timeout 3 rndc -c "$NM/rndc.conf" status; then
    kill_pid "$pid" named
    cat "$NM/log/stderr.log" >> "$NM/log/named.log" 2>/dev/null || true
    fail_service "$NM/log/named.log" "named (127.0.0.1 and ::1 port $port, rndc $rport) $WAIT_WHY"
  fi
  if [ "$pid" = "$LAUNCHED" ]; then
    STARTED+=(named)
    log "named started (pid $pid, port $port, rndc $rport)"
  fi
  NAMED_PID=$pid
}

dns_answers() { # addr port
  # dig sends only to the server given with @, never to /etc/resolv.conf's
  [ -n "$(dig +short +time=1 +tries=1 -p "$2" "@$1" example.test SOA 2>/dev/null)" ]
}

# ---------------------------------------------------------------- sshd (root namespace and tbx-v1)
ssh_banner() { # addr port: does an SSH server greet on addr:port?
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r -t 2 l <&3 && [[ $l == SSH-2.0-* ]]' "$1" "$2"
}

sshd_config() { # listen-addr port hostkey pidfile
  cat <<EOF
# generated by services.sh
ListenAddress $1
Port $2
HostKey $3
PidFile $4
AuthorizedKeysFile $SSHD/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
AllowTcpForwarding yes
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PermitUserEnvironment no
PrintMotd no
PrintLastLog no
MaxStartups 50:30:100
MaxSessions 20
LoginGraceTime 30
Subsystem sftp internal-sftp
EOF
}

sshd_keys() {
  mkdir -p "$SSHD/v1"
  mkdir -p -m 755 /run/sshd # privilege separation directory, required by sshd
  [ -s "$SSHD/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "toolbox-sshd@127.0.0.1" -f "$SSHD/ssh_host_ed25519_key"
  [ -s "$SSHD/v1/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "toolbox-sshd@$V1_ADDR" -f "$SSHD/v1/ssh_host_ed25519_key"
  [ -s "$SSHD/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "toolbox-tests" -f "$SSHD/id_ed25519"
  chmod 600 "$SSHD/ssh_host_ed25519_key" "$SSHD/v1/ssh_host_ed25519_key" "$SSHD/id_ed25519"
  cp "$SSHD/id_ed25519.pub" "$SSHD/.tmp"
  install_if_changed "$SSHD/.tmp" "$SSHD/authorized_keys" || true
}

# Starts (or HUPs, when its config changed) one sshd; sets SSHD_PID.
SSHD_PID=
run_sshd() { # component netns("" = root) listen-addr port dir
  local comp=$1 ns=$2 addr=$3 port=$4 d=$5 pid n=() changed=1
  LAUNCHED=
  sshd_config "$addr" "$port" "$d/ssh_host_ed25519_key" "$d/sshd.pid" > "$d/.tmp"
  install_if_changed "$d/.tmp" "$d/sshd_config" && changed=0
  if [ -n "$ns" ]; then n=(ip netns exec "$ns"); fi
  pid=$(own_pid "$comp") || pid=
  if [ -z "$pid" ] || [ "$changed" = 0 ]; then
    /usr/sbin/sshd -t -f "$d/sshd_config" > "$d/check.log" 2>&1 || fail_service "$d/check.log" "sshd -t rejects $d/sshd_config"
  fi
  if [ -n "$pid" ]; then
    log "$comp already running (pid $pid, $addr:$port)"
    if [ "$changed" = 0 ]; then log "$comp config changed: SIGHUP"; kill -HUP "$pid"; sleep 0.3; fi
  else
    rm -f "$d/sshd.pid"
    launch "$d/sshd.log" "${n[@]}" "$LO" /usr/sbin/sshd -D -e -f "$d/sshd_config"
    pid=$LAUNCHED
  fi
  if ! wait_ready 15 "$pid" ssh_banner "$addr" "$port"; then
    kill_pid "$pid" "$comp"
    fail_service "$d/sshd.log" "$comp ($addr:$port) $WAIT_WHY"
  fi
  if [ "$pid" = "$LAUNCHED" ]; then
    STARTED+=("$comp")
    log "$comp started (pid $pid, $addr:$port)"
  fi
  SSHD_PID=$pid
}

start_sshd() {
  local port
  sshd_keys
  if own_pid sshd > /dev/null && [ -s "$SSHD/port" ]; then
    port=$(<"$SSHD/port")
    note_port_kept sshd SSHD_PORT "$port"
  else
    choose_port sshd "${SSHD_PORT:-12222}" t
    port=$PORT
    echo "$port" > "$SSHD/port"
  fi
  run_sshd sshd "" 127.0.0.1 "$port" "$SSHD"
  SSHD_ROOT_PID=$SSHD_PID
  run_sshd sshd-v1 "$NS_V1" "$V1_ADDR" 22 "$SSHD/v1"
  SSHD_V1_PID=$SSHD_PID
  {
    printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$SSHD/ssh_host_ed25519_key.pub")"
    printf '%s %s\n' "$V1_ADDR" "$(cut -d' ' -f1,2 "$SSHD/v1/ssh_host_ed25519_key.pub")"
  } > "$SSHD/.tmp"
  install_if_changed "$SSHD/.tmp" "$SSHD/known_hosts" || true
  SSHD_FP=$(ssh-keygen -l -E sha256 -f "$SSHD/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
  SSHD_V1_FP=$(ssh-keygen -l -E sha256 -f "$SSHD/v1/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
  SSHD_PORT_CHOSEN=$port
}

# ---------------------------------------------------------------- sendmail (in tbx-mta)
smtp_banner() { # addr port: does an SMTP server greet with 220?
  timeout 4 bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r -t 3 l <&3 && [[ $l == 220* ]] && printf "QUIT\r\n" >&3' "$1" "$2"
}

write_sendmail_config() { # -> succeeds when anything sendmail reads at start changed
  local e=$SM/etc tmp=$SM/etc/.tmp changed=1
  mkdir -p "$e" "$SM/run" "$SM/mqueue"
  chmod 700 "$SM/mqueue"
  printf 'hosts\tfiles\naliases\tfiles\npasswd\tfiles\n' > "$tmp"
  install_if_changed "$tmp" "$e/service.switch" && changed=0
  printf 'postmaster: root\nMAILER-DAEMON: postmaster\n' > "$tmp"
  install_if_changed "$tmp" "$e/aliases" && changed=0
  printf '%s\n' "$MTA_NAME" > "$tmp"
  install_if_changed "$tmp" "$e/local-host-names" && changed=0
  [ -e "$e/helpfile" ] || cp /etc/mail/helpfile "$e/helpfile" 2>/dev/null || : > "$e/helpfile"
  # The relay policy the tests rely on; start resets it. Tests may edit these files: run
  # `makemap hash access < access` after changing access (applies to the next connection),
  # send SIGHUP to the pid after changing relay-domains.
  printf 'Connect:127.0.0.1\tRELAY\nConnect:%s\tRELAY\n' "$V1_ADDR" > "$tmp"
  install_if_changed "$tmp" "$e/access" && changed=0
  printf '%s\n%s\n' "${V2_ADDRS[1]}" "${ROOT_SRC_ADDRS[1]}" > "$tmp"
  install_if_changed "$tmp" "$e/relay-domains" && changed=0
  cat > "$tmp" <<EOF
divert(-1)dnl
# generated by services.sh: the test MTA in network namespace $NS_MTA; it queues, never delivers
divert(0)dnl
include(\`/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(\`toolbox test MTA')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`$MTA_NAME')dnl
define(\`confSERVICE_SWITCH_FILE', \`$e/service.switch')dnl
define(\`confHOSTS_FILE', \`$DIR/etc/hosts')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confDELIVERY_MODE', \`queueonly')dnl
define(\`confREFUSE_LA', \`999')dnl
define(\`confQUEUE_LA', \`999')dnl
define(\`confTO_IDENT', \`0s')dnl
define(\`QUEUE_DIR', \`$SM/mqueue')dnl
define(\`confPID_FILE', \`$SM/run/sendmail.pid')dnl
define(\`STATUS_FILE', \`$SM/run/statistics')dnl
define(\`ALIAS_FILE', \`$e/aliases')dnl
define(\`confCW_FILE', \`$e/local-host-names')dnl
define(\`confCR_FILE', \`$e/relay-domains')dnl
define(\`confHELP_FILE', \`$e/helpfile')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confPRIVACY_FLAGS', \`authwarnings,novrfy,noexpn')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`relay_hosts_only')dnl
FEATURE(\`access_db', \`hash -T<TMPF> $e/access')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MTA, Port=25, Addr=$MTA_ADDR')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MTA-lo, Port=25, Addr=127.0.0.1')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
  install_if_changed "$tmp" "$e/sendmail.mc" && changed=0
  if [ ! -s "$e/sendmail.cf" ] || [ "$e/sendmail.mc" -nt "$e/sendmail.cf" ]; then
    m4 "$e/sendmail.mc" > "$tmp" 2> "$SM/run/m4.log" || fail_service "$SM/run/m4.log" "m4 could not build sendmail.cf from $e/sendmail.mc"
    mv -f "$tmp" "$e/sendmail.cf"
  fi
  if [ ! -s "$e/access.db" ] || [ "$e/access" -nt "$e/access.db" ]; then
    # (makemap warns about a world-writable /tmp when the data dir is under it: harmless)
    makemap hash "$e/access" < "$e/access" > "$SM/run/makemap.log" 2>&1 || fail_service "$SM/run/makemap.log" "makemap could not build $e/access.db"
  fi
  if [ ! -s "$e/aliases.db" ] || [ "$e/aliases" -nt "$e/aliases.db" ]; then
    "$LO" /usr/sbin/sendmail-mta -C "$e/sendmail.cf" -bi > "$SM/run/newaliases.log" 2>&1 || fail_service "$SM/run/newaliases.log" "sendmail -bi (newaliases) failed"
  fi
  return $changed
}

start_sendmail() {
  local pid changed=1
  LAUNCHED=
  write_sendmail_config && changed=0
  if pid=$(own_pid sendmail); then
    log "sendmail already running (pid $pid, $MTA_ADDR:25 in $NS_MTA)"
    if [ "$changed" = 0 ]; then # SIGHUP: it re-execs itself (same pid) and rereads everything
      log "sendmail config or relay policy changed: SIGHUP"
      kill -HUP "$pid"
      sleep 0.3
    fi
  else
    rm -f "$SM/run/sendmail.pid"
    launch "$SM/run/stdout.log" ip netns exec "$NS_MTA" "$LO" /usr/sbin/sendmail-mta -C "$SM/etc/sendmail.cf" -bD -L sm-toolbox
    pid=$LAUNCHED
  fi
  if ! wait_ready 30 "$pid" smtp_banner "$MTA_ADDR" 25; then
    kill_pid "$pid" sendmail
    fail_service "$SM/run/stdout.log" "sendmail ($MTA_ADDR:25 in network namespace $NS_MTA) $WAIT_WHY"
  fi
  if [ "$pid" = "$LAUNCHED" ]; then
    STARTED+=(sendmail)
    log "sendmail started (pid $pid, $MTA_ADDR:25 in $NS_MTA)"
  fi
  SENDMAIL_PID=$pid
}

# ---------------------------------------------------------------- env.json and summary
json_list() { # items... -> ["a","b"]
  local out="" x
  for x in "$@"; do out+="${out:+,}\"$x\""; done
  printf '[%s]' "$out"
}

write_env_json() {
  local tmp=$DIR/.env.json.tmp
  cat > "$tmp" <<EOF
{
  "dir": "$DIR",
  "started": $(json_list "${STARTED[@]}"),
  "loOnlyWrapper": "$LO",
  "mariadb": {
    "host": "127.0.0.1",
    "port": $(<"$MY/port"),
    "user": "$MYSQL_USER",
    "database": "$MYSQL_DB",
    "passwordFile": "$MY/password",
    "clientCnf": "$MY/client.cnf",
    "socket": "$MY/mysqld.sock",
    "tlsCa": "$MY/tls/ca.pem",
    "tlsOtherCa": "$MY/tls/other-ca.pem",
    "version": "$MYSQL_VERSION",
    "pid": $MYSQL_PID
  },
  "named": {
    "host": "127.0.0.1",
    "host6": "::1",
    "port": $(<"$NM/port"),
    "rndcPort": $(<"$NM/rndc-port"),
    "rndcConf": "$NM/rndc.conf",
    "queryLog": "$NM/log/query.log",
    "generalLog": "$NM/log/named.log",
    "zoneDir": "$NM/zones",
    "zones": ["example.test", "toolbox.test"],
    "pid": $NAMED_PID
  },
  "sshd": {
    "host": "127.0.0.1",
    "port": $SSHD_PORT_CHOSEN,
    "user": "root",
    "privateKey": "$SSHD/id_ed25519",
    "publicKey": "$SSHD/id_ed25519.pub",
    "knownHosts": "$SSHD/known_hosts",
    "hostKeyFingerprint": "$SSHD_FP",
    "pid": $SSHD_ROOT_PID,
    "vantage": {
      "netns": "$NS_V1",
      "host": "$V1_ADDR",
      "port": 22,
      "hostKeyFingerprint": "$SSHD_V1_FP",
      "pid": $SSHD_V1_PID
    }
  },
  "sendmail": {
    "netns": "$NS_MTA",
    "host": "$MTA_ADDR",
    "port": 25,
    "hostname": "$MTA_NAME",
    "dir": "$SM",
    "queueDir": "$SM/mqueue",
    "mc": "$SM/etc/sendmail.mc",
    "cf": "$SM/etc/sendmail.cf",
    "accessFile": "$SM/etc/access",
    "relayDomainsFile": "$SM/etc/relay-domains",
    "hostsFile": "$DIR/etc/hosts",
    "pidFile": "$SM/run/sendmail.pid",
    "pid": $SENDMAIL_PID
  },
  "network": {
    "bridge": "$BRIDGE",
    "subnet": "$SUBNET",
    "bridgeAddress": "$BR_ADDR",
    "rootAddresses": $(json_list "${ROOT_SRC_ADDRS[@]}"),
    "namespaces": {
      "mta": { "name": "$NS_MTA", "addresses": ["$MTA_ADDR"] },
      "v1": { "name": "$NS_V1", "addresses": ["$V1_ADDR"] },
      "v2": { "name": "$NS_V2", "addresses": $(json_list "${V2_ADDRS[@]}") }
    },
    "vantages": [
      { "name": "v1", "netns": "$NS_V1", "address": "$V1_ADDR", "hostname": "v1.toolbox.test", "relays": true, "why": "access: Connect:$V1_ADDR RELAY" },
      { "name": "v2", "netns": "$NS_V2", "address": "${V2_ADDRS[0]}", "hostname": "v2.toolbox.test", "relays": false, "why": "not listed" },
      { "name": "v2b", "netns": "$NS_V2", "address": "${V2_ADDRS[1]}", "hostname": "v2b.toolbox.test", "relays": true, "why": "relay-domains: ${V2_ADDRS[1]}" },
      { "name": "src21", "netns": null, "address": "${ROOT_SRC_ADDRS[0]}", "hostname": "src21.toolbox.test", "relays": false, "why": "not listed" },
      { "name": "src22", "netns": null, "address": "${ROOT_SRC_ADDRS[1]}", "hostname": "src22.toolbox.test", "relays": true, "why": "relay-domains: ${ROOT_SRC_ADDRS[1]}" }
    ]
  }
}
EOF
  mv -f "$tmp" "$DIR/env.json"
}

print_summary() {
  cat <<EOF
services under $DIR (for tests: $DIR/env.json)
  MariaDB $MYSQL_VERSION  127.0.0.1:$(<"$MY/port")  db/user $MYSQL_DB/$MYSQL_USER  password in $MY/password
      mariadb --defaults-file=$MY/client.cnf
  named   127.0.0.1 and ::1 port $(<"$NM/port"), rndc port $(<"$NM/rndc-port")  zones example.test toolbox.test
      dig -p $(<"$NM/port") @127.0.0.1 example.test MX      query log: $NM/log/query.log
      rndc -c $NM/rndc.conf status
  sshd    127.0.0.1:$SSHD_PORT_CHOSEN (root, key $SSHD/id_ed25519) and $V1_ADDR:22 in $NS_V1
      ssh -i $SSHD/id_ed25519 -o UserKnownHostsFile=$SSHD/known_hosts -p $SSHD_PORT_CHOSEN root@127.0.0.1
  sendmail $MTA_ADDR:25 in $NS_MTA (queue only, never delivers), pid $SENDMAIL_PID
      relays for $V1_ADDR (access), ${V2_ADDRS[1]} and ${ROOT_SRC_ADDRS[1]} (relay-domains); refuses ${V2_ADDRS[0]} and ${ROOT_SRC_ADDRS[0]}
      policy: $SM/etc/access (then makemap hash), $SM/etc/relay-domains (then kill -HUP)
  network $BRIDGE $BR_ADDR/24 + ${ROOT_SRC_ADDRS[*]} (root), $NS_MTA $MTA_ADDR, $NS_V1 $V1_ADDR, $NS_V2 ${V2_ADDRS[*]}
started now: ${STARTED[*]:-nothing (all were running)}
EOF
}

# ---------------------------------------------------------------- stop / status
stop_component() { # component
  local pid
  case "$1" in
    net)
      stop_component sendmail
      stop_component sshd-v1
      net_down
      return 0 ;;
  esac
  if pid=$(own_pid "$1"); then
    kill_pid "$pid" "$1"
    log "stopped $1 (pid $pid)"
  fi
}

do_stop() {
  local c want=("$@")
  [ ${#want[@]} -eq 0 ] && want=("${ALL_COMPONENTS[@]}")
  for c in "${want[@]}"; do
    case " ${ALL_COMPONENTS[*]} " in *" $c "*) ;; *) die "unknown component '$c' (one of: ${ALL_COMPONENTS[*]})" ;; esac
  done
  # the ones living in the namespaces first, the namespaces last
  for c in sendmail sshd-v1 sshd named mariadb net; do
    case " ${want[*]} " in *" $c "*) stop_component "$c" ;; esac
  done
}

do_status() {
  local c pid all=0 where
  for c in mariadb named sshd sshd-v1 sendmail; do
    case $c in
      mariadb) where="127.0.0.1:$(cat "$MY/port" 2>/dev/null || echo '?')" ;;
      named) where="127.0.0.1,::1 port $(cat "$NM/port" 2>/dev/null || echo '?'), rndc $(cat "$NM/rndc-port" 2>/dev/null || echo '?')" ;;
      sshd) where="127.0.0.1:$(cat "$SSHD/port" 2>/dev/null || echo '?')" ;;
      sshd-v1) where="$V1_ADDR:22 in $NS_V1" ;;
      sendmail) where="$MTA_ADDR:25 in $NS_MTA" ;;
    esac
    if pid=$(own_pid "$c"); then
      printf '%-9s running  pid %-7s %s\n' "$c" "$pid" "$where"
    else
      printf '%-9s stopped\n' "$c"
      all=3
    fi
  done
  if [ -e "$NET/created" ] && net_ok; then
    printf '%-9s up       %s %s/24, %s %s %s\n' net "$BRIDGE" "$BR_ADDR" "$NS_MTA" "$NS_V1" "$NS_V2"
  elif [ -e "$NET/created" ]; then
    printf '%-9s broken   (ours, incomplete: start repairs it, stop removes it)\n' net
    all=3
  else
    printf '%-9s down\n' net
    all=3
  fi
  return $all
}

# Rolls back what a failed start brought up, so a failed run leaves nothing behind.
on_exit() {
  local rc=$?
  policy_deny_off
  DEFER_ERROR=0
  if [ "$rc" != 0 ] && [ ${#STARTED[@]} -gt 0 ] && [ "${TOOLBOX_SERVICES_KEEP:-0}" != 1 ]; then
    log "start failed: stopping what this run started (${STARTED[*]})"
    do_stop "${STARTED[@]}" || true
  fi
  if [ "$rc" != 0 ]; then
    printf 'services.sh: error: %s\n' "${FATAL:-start failed (exit $rc) after the messages above}" >&2
  fi
  exit "$rc"
}

# ---------------------------------------------------------------- main
exec 9> "$DIR/.lock"
flock -w 900 9 || die "another services.sh holds $DIR/.lock for more than 15 min"

case "$ACTION" in
  start)
    [ ${#COMPONENTS_ARG[@]} -eq 0 ] || die "start takes no components: it starts everything"
    trap on_exit EXIT
    DEFER_ERROR=1
    T0=$SECONDS
    for v in MYSQL_PORT DNS_PORT RNDC_PORT SSHD_PORT; do # bad input fails before anything is touched
      case "${!v:-}" in '' | [1-9] | [1-9][0-9] | [1-9][0-9][0-9] | [1-9][0-9][0-9][0-9] | [1-6][0-9][0-9][0-9][0-9]) ;;
        *) die "$v='${!v}' is not a port number (1-65535)" ;; esac
      [ "${!v:-0}" -le 65535 ] || die "$v='${!v}' is not a port number (1-65535)"
    done
    # Two data dirs starting at once would both find a port free and race to bind it: the choosing
    # of slots and ports, up to the daemons listening, is one at a time on this machine.
    mkdir -p /run/lock
    exec 8> /run/lock/toolbox-services.lock
    flock -w 900 8 || die "another services.sh start holds /run/lock/toolbox-services.lock for more than 15 min"
    choose_net_slot
    write_lo_only
    install_packages
    net_up
    start_mariadb
    start_named
    start_sshd
    start_sendmail
    exec 8>&-
    write_env_json
    print_summary
    log "ready in $((SECONDS - T0)) s"
    ;;
  stop) do_stop "${COMPONENTS_ARG[@]}" ;;
  status) do_status ;;
  *) die "usage: services.sh start|stop|status [component...]" ;;
esac
