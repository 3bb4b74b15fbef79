#!/usr/bin/env bash
# Starts (or finds) a throwaway OpenStack Swift with its S3 API (the s3api middleware), from Debian's packages,
# for the object store's tests: a real S3 implementation, all on 127.0.0.1 and free ports, all state under one
# directory:
#   - swift-account-server, swift-container-server, swift-object-server on one device (a directory on the
#     state directory's filesystem, which must support user xattrs: ext4 and xfs do), rings of one replica built
#     with swift-ring-builder;
#   - swift-proxy-server with s3api before tempauth (one user, random secret) and slo (multipart uploads);
#   - memcached, which tempauth requires, on its own loopback port.
# swift.conf (the hash path prefix and suffix) lives in the state directory too (`swift_dir`): /etc/swift is
# never read or written.
# Idempotent: a second call finds the running services and prints the same lines. Prints on stdout:
#   TEST_S3_ENDPOINT    http://127.0.0.1:PORT
#   TEST_S3_ACCESS_KEY  TEST_S3_SECRET_KEY   tempauth's account:user and key
#   TEST_S3_REGION      the region s3api signs for (us-east-1)
# Logs go to stderr and <state>/*.log.
#   HEPIX_SWIFT_DIR   state directory (default /tmp/hepix-test-swift-<uid>)
#   stop              `start-swift.sh stop` stops every service started here
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${HEPIX_SWIFT_DIR:-/tmp/hepix-test-swift-$(id -u)}
log() { echo "start-swift: $*" >&2; }
mkdir -p "$state"
exec 9>"$state/.lock"
flock 9

services=(memcached account container object proxy)
stop_all() {
  for s in "${services[@]}"; do
    if [ -s "$state/$s.pid" ]; then
      kill "$(cat "$state/$s.pid")" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$(cat "$state/$s.pid")" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$(cat "$state/$s.pid")" 2>/dev/null || true
      rm -f "$state/$s.pid"
    fi
  done
  rm -f "$state/env"
}
if [ "${1:-}" = stop ]; then
  stop_all
  exit 0
fi

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_of() { cat "$state/ports/$1" 2>/dev/null; }
running() {
  [ -s "$state/env" ] || return 1
  for s in "${services[@]}"; do
    [ -s "$state/$s.pid" ] && kill -0 "$(cat "$state/$s.pid")" 2>/dev/null || return 1
    answers "$(port_of "$s")" || return 1
  done
}
if running; then
  log "already running (state in $state)"
  cat "$state/env"
  exit 0
fi
stop_all

