#!/usr/bin/env bash
# The marketplace on one machine: a throwaway CA and endorser certificate (openssl), a few signed image lists,
# `vmmarketplace serve` on a free loopback port, `vmmarketplace validate` and `upload` of each list; then it
# prints the URL to open and keeps serving until Ctrl-C.
#   MARKETPLACE_DIR         where its files go (default: a new temp dir, kept for you to look at)
#   MARKETPLACE_PKI         use this PKI (made by scripts/make-test-pki.sh) instead of a new one
#   MARKETPLACE_EXIT=1      stop after publishing instead of serving on (for tests and scripts)
#   MARKETPLACE_SKIP_SETUP=1  skip scripts/setup.sh and the build
# Further signed lists given as arguments are uploaded too: bash examples/marketplace/run.sh LIST.smime…
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -z "${MARKETPLACE_SKIP_SETUP:-}" ]; then
  step "0. Set up: Debian packages, pnpm, dependencies, build"
  bash "$root/scripts/setup.sh" >/dev/null
  (cd "$root" && pnpm -s build >/dev/null)
fi

work=${MARKETPLACE_DIR:-$(mktemp -d -t hepix-marketplace.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true' EXIT

bin="$root/packages/marketplace/dist/bin/vmmarketplace.js"
vmmarketplace() { node "$bin" "$@"; }

pki=${MARKETPLACE_PKI:-}
if [ -z "$pki" ]; then
  step "1. A throwaway grid CA, its CRL and trust directory, and an endorser certificate"
  pki="$work/pki"
  bash "$root/scripts/make-test-pki.sh" "$pki" >/dev/null
else
  step "1. The PKI of $pki"
fi
dn=$(openssl x509 -in "$pki/endorser/usercert.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
ca=$(openssl x509 -in "$pki/endorser/usercert.pem" -noout -issuer -nameopt compat | sed 's/^issuer=//')
echo "endorser $dn, issued by $ca"

step "2. Image lists, signed with openssl smime (as vmcaster signs them)"
mkdir -p "$work/lists"
names=$(node "$here/make-lists.mjs" "$work/lists" "$dn" "$ca")
lists=()
for name in $names; do
  openssl smime -sign -signer "$pki/endorser/usercert.pem" -inkey "$pki/endorser/userkey.pem" \
    -in "$work/lists/$name.json" -out "$work/lists/$name.smime"
  lists+=("$work/lists/$name.smime")
  echo "signed $work/lists/$name.smime"
done
lists+=("$@")

step "3. vmmarketplace validate: each list, offline, against the trust directory"
for f in "${lists[@]}"; do vmmarketplace validate "$f" --cert-dir "$pki/certificates"; done
vmmarketplace validate "$work/lists/base-images.json" --cert-dir "$pki/certificates" || echo "(exit $?: an unsigned list is refused)"

step "4. vmmarketplace serve on a free loopback port (SQLite)"
rm -f "$work/serve.out"
# node itself in the background (not the shell function), so that $! is the server and the trap stops it.
node "$bin" serve --listen 127.0.0.1:0 --db "sqlite:///$work/marketplace.db" --cert-dir "$pki/certificates" \
  >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
url=
for _ in $(seq 300); do
  url=$(sed -n 's/^vmmarketplace: listening on //p' "$work/serve.out" 2>/dev/null)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "the marketplace did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "serving on $url (log: $work/serve.log)"

step "5. vmmarketplace upload: publish the lists"
for f in "${lists[@]}"; do vmmarketplace upload "$f" --url "$url"; done

step "What is there"
node -e '
const url = process.argv[1];
const r = await (await fetch(`${url}/api/images?status=all`)).json();
for (const i of r.items) console.log(`${i.status.padEnd(10)} ${i.title}  (${i.os} ${i.osversion}, ${i.endorser.email})`);
console.log(`${r.total} images; subscribe to a list with vmcatcher_subscribe -s ${url}/lists/<list id>.smime`);
' "$url"
echo "work directory kept in $work"
echo "Open $url/ in a browser"
if [ -z "${MARKETPLACE_EXIT:-}" ]; then
  echo "(Ctrl-C stops the marketplace)"
  wait "$server_pid"
fi
