#!/usr/bin/env bash
# A site with OpenStack Glance, end to end on one machine:
#   a throwaway grid CA and endorser (openssl) sign an image list with one qcow2 image, served on loopback →
#   vmcatcher trusts the endorser, subscribes, updates, selects the image →
#   vmcatcher_cache downloads and verifies it and runs vmcatcher-glance for every event, which checks the image
#   (qemu-img under prlimit/bubblewrap) and uploads it into a real glance-api (scripts/start-glance.sh) →
#   the Glance image is listed with the properties the cloud's consumers read, and its hash is checked.
# Needs: a build of the repository (`pnpm build`) and the Debian packages of scripts/setup.sh.
# GLANCE_EXAMPLE_DIR keeps the work directory somewhere (default: a new temp dir, kept for you to look at).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
step() { printf '\n== %s\n' "$*"; }
for f in packages/vmcatcher-cli/dist/bin/vmcatcher_cache.js packages/glance-connector/dist/bin/vmcatcher-glance.js; do
  [ -f "$root/$f" ] || { echo "build first: (cd $root && pnpm build)" >&2; exit 1; }
done

work=${GLANCE_EXAMPLE_DIR:-$(mktemp -d -t hepix-glance-example.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true' EXIT

cli="$root/packages/vmcatcher-cli/dist/bin"
vmcatcher_endorser() { node "$cli/vmcatcher_endorser.js" "$@"; }
vmcatcher_subscribe() { node "$cli/vmcatcher_subscribe.js" "$@"; }
vmcatcher_image() { node "$cli/vmcatcher_image.js" "$@"; }
vmcatcher_cache() { node "$cli/vmcatcher_cache.js" "$@"; }
glance_bin="$root/packages/glance-connector/dist/bin/vmcatcher-glance.js"

step "1. Glance (glance-api from Debian, noauth pipeline, SQLite, file store) on loopback"
eval "$(bash "$root/scripts/start-glance.sh" | sed -n 's/^\(TEST_GLANCE_URL=.*\)$/\1/p')"
echo "Glance at $TEST_GLANCE_URL"

step "2. A grid CA and an endorser; a loopback web server for the list and the image"
bash "$root/scripts/make-test-pki.sh" "$work/pki" >/dev/null
dn=$(openssl x509 -in "$work/pki/endorser/usercert.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
ca=$(openssl x509 -in "$work/pki/endorser/usercert.pem" -noout -issuer -nameopt compat | sed 's/^issuer=//')
mkdir -p "$work/www/images" "$work/www/lists"
rm -f "$work/server.url"
node "$here/../serve.mjs" "$work/www" "$work/server.url" 2>/dev/null &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/server.url" ] && break; sleep 0.1; done
base="$(cat "$work/server.url")/"

step "3. The endorser publishes a signed list with one qcow2 image"
list=$(node -e 'console.log(crypto.randomUUID())')
image=$(node -e 'console.log(crypto.randomUUID())')
head -c 4194304 /dev/urandom >"$work/disk.raw"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/www/images/example.qcow2"
node - "$work/www/images/example.qcow2" "$list" "$image" "$base" "$dn" "$ca" >"$work/list.json" <<'JS'
const [file, list, image, base, dn, ca] = process.argv.slice(2);
const fs = require('node:fs');
const data = fs.readFileSync(file);
const day = 86400000;
const iso = (t) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
console.log(JSON.stringify({ 'hv:imagelist': {
  'dc:identifier': list, 'dc:title': 'Example VO list', 'dc:description': 'Images endorsed for vo.example.org',
  'dc:source': base, 'dc:date:created': iso(Date.now() - 60000), 'dc:date:expires': iso(Date.now() + 30 * day),
  'hv:version': '1', 'hv:uri': `${base}lists/example.list`, 'ad:vo': 'vo.example.org',
  'hv:endorser': { 'hv:x509': { 'dc:creator': 'Example Endorser', 'hv:ca': ca, 'hv:dn': dn, 'hv:email': 'endorser@example.org' } },
  'hv:images': [{ 'hv:image': {
    'dc:identifier': image, 'dc:title': 'Example Ubuntu', 'dc:description': 'A small example image',
    'hv:uri': `${base}images/example.qcow2`, 'hv:size': data.length, 'hv:format': 'QCOW2', 'hv:hypervisor': 'kvm',
    'hv:version': '22.04-1', 'hv:ram_minimum': '1024', 'sl:arch': 'x86_64', 'sl:os': 'Linux', 'sl:osname': 'Ubuntu',
    'sl:osversion': '22.04', 'sl:comments': '', 'ad:mpuri': `https://appdb.example.org/store/vm/image/${image}:1/`,
    'sl:checksum:sha512': require('node:crypto').createHash('sha512').update(data).digest('hex'),
  } }],
} }, null, 4));
JS
openssl smime -sign -signer "$work/pki/endorser/usercert.pem" -inkey "$work/pki/endorser/userkey.pem" \
  -in "$work/list.json" -out "$work/www/lists/example.list"
echo "published ${base}lists/example.list"

step "4. The site: trust the endorser, subscribe, update, select the image"
export VMCATCHER_RDBMS="sqlite:///$work/site/vmcatcher.db"
export VMCATCHER_DIR_CERT="$work/pki/certificates"
export VMCATCHER_CACHE_DIR_CACHE="$work/site/cache"
mkdir -p "$work/site"
vmcatcher_endorser --create --endorser_uuid example-endorser --subject "$dn" --issuer "$ca"
vmcatcher_subscribe -s "${base}lists/example.list"
vmcatcher_subscribe -U
vmcatcher_image -a -u "$image"

step "5. The connector's configuration: Glance, the VO → project mapping, the formats the site wants"
tag="vmcatcher-example-$(node -e 'console.log(crypto.randomBytes(4).toString("hex"))')"
cat >"$work/site/vmcatcher-glance.yaml" <<CFG
tag: $tag
formats: [raw]              # this site boots raw images: qcow2 is converted (qemu-img, sandboxed)
scratch_dir: $work/site/scratch
max_virtual_size: 20G
expire: delete
mapping:
  rules:
    - vo: vo.example.org
      visibility: community
CFG
export VMCATCHER_GLANCE_CONFIG="$work/site/vmcatcher-glance.yaml"
# No Keystone here: the noauth Glance takes requests as they come (OS_AUTH_TYPE=none, OS_IMAGE_URL).
export OS_AUTH_TYPE=none OS_IMAGE_URL="$TEST_GLANCE_URL"

step "6. vmcatcher_cache with vmcatcher-glance as its event command"
vmcatcher_cache --event-timeout 600 -x "node $glance_bin -v"

step "7. The image in Glance"
curl -fsS "$TEST_GLANCE_URL/v2/images?tag=$tag&visibility=all" >"$work/glance.json"
node - "$work/glance.json" "$work/disk.raw" "$image" <<'JS'
const fs = require('node:fs');
const [file, raw, image] = process.argv.slice(2);
const images = JSON.parse(fs.readFileSync(file, 'utf8')).images;
if (images.length !== 1) throw new Error(`expected one image, found ${images.length}`);
const i = images[0];
for (const k of ['id', 'name', 'status', 'disk_format', 'visibility', 'min_ram', 'min_disk', 'os_distro', 'os_version',
  'architecture', 'vmcatcher_event_dc_identifier', 'vmcatcher_event_ad_mpuri', 'vmcatcher_source_format', 'os_hash_value'])
  console.log(`${k.padEnd(30)} ${i[k]}`);
const sha = require('node:crypto').createHash('sha512').update(fs.readFileSync(raw)).digest('hex');
if (i.status !== 'active' || i.vmcatcher_event_dc_identifier !== image) throw new Error('not the active image');
if (i.os_hash_value !== sha || i.vmcatcher_converted_sha512 !== sha) throw new Error('hash mismatch');
console.log('Glance stored exactly the converted disk (sha512 checked)');
JS
node "$glance_bin" sync --dry-run
echo "work directory kept in $work"
echo "example: OK"