if ! command -v swift-proxy-server >/dev/null || ! command -v swift-object-server >/dev/null ||
  ! command -v swift-ring-builder >/dev/null || ! command -v memcached >/dev/null; then
  log "installing swift and memcached from Debian"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  # The packages' own services must not start (memcached would bind 127.0.0.1:11211 for everyone).
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    guard=1
  fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
    swift swift-proxy swift-account swift-container swift-object memcached >&2
  if [ -n "$guard" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
fi

# Ports are baked into the rings: keep the ones of the last start while they are free, else take new ones.
mkdir -p "$state/ports"
fresh_ports=""
for s in "${services[@]}"; do
  p=$(port_of "$s" || true)
  if [ -z "$p" ] || answers "$p"; then fresh_ports=1; fi
done
if [ -n "$fresh_ports" ]; then
  taken=" "
  for s in "${services[@]}"; do
    p=$(node "$here/free-port.mjs")
    while [[ "$taken" == *" $p "* ]]; do p=$(node "$here/free-port.mjs"); done
    taken="$taken$p "
    echo "$p" >"$state/ports/$s"
  done
fi

etc=$state/etc
mkdir -p "$etc" "$state/srv/d1" "$state/recon" "$state/run"
/usr/bin/python3 - "$state/srv/d1" <<'PY' || { log "$state/srv/d1 has no user xattrs: Swift cannot store objects there (set HEPIX_SWIFT_DIR to a directory on ext4 or xfs)"; exit 1; }
import os, sys
p = os.path.join(sys.argv[1], '.xattr-check')
open(p, 'w').close()
try:
    os.setxattr(p, 'user.hepix', b'1')
finally:
    os.unlink(p)
PY
user=$(id -un)
if [ ! -s "$etc/swift.conf" ]; then
  prefix=$(node -e 'console.log(require("crypto").randomBytes(8).toString("hex"))')
  suffix=$(node -e 'console.log(require("crypto").randomBytes(8).toString("hex"))')
  cat >"$etc/swift.conf" <<CFG
[swift-hash]
swift_hash_path_prefix = $prefix
swift_hash_path_suffix = $suffix
[storage-policy:0]
name = Policy-0
default = yes
CFG
fi
[ -s "$state/secret" ] || node -e 'console.log(require("crypto").randomBytes(12).toString("hex"))' >"$state/secret"
secret=$(cat "$state/secret")

ring_ports="$(port_of account) $(port_of container) $(port_of object)"
if [ "$(cat "$etc/ring-ports" 2>/dev/null)" != "$ring_ports" ] || [ ! -s "$etc/object.ring.gz" ]; then
  log "building the rings"
  # One Python process for the three rings (swift-ring-builder would be nine interpreter starts).
  /usr/bin/python3 - "$etc" "$(port_of account)" "$(port_of container)" "$(port_of object)" <<'PY'
import os, sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(('account', 'container', 'object'), sys.argv[2:5]):
    # 2^6 partitions, 1 replica, no minimum hours between moves: one device holds everything.
    b = RingBuilder(6, 1, 0)
    b.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port), 'device': 'd1', 'weight': 1})
    b.rebalance()
    b.get_ring().save(os.path.join(etc, name + '.ring.gz'))
    b.save(os.path.join(etc, name + '.builder'))
PY
  [ -s "$etc/object.ring.gz" ] || { log "no object ring was made"; exit 1; }
  echo "$ring_ports" >"$etc/ring-ports"
fi

server_conf() { # kind
  cat >"$etc/$1-server.conf" <<CFG
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $(port_of "$1")
workers = 0
user = $user
swift_dir = $etc
devices = $state/srv
mount_check = false
log_name = $1-server
recon_cache_path = $state/recon
[pipeline:main]
pipeline = $1-server
[app:$1-server]
use = egg:swift#$1
CFG
}
server_conf account
server_conf container
server_conf object
cat >"$etc/proxy-server.conf" <<CFG
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $(port_of proxy)
workers = 0
user = $user
swift_dir = $etc
log_name = proxy-server
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $secret .admin
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$(port_of memcached)
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CFG

start() { # name, argv...
  local name=$1
  shift
  setsid "$@" </dev/null >>"$state/$name.log" 2>&1 9>&- &
  echo $! >"$state/$name.pid"
}
log "starting memcached and the Swift servers (state in $state)"
start memcached memcached -l 127.0.0.1 -p "$(port_of memcached)" -U 0 -m 32 -u "$user"
for s in account container object proxy; do
  # -v: log to standard output (the .log file) as well as to syslog, which is not there.
  start "$s" "swift-$s-server" "$etc/$s-server.conf" -v
done

wait_port() { # service
  for _ in $(seq 1 300); do
    answers "$(port_of "$1")" && return 0
    kill -0 "$(cat "$state/$1.pid")" 2>/dev/null || break
    sleep 0.1
  done
  log "$1 did not start; the end of $state/$1.log:"
  tail -n 30 "$state/$1.log" >&2 || true
  stop_all
  exit 1
}
for s in "${services[@]}"; do wait_port "$s"; done
endpoint="http://127.0.0.1:$(port_of proxy)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$endpoint/healthcheck" || true)
[ "$code" = 200 ] || { log "the proxy's healthcheck answered $code"; stop_all; exit 1; }

cat >"$state/env" <<ENV
TEST_S3_ENDPOINT=$endpoint
TEST_S3_ACCESS_KEY=test:tester
TEST_S3_SECRET_KEY=$secret
TEST_S3_REGION=us-east-1
ENV
log "S3 API on $endpoint"
cat "$state/env"
