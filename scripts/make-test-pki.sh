#!/usr/bin/env bash
# Makes a throwaway grid-style PKI with the openssl CLI, for shell scripts, examples and benchmarks. The one
# generator is @hepix/test-support (tests import it directly); this runs its built CLI, building it first when
# it is missing or older than its sources.
#   OUT/ca/            root CA: ca.pem, ca.key, ca.crl.pem, the openssl ca database (openssl.cnf, index.txt, …)
#   OUT/certificates/  IGTF-style trust directory: ca.pem, <hash>.0 (openssl rehash link), <hash>.r0,
#                      <hash>.namespaces, <hash>.signing_policy
#   OUT/endorser/      usercert.pem, userkey.pem (no passphrase), userkey-enc.pem (passphrase in passphrase.txt)
#   OUT/server/        cert.pem and key.pem for https on 127.0.0.1 / localhost
# Usage: make-test-pki.sh OUT [ENDORSER_CN]    (prints OUT)
set -euo pipefail
: "${1:?usage: make-test-pki.sh OUT [ENDORSER_CN]}"
root=$(cd "$(dirname "$0")/.." && pwd)
pkg=$root/packages/test-support
cli=$pkg/dist/cli.js
if [ ! -f "$cli" ] || [ -n "$(find "$pkg/src" -name '*.ts' -newer "$cli" -print -quit)" ]; then
  (cd "$pkg" && "$root/node_modules/.bin/tsup" >/dev/null)
fi
exec node "$cli" grid "$@"
