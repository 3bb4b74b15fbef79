#!/usr/bin/env bash
# The whole loop on one machine, from a fresh clone:
#   a throwaway CA and endorser certificate (openssl) →
#   vmcaster keeps the endorser, a list and an image in SQLite, uploads the image and publishes the signed list
#   into a directory served by a loopback HTTP server →
#   vmcatcher trusts the endorser, subscribes to the list, updates it, selects the image, and vmcatcher_cache
#   downloads and verifies it into its cache, running the manual's example event handler for every event.
# Set QUICKSTART_DIR to keep the work directory somewhere (default: a new temp dir, kept for you to look at).
# Set QUICKSTART_MARKETPLACE=1 to publish the list into a marketplace afterwards (examples/marketplace/run.sh)
# and keep it serving until Ctrl-C.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -z "${QUICKSTART_SKIP_SETUP:-}" ]; then
  step "0. Set up: Debian packages, pnpm, dependencies, build"
  bash "$root/scripts/setup.sh" >/dev/null
  (cd "$root" && pnpm -s build >/dev/null)
fi

work=${QUICKSTART_DIR:-$(mktemp -d -t hepix-quickstart.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true' EXIT

vmcaster() { node "$root/packages/vmcaster-cli/dist/cli.js" "$@"; }
vmcatcher_endorser() { node "$root/packages/vmcatcher-cli/dist/bin/vmcatcher_endorser.js" "$@"; }
vmcatcher_subscribe() { node "$root/packages/vmcatcher-cli/dist/bin/vmcatcher_subscribe.js" "$@"; }
vmcatcher_image() { node "$root/packages/vmcatcher-cli/dist/bin/vmcatcher_image.js" "$@"; }
vmcatcher_cache() { node "$root/packages/vmcatcher-cli/dist/bin/vmcatcher_cache.js" "$@"; }

step "1. A throwaway grid CA, its CRL and trust directory, and an endorser certificate"
bash "$root/scripts/make-test-pki.sh" "$work/pki" >/dev/null
dn=$(openssl x509 -in "$work/pki/endorser/usercert.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
ca=$(openssl x509 -in "$work/pki/endorser/usercert.pem" -noout -issuer -nameopt compat | sed 's/^issuer=//')
echo "endorser $dn, issued by $ca"

step "2. A loopback HTTP server for the published files"
mkdir -p "$work/www"
rm -f "$work/server.url"
node "$here/../serve.mjs" "$work/www" "$work/server.url" 2>/dev/null &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/server.url" ] && break; sleep 0.1; done
base="$(cat "$work/server.url")/"
echo "serving $work/www at $base"

step "3. vmcaster: endorser, image list and image (embedded SQLite), upload and publish"
mkdir -p "$work/publisher/.globus"
cp "$work/pki/endorser/usercert.pem" "$work/pki/endorser/userkey.pem" "$work/publisher/.globus/"
cat >"$work/publisher/.vmcaster.cfg" <<CFG
[loopback]
server = "127.0.0.1"
protocol = "local"
uriMatch = "$base"
uriReplace = "$work/www/"
CFG
list=$(node -e 'console.log(crypto.randomUUID())')
image=$(node -e 'console.log(crypto.randomUUID())')
(
  export HOME="$work/publisher"
  cd "$HOME"
  vmcaster --add-endorser "$dn"
  vmcaster --select-endorser "$dn" --endorser-key-set hv:ca --endorser-value "$ca"
  vmcaster --select-endorser "$dn" --endorser-key-set hv:email --endorser-value owen.synge@example.org
  vmcaster --select-endorser "$dn" --endorser-key-set dc:creator --endorser-value "Owen Synge"
  vmcaster --imagelist-add "$list"
  vmcaster --select-imagelist "$list" --key-set-imagelist dc:title --key-value-imagelist "Quickstart list"
  vmcaster --select-imagelist "$list" --key-set-imagelist dc:description --key-value-imagelist "Images endorsed by the quickstart"
  vmcaster --select-imagelist "$list" --key-set-imagelist hv:uri --key-value-imagelist "${base}lists/quickstart.list"
  vmcaster --imagelist-add-endorser --select-endorser "$dn" --select-imagelist "$list"
  vmcaster image add "$image"
  vmcaster imagelist bind-image "$list" "$image"
  for kv in "dc:title=Quickstart VM" "dc:description=A small example image" "sl:arch=x86_64" "sl:os=Linux" \
    "sl:osversion=1.0" "sl:comments=made by the quickstart" "hv:hypervisor=kvm" "hv:format=raw.gz" \
    "hv:uri=${base}images/quickstart.raw.gz"; do
    vmcaster image set "$image" "${kv%%=*}" "${kv#*=}" >/dev/null
  done
  head -c 8388608 /dev/urandom >"$work/publisher/quickstart.raw"
  vmcaster --upload-image "$work/publisher/quickstart.raw" --select-image "$image"
  vmcaster --select-imagelist "$list" --upload-imagelist
)
echo "published ${base}lists/quickstart.list"

step "4. vmcatcher: trust the endorser, subscribe, update, select the image"
export VMCATCHER_RDBMS="sqlite:///$work/site/vmcatcher.db"
export VMCATCHER_DIR_CERT="$work/pki/certificates"
export VMCATCHER_CACHE_DIR_CACHE="$work/site/cache"
export VMCATCHER_CACHE_DIR_DOWNLOAD="$work/site/cache/partial"
export VMCATCHER_CACHE_DIR_EXPIRE="$work/site/cache/expired"
mkdir -p "$work/site"
vmcatcher_endorser --create --endorser_uuid quickstart-endorser --subject "$dn" --issuer "$ca"
vmcatcher_subscribe -s "${base}lists/quickstart.list"
vmcatcher_subscribe -l
echo "image state after subscribing (0: known):";              vmcatcher_image -l
vmcatcher_subscribe -U
echo "image state after the update (2: available):";            vmcatcher_image -l
vmcatcher_image -a -u "$image"
echo "image state after selecting it (3: subscribed, available):"; vmcatcher_image -l

step "5. vmcatcher_cache: download, verify, cache, and fire events"
events="$work/site/events.jsonl"
vmcatcher_cache -x "node $root/packages/vmcatcher-cli/dist/bin/vmcatcher_eventHndlExpl.js --output_file $events --datetime"

step "What happened"
node -e '
const fs = require("node:fs");
const [events, cache, image] = process.argv.slice(1);
for (const line of fs.readFileSync(events, "utf8").trim().split("\n")) {
  const e = JSON.parse(line);
  const what = e.VMCATCHER_EVENT_DC_IDENTIFIER ? ` image ${e.VMCATCHER_EVENT_DC_IDENTIFIER} file ${e.VMCATCHER_EVENT_FILENAME}` : "";
  console.log(`event ${e.VMCATCHER_EVENT_TYPE}${what}`);
}
const st = fs.statSync(`${cache}/${image}`);
console.log(`cached ${cache}/${image} (${st.size} bytes, sha512 verified against the signed list)`);
' "$events" "$VMCATCHER_CACHE_DIR_CACHE" "$image"
echo "work directory kept in $work"

if [ -n "${QUICKSTART_MARKETPLACE:-}" ]; then
  step "6. The marketplace beside the loopback server: the published list and a few more, searchable"
  MARKETPLACE_SKIP_SETUP=1 MARKETPLACE_PKI="$work/pki" MARKETPLACE_DIR="$work/marketplace" \
    bash "$root/examples/marketplace/run.sh" "$work/www/lists/quickstart.list"
fi
