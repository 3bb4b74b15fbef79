#!/usr/bin/env bash
# Starts (or finds) a throwaway RabbitMQ broker from Debian's rabbitmq-server for the event bus's tests, with
# everything on 127.0.0.1 and free ports: the AMQP listener, epmd (ERL_EPMD_ADDRESS, its own ERL_EPMD_PORT) and
# the Erlang distribution port (RABBITMQ_DIST_PORT, also the CLI tools' interface), its own node name, a user
# with a random password, mnesia and logs under one state directory, no plugins. A broker the Debian package
# may have started as a service is stopped first.
# Idempotent: a second call finds the running broker and prints the same line; after `stop`, a start reuses the
# same ports, node name and data (durable queues and persistent messages survive), so clients reconnect to the
# same URL. Prints on stdout:
#   TEST_AMQP_URL   amqp://USER:PASSWORD@127.0.0.1:PORT
# Logs go to stderr and <state>/log/.
#   HEPIX_RABBITMQ_DIR   state directory (default /tmp/hepix-test-rabbitmq-<uid>)
#   stop                 `start-rabbitmq.sh stop` stops the broker (and its epmd)
#   ctl ARGS…            runs rabbitmqctl ARGS… against this broker
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${HEPIX_RABBITMQ_DIR:-/tmp/hepix-test-rabbitmq-$(id -u)}
log() { echo "start-rabbitmq: $*" >&2; }
mkdir -p "$state/ports" "$state/log" "$state/mnesia"
exec 9>"$state/.lock"
flock 9

bin=/usr/lib/rabbitmq/bin
if [ ! -x "$bin/rabbitmq-server" ]; then
  log "installing rabbitmq-server from Debian"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  # The package's own service must not start (it would listen on every interface).
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    guard=1
  fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
    rabbitmq-server >&2
  if [ -n "$guard" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
fi

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_of() { cat "$state/ports/$1" 2>/dev/null; }

# The same environment for the server and the CLI tools: no file under /etc/rabbitmq is read.
setup_env() {
  export HOME=$state # the Erlang cookie
  export RABBITMQ_CONF_ENV_FILE=$state/rabbitmq-env.conf
  export RABBITMQ_CONFIG_FILE=$state/rabbitmq.conf
  export RABBITMQ_ADVANCED_CONFIG_FILE=$state/advanced.config
  export RABBITMQ_ENABLED_PLUGINS_FILE=$state/enabled_plugins
  export RABBITMQ_NODENAME=hepix-test@localhost
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$(port_of amqp)
  export RABBITMQ_DIST_PORT=$(port_of dist)
  export ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_EPMD_PORT=$(port_of epmd)
  export RABBITMQ_MNESIA_BASE=$state/mnesia
  export RABBITMQ_LOG_BASE=$state/log
  export RABBITMQ_PID_FILE=$state/rabbitmq.pid
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

broker_pid() { [ -s "$state/beam.pid" ] && kill -0 "$(cat "$state/beam.pid")" 2>/dev/null && cat "$state/beam.pid"; }
stop_broker() {
  local pid
  if pid=$(broker_pid); then
    # The Erlang VM shuts down in order on SIGTERM (queues synced to disk).
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$state/beam.pid" "$state/env"
  if [ -s "$state/ports/epmd" ] && command -v epmd >/dev/null; then
    ERL_EPMD_PORT=$(port_of epmd) epmd -port "$(port_of epmd)" -kill >/dev/null 2>&1 || true
  fi
}

case "${1:-}" in
stop)
  stop_broker
  exit 0
  ;;
ctl)
  shift
  setup_env
  exec "$bin/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@" 9>&-
  ;;
esac

if broker_pid >/dev/null && [ -s "$state/env" ] && answers "$(port_of amqp)"; then
  log "already running (state in $state)"
  cat "$state/env"
  exit 0
fi
stop_broker

# A broker started by the Debian package (as the rabbitmq user) would hold the default ports and listen on
# every interface: stop it.
if pgrep -u rabbitmq -f beam >/dev/null 2>&1 && [ -x /etc/init.d/rabbitmq-server ]; then
  log "stopping the rabbitmq-server service that the Debian package started"
  /etc/init.d/rabbitmq-server stop >&2 || pkill -u rabbitmq -f beam || true
fi

# Keep the ports of the last start while they are free (clients reconnect to the same URL), else take new ones.
for p in amqp dist epmd; do
  cur=$(port_of "$p" || true)
  if [ -z "$cur" ] || answers "$cur"; then
    n=$(node "$here/free-port.mjs")
    while [ "$n" = "$(port_of amqp)" ] || [ "$n" = "$(port_of dist)" ] || [ "$n" = "$(port_of epmd)" ]; do
      n=$(node "$here/free-port.mjs")
    done
    echo "$n" >"$state/ports/$p"
  fi
done
[ -s "$state/password" ] || node -e 'console.log(require("crypto").randomBytes(12).toString("hex"))' >"$state/password"
password=$(cat "$state/password")
: >"$state/rabbitmq-env.conf"
echo '[].' >"$state/enabled_plugins"
echo '[].' >"$state/advanced.config"
cat >"$state/rabbitmq.conf" <<CFG
listeners.tcp.default = 127.0.0.1:$(port_of amqp)
default_user = hepix
default_pass = $password
loopback_users = none
log.file = rabbit.log
log.file.level = info
log.console = false
# The tests fill a few thousand small messages; the disk of a CI machine is not a reason to block publishers.
disk_free_limit.absolute = 50MB
CFG
setup_env
log "starting node $RABBITMQ_NODENAME on 127.0.0.1:$RABBITMQ_NODE_PORT (epmd $ERL_EPMD_PORT, distribution $RABBITMQ_DIST_PORT)"
started=$(date +%s%N)
setsid "$bin/rabbitmq-server" </dev/null >>"$state/log/server.stdout" 2>&1 9>&- &
echo $! >"$state/server-script.pid"
for _ in $(seq 1 600); do
  if answers "$RABBITMQ_NODE_PORT"; then break; fi
  if ! kill -0 "$(cat "$state/server-script.pid")" 2>/dev/null; then
    log "the broker exited; the end of its logs:"
    tail -n 30 "$state/log/server.stdout" "$state/log/rabbit.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.1
done
answers "$RABBITMQ_NODE_PORT" || { log "the broker did not open its port"; tail -n 30 "$state/log/rabbit.log" >&2 || true; exit 1; }
# The pid of the Erlang VM itself (the script execs into it, but keep to what the broker says).
if [ -s "$state/rabbitmq.pid" ]; then cp "$state/rabbitmq.pid" "$state/beam.pid"; else cp "$state/server-script.pid" "$state/beam.pid"; fi
log "up after $((($(date +%s%N) - started) / 1000000)) ms"
echo "TEST_AMQP_URL=amqp://hepix:$password@127.0.0.1:$RABBITMQ_NODE_PORT" >"$state/env"
cat "$state/env"
