#!/usr/bin/env bash
# Installs Debian packages (as root, or with sudo) without starting their services: packages such as
# postgresql, nginx, glance-api and keystone would otherwise start system-wide daemons on install, and the
# tests start their own on 127.0.0.1 (scripts/start-*.sh). Everything it prints goes to stderr.
#   bash scripts/apt-install.sh PACKAGE...
set -euo pipefail
exec 1>&2
(($#)) || exit 0
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod 755 /usr/sbin/policy-rc.d
  guard=1
fi
trap '[ -z "$guard" ] || $sudo rm -f /usr/sbin/policy-rc.d' EXIT
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "$@" >/dev/null
