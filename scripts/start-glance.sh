#!/usr/bin/env bash
# Starts (or finds) a throwaway OpenStack image service for the Glance connector's tests, from Debian's
# packages, all on 127.0.0.1 and free ports, all state under one directory:
#   - glance-api with the noauth pipeline (paste flavor empty: every request is an admin), SQLite database
#     (glance-manage db_sync), file store;
#   - a real Keystone (keystone-wsgi-public under uwsgi, SQLite, fernet tokens, `keystone-manage bootstrap`)
#     with an `image` service in its catalog pointing at
#   - a second glance-api with the keystone pipeline (keystonemiddleware validates every token).
# Idempotent: a second call finds the running services and prints the same lines. Prints on stdout:
#   TEST_GLANCE_URL            the noauth Glance (http://127.0.0.1:PORT)
#   TEST_KEYSTONE_URL          Keystone v3 (http://127.0.0.1:PORT/v3)
#   TEST_KEYSTONE_USER / TEST_KEYSTONE_PASSWORD / TEST_KEYSTONE_PROJECT   the bootstrap admin (domain default)
#   TEST_GLANCE_KEYSTONE_URL   the Glance behind Keystone (also the catalog's public image endpoint)
# Logs go to stderr and <state>/*.log.
#   HEPIX_GLANCE_DIR   state directory (default /tmp/hepix-test-glance-<uid>)
#   stop               `start-glance.sh stop` stops every service started here
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${HEPIX_GLANCE_DIR:-/tmp/hepix-test-glance-$(id -u)}
log() { echo "start-glance: $*" >&2; }
mkdir -p "$state"
exec 9>"$state/.lock"
flock 9

pids=(glance-noauth glance-keystone keystone)
stop_all() {
  for p in "${pids[@]}"; do
    if [ -s "$state/$p.pid" ]; then
      kill "$(cat "$state/$p.pid")" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$(cat "$state/$p.pid")" 2>/dev/null || break; sleep 0.1; done
      rm -f "$state/$p.pid"
    fi
  done
  rm -f "$state/env"
}
if [ "${1:-}" = stop ]; then
  stop_all
  exit 0
fi

port_in() { sed -n "s#^$1=http://127.0.0.1:\([0-9]*\).*#\1#p" "$state/env"; }
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
running() {
  [ -s "$state/env" ] || return 1
  for p in "${pids[@]}"; do [ -s "$state/$p.pid" ] && kill -0 "$(cat "$state/$p.pid")" 2>/dev/null || return 1; done
  answers "$(port_in TEST_GLANCE_URL)" && answers "$(port_in TEST_KEYSTONE_URL)" && answers "$(port_in TEST_GLANCE_KEYSTONE_URL)"
}
if running; then
  log "already running (state in $state)"
  cat "$state/env"
  exit 0
fi
stop_all

if ! command -v glance-api >/dev/null || ! command -v keystone-manage >/dev/null || ! command -v uwsgi >/dev/null; then
  log "installing glance-api and keystone from Debian"
  # The packages' own services must not start (they would bind 0.0.0.0:9292 and :5000).
  bash "$here/apt-install.sh" glance-api keystone uwsgi-core uwsgi-plugin-python3
fi

free_port() { node "$here/free-port.mjs"; }
wait_http() { # url, log file
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  log "$1 did not answer; the end of $2:"
  tail -n 40 "$2" >&2 || true
  return 1
}
json_get() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("."))v=v[k];console.log(v)})' "$1"; }

rm -rf "$state/keystone" "$state/noauth" "$state/keystone-glance"
mkdir -p "$state/keystone/fernet" "$state/keystone/credential"
password=$(node -e 'console.log(require("crypto").randomBytes(12).toString("hex"))')

# --- Keystone ------------------------------------------------------------------------------------------
ks_port=$(free_port)
ks_url="http://127.0.0.1:$ks_port/v3"
cat >"$state/keystone/keystone.conf" <<CFG
[DEFAULT]
log_file = $state/keystone.log
use_stderr = false
[database]
connection = sqlite:///$state/keystone/keystone.sqlite
[fernet_tokens]
key_repository = $state/keystone/fernet
[fernet_receipts]
key_repository = $state/keystone/fernet
[credential]
key_repository = $state/keystone/credential
[token]
provider = fernet
CFG
ks() { keystone-manage --config-file "$state/keystone/keystone.conf" "$@" >>"$state/keystone-manage.log" 2>&1; }
log "keystone: db_sync, fernet keys, bootstrap"
ks db_sync
ks fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
ks credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
ks bootstrap --bootstrap-password "$password" --bootstrap-admin-url "$ks_url" --bootstrap-public-url "$ks_url" \
  --bootstrap-internal-url "$ks_url" --bootstrap-region-id RegionOne
