#!/usr/bin/env bash
# Starts (or finds) a throwaway PostgreSQL server for the tests, on 127.0.0.1 and a free port, with trust
# authentication and all state under one temp directory. Idempotent: a second call finds the running server
# and prints the same URL. Prints TEST_POSTGRES_URL=... on stdout; everything else goes to stderr.
#   HEPIX_PG_DIR   state directory (default: ${TMPDIR:-/tmp}/hepix-test-postgres)
#   stop           `start-postgres.sh stop` stops the server
set -euo pipefail
base=${HEPIX_PG_DIR:-${TMPDIR:-/tmp}/hepix-test-postgres}
log() { echo "start-postgres: $*" >&2; }

find_bin() {
  local b
  if b=$(command -v pg_ctl 2>/dev/null); then dirname "$(readlink -f "$b")"; return 0; fi
  b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$b" ] && [ -x "$b/pg_ctl" ] && { echo "$b"; return 0; }
  return 1
}

if ! bin=$(find_bin); then
  log "PostgreSQL not found; installing the Debian package"
  bash "$(dirname "$0")/apt-install.sh" postgresql
  bin=$(find_bin) || { log "PostgreSQL is still not installed"; exit 1; }
fi

mkdir -p "$base"
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres "$base"; chmod 700 "$base"; fi

# One caller at a time (vitest globalSetups and CI may race).
exec 9>"$base.lock"
flock 9

data=$base/data
url_of() { echo "postgres://postgres@127.0.0.1:$(cat "$base/port")/postgres"; }

if [ "${1:-}" = stop ]; then
  [ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$data" -m fast stop >&2 9>&- || true
  exit 0
fi

if [ -f "$base/port" ] && [ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  log "already running on port $(cat "$base/port")"
  echo "TEST_POSTGRES_URL=$(url_of)"
  exit 0
fi

if [ ! -f "$data/PG_VERSION" ]; then
  rm -rf "$data"
  log "initdb in $data"
  as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
fi

port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
mkdir -p "$base/sock"
[ "$(id -u)" = 0 ] && chown postgres "$base/sock"
rm -f "$data/postmaster.pid"
log "starting on 127.0.0.1:$port"
as_pg "$bin/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$base/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2 9>&- || { cat "$base/server.log" >&2; exit 1; }
echo "$port" >"$base/port"
echo "TEST_POSTGRES_URL=$(url_of)"
