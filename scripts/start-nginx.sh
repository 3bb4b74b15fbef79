#!/usr/bin/env bash
# Starts a throwaway nginx with its WebDAV module (PUT DELETE MKCOL COPY MOVE) over HTTPS on 127.0.0.1, with a
# server certificate from a test CA made by scripts/make-test-pki.sh, or reports the one already running.
# Prints on stdout:
#   TEST_DAV_URL (https://127.0.0.1:PORT/dav/)  TEST_DAV_CA (CA file)  TEST_DAV_ROOT (the dir served as /dav/)
#   TEST_DAV_MTLS_URL (same tree, client certificate required)  TEST_DAV_CLIENT_CERT  TEST_DAV_CLIENT_KEY
#   TEST_DAV_CA_DIR (hashed trust dir of the test CA)
# State dir: $HEPIX_NGINX_DIR or /tmp/hepix-test-nginx-<uid>. Logs go to stderr and <state>/error.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${HEPIX_NGINX_DIR:-/tmp/hepix-test-nginx-$(id -u)}
mkdir -p "$state"
exec 9>"$state/.lock"
flock 9

port_of() { sed -n 's#^TEST_DAV_URL=https://127.0.0.1:\([0-9]*\)/.*#\1#p' "$state/env"; }
if [ -s "$state/env" ] && [ -s "$state/nginx.pid" ] && kill -0 "$(cat "$state/nginx.pid")" 2>/dev/null &&
  (exec 3<>"/dev/tcp/127.0.0.1/$(port_of)") 2>/dev/null; then
  echo "start-nginx: already running (pid $(cat "$state/nginx.pid"))" >&2
  cat "$state/env"
  exit 0
fi

nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$nginx_bin" ]; then
  echo "start-nginx: installing nginx-light" >&2
  bash "$here/apt-install.sh" nginx-light
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
fi
if ! "$nginx_bin" -V 2>&1 | grep -q -- --with-http_dav_module; then
  echo "start-nginx: $nginx_bin lacks the dav module" >&2
  exit 1
fi

rm -f "$state/env"
[ -f "$state/pki/server/cert.pem" ] || bash "$here/make-test-pki.sh" "$state/pki" >&2
mkdir -p "$state/root" "$state/tmp"
port=$(node "$here/free-port.mjs")
mtls_port=$(node "$here/free-port.mjs")
while [ "$mtls_port" = "$port" ]; do mtls_port=$(node "$here/free-port.mjs"); done
user_line=""
if [ "$(id -u)" = 0 ]; then user_line="user root root;"; fi

cat >"$state/nginx.conf" <<CFG
$user_line
daemon on;
worker_processes 2;
pid $state/nginx.pid;
error_log $state/error.log warn;
events { worker_connections 256; }
http {
  access_log $state/access.log;
  client_body_temp_path $state/tmp/body;
  proxy_temp_path $state/tmp/proxy;
  fastcgi_temp_path $state/tmp/fastcgi;
  uwsgi_temp_path $state/tmp/uwsgi;
  scgi_temp_path $state/tmp/scgi;
  client_max_body_size 0;
  sendfile on;
  ssl_certificate $state/pki/server/cert.pem;
  ssl_certificate_key $state/pki/server/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  map \$request_method \$dummy { default 0; }
  server {
    listen 127.0.0.1:$port ssl;
    server_name 127.0.0.1 localhost;
    location /dav/ {
      alias $state/root/;
      dav_methods PUT DELETE MKCOL COPY MOVE;
      dav_access user:rw group:r all:r;
      autoindex on;
    }
    # redirects for the client's redirect policy tests
    location /to-http/ { return 307 http://127.0.0.1:$port/dav/; }
    location ~ ^/to-https/(.*)\$ { return 307 https://127.0.0.1:$port/dav/\$1; }
    location /auth/ { return 401; }
  }
  server {
    listen 127.0.0.1:$mtls_port ssl;
    server_name 127.0.0.1 localhost;
    ssl_verify_client on;
    ssl_client_certificate $state/pki/ca/ca.pem;
    location /dav/ {
      alias $state/root/;
      dav_methods PUT DELETE MKCOL COPY MOVE;
      dav_access user:rw group:r all:r;
    }
  }
}
CFG
"$nginx_bin" -t -c "$state/nginx.conf" -p "$state" >&2 2>&1 | grep -v 'syntax is ok\|test is successful' >&2 || true
"$nginx_bin" -c "$state/nginx.conf" -p "$state" 2>>"$state/error.log" 9>&- || {
  cat "$state/error.log" >&2
  exit 1
}
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

cat >"$state/env" <<ENV
TEST_DAV_URL=https://127.0.0.1:$port/dav/
TEST_DAV_CA=$state/pki/ca/ca.pem
TEST_DAV_CA_DIR=$state/pki/certificates
TEST_DAV_ROOT=$state/root
TEST_DAV_MTLS_URL=https://127.0.0.1:$mtls_port/dav/
TEST_DAV_CLIENT_CERT=$state/pki/endorser/usercert.pem
TEST_DAV_CLIENT_KEY=$state/pki/endorser/userkey.pem
ENV
echo "start-nginx: nginx pid $(cat "$state/nginx.pid") on 127.0.0.1:$port (mTLS $mtls_port), state in $state" >&2
cat "$state/env"
