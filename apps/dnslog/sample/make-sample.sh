#!/usr/bin/env bash
# Regenerates query.log.20261125093000, the sample shipped by `npm run demo`: real lines written by a
# real named (the test harness's, on loopback) for a mix of clients, names, types and flags.
# Usage: bash apps/dnslog/sample/make-sample.sh   (starts the test services if needed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
bash "$repo/test/scripts/services.sh" start >/dev/null
env_json="$repo/.services/env.json"
port=$(node -p "require('$env_json').named.port")
log=$(node -p "require('$env_json').named.queryLog")
rndc_conf=$(node -p "require('$env_json').named.rndcConf")

names=(example.test www.example.test mail.example.test multi.example.test nullmx.example.test local.example.test
  nomx.example.test txt.example.test cname.example.test badmx.example.test mx1.example.test mx2.example.test
  _smtp._tcp.example.test toolbox.test nosuch.example.test api.toolbox.test)
types=(A A A AAAA MX MX TXT NS SOA ANY HTTPS TYPE65 SRV A AAAA)
opts=('' '' '' '+tcp' '+dnssec' '+cd' '+norec' '+nocookie' '+noedns' '+dnssec +tcp')
# a deterministic pseudo-random mix, the same each time the sample is regenerated
seed=7
rnd() { seed=$(( (seed * 1103515245 + 12345) % 2147483648 )); r=$(( seed / 65536 )); }

rndc -c "$rndc_conf" reconfig
mv "$log" "$log.before-sample"
rndc -c "$rndc_conf" reconfig
for _ in $(seq 1 1500); do
  rnd; n=${names[$(( r % ${#names[@]} ))]}
  rnd; t=${types[$(( r % ${#types[@]} ))]}
  rnd; read -r -a o <<< "${opts[$(( r % ${#opts[@]} ))]}"
  rnd; c=$(( r % 12 ))
  if [ "$c" -ge 9 ]; then src=(-b ::1 @::1); else src=(-b "127.0.0.$((c + 1))" @127.0.0.1); fi
  dig "${src[@]}" -p "$port" "$n" "$t" "${o[@]}" +tries=1 +time=2 > /dev/null || true
done
dig -b 127.0.0.1 @127.0.0.1 -p "$port" -c CH version.bind TXT +tries=1 +time=2 > /dev/null || true
sleep 0.5
mv "$log" "$here/query.log.20261125093000"
rndc -c "$rndc_conf" reconfig
echo "wrote $here/query.log.20261125093000 ($(wc -l < "$here/query.log.20261125093000") lines)"
