#!/usr/bin/env bash
# Installs everything this repository needs on a fresh Debian machine with Node 20 and npm:
# the Debian packages the tests drive for real (openssl, PostgreSQL, OpenSSH, nginx, chromium for the
# marketplace's browser tests, a C compiler with libssl headers, OpenStack Glance and Keystone, qemu-img,
# bubblewrap, the decompressors), pnpm, and the workspace's npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(openssl libssl-dev gcc libc6-dev postgresql openssh-server openssh-client nginx-light curl ca-certificates procps bzip2 xz-utils python3
  chromium glance-api keystone uwsgi-core uwsgi-plugin-python3 qemu-utils bubblewrap zstd gzip tar util-linux man-db systemd
  time)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  # Packages with services (glance-api, keystone, postgresql, nginx) must not start them on install.
  bash scripts/apt-install.sh "${missing[@]}"
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "10.34.9" ]; then
  echo "setup: installing pnpm 10.34.9"
  npm i -g pnpm@10.34.9 >/dev/null
fi

export npm_config_nodedir=/usr
pnpm install --frozen-lockfile
