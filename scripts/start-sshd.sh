#!/usr/bin/env bash
# Starts a throwaway OpenSSH server on 127.0.0.1 (free port) for upload tests, or reports the one already
# running. Host and user keys are generated under a state dir; only that user key is authorised.
# Prints on stdout:
#   TEST_SSH_HOST TEST_SSH_PORT TEST_SSH_USER TEST_SSH_KEY (private key path)
#   TEST_SSH_KNOWN_HOSTS (known_hosts with the host key) TEST_SSH_ROOT (writable dir to upload into)
# State dir: $HEPIX_SSHD_DIR or /tmp/hepix-test-sshd-<uid>. Logs go to stderr and <state>/sshd.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${HEPIX_SSHD_DIR:-/tmp/hepix-test-sshd-$(id -u)}
mkdir -p "$state"
exec 9>"$state/.lock"
flock 9

port_of() { sed -n 's/^TEST_SSH_PORT=//p' "$state/env"; }
if [ -s "$state/env" ] && [ -s "$state/sshd.pid" ] && kill -0 "$(cat "$state/sshd.pid")" 2>/dev/null &&
  (exec 3<>"/dev/tcp/127.0.0.1/$(port_of)") 2>/dev/null; then
  echo "start-sshd: already running (pid $(cat "$state/sshd.pid"))" >&2
  cat "$state/env"
  exit 0
fi

sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
if [ ! -x "$sshd_bin" ]; then
  echo "start-sshd: installing openssh-server" >&2
  bash "$here/apt-install.sh" openssh-server openssh-client
  sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
fi
# sshd insists on its privilege-separation directory when started as root
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi

rm -f "$state/env"
mkdir -p "$state/root"
chmod 700 "$state"
[ -f "$state/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C hepix-test-host -f "$state/host_ed25519" >&2
[ -f "$state/user_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C hepix-test-user -f "$state/user_ed25519" >&2
cp "$state/user_ed25519.pub" "$state/authorized_keys"
chmod 600 "$state/authorized_keys"
port=$(node "$here/free-port.mjs")
user=$(id -un)

cat >"$state/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $port
HostKey $state/host_ed25519
PidFile $state/sshd.pid
AuthorizedKeysFile $state/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowUsers $user
Subsystem sftp internal-sftp
LogLevel INFO
MaxStartups 100
MaxSessions 100
CFG
"$sshd_bin" -t -f "$state/sshd_config" >&2
"$sshd_bin" -f "$state/sshd_config" -E "$state/sshd.log" 9>&-

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$state/host_ed25519.pub")" >"$state/known_hosts"

cat >"$state/env" <<ENV
TEST_SSH_HOST=127.0.0.1
TEST_SSH_PORT=$port
TEST_SSH_USER=$user
TEST_SSH_KEY=$state/user_ed25519
TEST_SSH_KNOWN_HOSTS=$state/known_hosts
TEST_SSH_ROOT=$state/root
ENV
echo "start-sshd: sshd pid $(cat "$state/sshd.pid") on 127.0.0.1:$port, state in $state" >&2
cat "$state/env"
