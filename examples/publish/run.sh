#!/usr/bin/env bash
# Publishes a signed HEPiX image list with one image to a local directory served over HTTP, then fetches it
# and verifies it with openssl, the way a subscriber would. Everything lives in a temp dir removed at exit.
# Needs: node >= 20.19, openssl, curl, and a build of the repository (`pnpm build`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cli="$root/packages/vmcaster-cli/dist/cli.js"
[ -f "$cli" ] || { echo "build first: (cd $root && pnpm build)" >&2; exit 1; }

work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "== 1. A throwaway CA and an endorser certificate (openssl)"
mkdir -p "$work/ca" "$work/trust" "$work/home/.globus"
cat >"$work/ca/ext.cnf" <<'CNF'
[ ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
[ endorser ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = emailProtection
CNF
openssl req -x509 -new -newkey rsa:2048 -nodes -days 30 -subj "/C=DE/O=Example/CN=Example CA" \
  -keyout "$work/ca/ca.key" -out "$work/ca/ca.pem" -addext "basicConstraints=critical,CA:true" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -subj "/C=DE/O=Example/CN=Jane Endorser" \
  -keyout "$work/home/.globus/userkey.pem" -out "$work/ca/endorser.csr" 2>/dev/null
openssl x509 -req -in "$work/ca/endorser.csr" -CA "$work/ca/ca.pem" -CAkey "$work/ca/ca.key" -set_serial 2 \
  -days 30 -extfile "$work/ca/ext.cnf" -extensions endorser -out "$work/home/.globus/usercert.pem" 2>/dev/null
# An empty CRL, so the list also verifies with -crl_check.
: >"$work/ca/index.txt"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s\ndefault_md=sha256\ndefault_crl_days=30\n' "$work/ca/index.txt" >"$work/ca/crl.cnf"
openssl ca -gencrl -config "$work/ca/crl.cnf" -keyfile "$work/ca/ca.key" -cert "$work/ca/ca.pem" -out "$work/ca/ca.crl" 2>/dev/null
hash=$(openssl x509 -in "$work/ca/ca.pem" -noout -hash)
cp "$work/ca/ca.pem" "$work/trust/$hash.0"
cp "$work/ca/ca.crl" "$work/trust/$hash.r0"

echo "== 2. A web server for the published files"
mkdir -p "$work/www"
node "$here/../serve.mjs" "$work/www" "$work/server.url" 2>/dev/null &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/server.url" ] && break; sleep 0.1; done
base="$(cat "$work/server.url")/"

echo "== 3. vmcaster configuration: uploads for $base go to $work/www/"
cat >"$work/home/.vmcaster.cfg" <<CFG
[example]
server = "127.0.0.1"
protocol = "local"
uriMatch = "$base"
uriReplace = "$work/www/"
CFG

export HOME="$work/home"
cd "$HOME"
vmcaster() { node "$cli" "$@"; }
dn="/C=DE/O=Example/CN=Jane Endorser"
list=$(node -e "console.log(crypto.randomUUID())")
image=$(node -e "console.log(crypto.randomUUID())")

echo "== 4. Endorser, list, image (the seed README's commands)"
vmcaster --add-endorser "$dn"
vmcaster --select-endorser "$dn" --endorser-key-set hv:email --endorser-value jane@example.org
vmcaster --select-endorser "$dn" --endorser-key-set dc:creator --endorser-value "Jane Endorser"
vmcaster --select-endorser "$dn" --endorser-key-set hv:ca --endorser-value "/C=DE/O=Example/CN=Example CA"
vmcaster --imagelist-add "$list"
vmcaster --select-imagelist "$list" --key-set-imagelist dc:title --key-value-imagelist "Example list"
vmcaster --select-imagelist "$list" --key-set-imagelist dc:description --key-value-imagelist "An example image list"
vmcaster --select-imagelist "$list" --key-set-imagelist hv:uri --key-value-imagelist "${base}lists/example.smime"
vmcaster --imagelist-add-endorser --select-endorser "$dn" --select-imagelist "$list"
vmcaster image add "$image"
vmcaster imagelist bind-image "$list" "$image"
for kv in "dc:title=Example VM" "dc:description=A tiny example image" "sl:arch=x86_64" "sl:os=Linux" \
  "sl:osversion=1.0" "sl:comments=none" "hv:hypervisor=kvm" "hv:format=raw.gz" "hv:uri=${base}images/example.raw.gz"; do
  vmcaster image set "$image" "${kv%%=*}" "${kv#*=}" >/dev/null
done

echo "== 5. Upload the image (compressed to gzip on the way), then sign and publish the list"
head -c 4194304 /dev/urandom >"$work/example.raw"
vmcaster --upload-image "$work/example.raw" --select-image "$image"
vmcaster --select-imagelist "$list" --upload-imagelist

echo "== 6. Fetch it over HTTP and verify it with openssl"
curl -fsS "${base}lists/example.smime" -o "$work/fetched.smime"
openssl smime -verify -CApath "$work/trust" -crl_check -in "$work/fetched.smime" -out "$work/list.json"
node -e '
const l = require(process.argv[1])["hv:imagelist"];
const i = l["hv:images"][0]["hv:image"];
console.log(`list ${l["dc:identifier"]} version ${l["hv:version"]}, expires ${l["dc:date:expires"]}`);
console.log(`image ${i["dc:identifier"]} ${i["hv:uri"]} size ${i["hv:size"]}`);
' "$work/list.json"
curl -fsS "$(node -e 'console.log(require(process.argv[1])["hv:imagelist"]["hv:images"][0]["hv:image"]["hv:uri"])' "$work/list.json")" -o "$work/image.gz"
want=$(node -e 'console.log(require(process.argv[1])["hv:imagelist"]["hv:images"][0]["hv:image"]["sl:checksum:sha512"])' "$work/list.json")
got=$(sha512sum "$work/image.gz" | cut -d" " -f1)
[ "$want" = "$got" ] && echo "image checksum OK" || { echo "image checksum MISMATCH" >&2; exit 1; }
echo "example: OK"
