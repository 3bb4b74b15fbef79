#!/usr/bin/env bash
# Installs everything this repository needs on a fresh Debian machine with Node 20 and npm:
# the Debian packages the tests drive for real (openssl, PostgreSQL, OpenSSH, nginx, chromium for the
# marketplace's browser tests, a C compiler with libssl headers, OpenStack Glance and Keystone, qemu-img,
# bubblewrap, the decompressors, OpenStack Swift with memcached (the S3 API of the object store's tests),
# RabbitMQ), pnpm, and the workspace's npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(openssl libssl-dev gcc libc6-dev postgresql openssh-server openssh-client nginx-light curl ca-certificates procps bzip2 xz-utils python3
  chromium glance-api keystone uwsgi-core uwsgi-plugin-python3 qemu-utils bubblewrap zstd gzip tar util-linux
  swift swift-proxy swift-account swift-container swift-object memcached rabbitmq-server)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  # Packages with services (glance-api, keystone, postgresql, nginx, memcached, rabbitmq-server) must not start
  # them on install: the tests start their own on 127.0.0.1 (scripts/start-*.sh).
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    guard=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$guard" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "10.34.9" ]; then
  echo "setup: installing pnpm 10.34.9"
  npm i -g pnpm@10.34.9 >/dev/null
fi

export npm_config_nodedir=/usr
pnpm install --frozen-lockfile