OS_KEYSTONE_CONFIG_FILES="$state/keystone/keystone.conf" setsid uwsgi --plugin python3 \
  --http-socket "127.0.0.1:$ks_port" --wsgi-file /usr/bin/keystone-wsgi-public --master --processes 1 \
  --threads 1 --die-on-term --need-app --logto "$state/keystone-uwsgi.log" --pidfile "$state/keystone.pid" \
  </dev/null >/dev/null 2>&1 9>&- &
wait_http "$ks_url" "$state/keystone-uwsgi.log"

# --- the two glance-api servers -------------------------------------------------------------------------
glance_conf() { # dir port flavor
  local dir=$1
  mkdir -p "$dir/images" "$dir/staging" "$dir/tasks" "$dir/lock"
  cat >"$dir/glance-api.conf" <<CFG
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $2
workers = 1
log_file = $dir/glance-api.log
use_stderr = false
enabled_backends = fs:file
[database]
connection = sqlite:///$dir/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $dir/images/
[os_glance_staging_store]
filesystem_store_datadir = $dir/staging/
[os_glance_tasks_store]
filesystem_store_datadir = $dir/tasks/
[paste_deploy]
flavor = $3
config_file = /etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $dir/lock
[keystone_authtoken]
www_authenticate_uri = $ks_url
auth_url = $ks_url
auth_type = password
username = admin
password = $password
project_name = admin
user_domain_id = default
project_domain_id = default
CFG
}
start_glance() { # dir name
  setsid glance-api --config-file "$1/glance-api.conf" </dev/null >>"$1/glance-api.stdout" 2>&1 9>&- &
  echo $! >"$state/$2.pid"
}

g1_port=$(free_port)
g2_port=$(free_port)
while [ "$g2_port" = "$g1_port" ] || [ "$g2_port" = "$ks_port" ]; do g2_port=$(free_port); done
glance_conf "$state/noauth" "$g1_port" ""
glance_conf "$state/keystone-glance" "$g2_port" keystone
log "glance: db_sync"
glance-manage --config-file "$state/noauth/glance-api.conf" db_sync >>"$state/glance-manage.log" 2>&1
# Same schema for the second server: a copy of the synced database saves a second migration run.
cp "$state/noauth/glance.sqlite" "$state/keystone-glance/glance.sqlite"
start_glance "$state/noauth" glance-noauth
start_glance "$state/keystone-glance" glance-keystone
wait_http "http://127.0.0.1:$g1_port/versions" "$state/noauth/glance-api.log"
wait_http "http://127.0.0.1:$g2_port/versions" "$state/keystone-glance/glance-api.log"

# --- the image service in Keystone's catalog --------------------------------------------------------------
token=$(curl -fsS -D - -o /dev/null -H 'content-type: application/json' -X POST "$ks_url/auth/tokens" -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"$password\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" |
  tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p')
service=$(curl -fsS -H "x-auth-token: $token" -H 'content-type: application/json' -X POST "$ks_url/services" \
  -d '{"service":{"type":"image","name":"glance","enabled":true}}' | json_get service.id)
for iface in public internal admin; do
  curl -fsS -o /dev/null -H "x-auth-token: $token" -H 'content-type: application/json' -X POST "$ks_url/endpoints" \
    -d "{\"endpoint\":{\"service_id\":\"$service\",\"interface\":\"$iface\",\"region_id\":\"RegionOne\",\"url\":\"http://127.0.0.1:$g2_port\"}}"
done
# The keystone-backed Glance really validates tokens: an anonymous request is refused.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$g2_port/v2/images")
[ "$code" = 401 ] || { log "the keystone Glance answered $code without a token"; exit 1; }

cat >"$state/env" <<ENV
TEST_GLANCE_URL=http://127.0.0.1:$g1_port
TEST_KEYSTONE_URL=$ks_url
TEST_KEYSTONE_USER=admin
TEST_KEYSTONE_PASSWORD=$password
TEST_KEYSTONE_PROJECT=admin
TEST_GLANCE_KEYSTONE_URL=http://127.0.0.1:$g2_port
ENV
log "glance (noauth) on $g1_port, keystone on $ks_port, glance (keystone) on $g2_port; state in $state"
cat "$state/env"
