#!/usr/bin/env bash
# Makes a throwaway grid-style PKI with the openssl CLI, for tests and examples:
#   OUT/ca/            root CA key and certificate, CRL (ca.crl.pem), openssl CA database
#   OUT/certificates/  an IGTF-style trust directory: <hash>.0, <hash>.r0, <hash>.namespaces, <hash>.signing_policy
#   OUT/endorser/      usercert.pem, userkey.pem (no passphrase), userkey-enc.pem (passphrase in passphrase.txt)
#   OUT/server/        cert.pem and key.pem for https on 127.0.0.1 / localhost
# Usage: make-test-pki.sh OUT [ENDORSER_CN]
set -euo pipefail
out=${1:?usage: make-test-pki.sh OUT [ENDORSER_CN]}
cn=${2:-Owen Synge}
mkdir -p "$out"/{ca,certificates,endorser,server}
out=$(cd "$out" && pwd)
ca="$out/ca"
days=36500

: >"$ca/index.txt"
echo 1000 >"$ca/serial"
echo 1000 >"$ca/crlnumber"
cat >"$ca/openssl.cnf" <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $ca
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_days = $days
default_crl_days = $days
policy = policy_any
unique_subject = no
copy_extensions = copy
preserve = yes
[ policy_any ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_endorser ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment
extendedKeyUsage = emailProtection, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_server ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
cnf="$ca/openssl.cnf"
q() { "$@" >/dev/null 2>&1 || { echo "make-test-pki: failed: $*" >&2; "$@"; exit 1; }; }

q openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$ca/ca.key" -out "$ca/ca.pem" -days $days \
  -subj "/C=DE/O=GermanGrid/CN=HEPiX Test CA" -config "$cnf" -extensions v3_ca -set_serial 1

issue() { # name subj ext dir keyfile certfile
  q openssl req -new -newkey rsa:2048 -nodes -keyout "$4/$5" -out "$4/req.csr" -subj "$2" -config "$cnf"
  q openssl ca -batch -config "$cnf" -extensions "$3" -in "$4/req.csr" -out "$4/$6" -notext
  rm -f "$4/req.csr"
}
issue endorser "/C=DE/O=GermanGrid/OU=DESY/CN=$cn" v3_endorser "$out/endorser" userkey.pem usercert.pem
issue server "/C=DE/O=GermanGrid/CN=localhost" v3_server "$out/server" key.pem cert.pem
echo "test-passphrase" >"$out/endorser/passphrase.txt"
q openssl pkey -in "$out/endorser/userkey.pem" -aes256 -passout file:"$out/endorser/passphrase.txt" -out "$out/endorser/userkey-enc.pem"
chmod 600 "$out"/endorser/userkey*.pem "$out/server/key.pem" "$ca/ca.key"

q openssl ca -batch -config "$cnf" -gencrl -out "$ca/ca.crl.pem"
hash=$(openssl x509 -in "$ca/ca.pem" -noout -hash)
cp "$ca/ca.pem" "$out/certificates/$hash.0"
cp "$ca/ca.crl.pem" "$out/certificates/$hash.r0"
cat >"$out/certificates/$hash.namespaces" <<NS
TO Issuer "/C=DE/O=GermanGrid/CN=HEPiX Test CA" \\
  PERMIT Subject "/C=DE/O=GermanGrid/.*"
NS
cat >"$out/certificates/$hash.signing_policy" <<SP
access_id_CA      X509         '/C=DE/O=GermanGrid/CN=HEPiX Test CA'
pos_rights        globus        CA:sign
cond_subjects     globus       '"/C=DE/O=GermanGrid/*"'
SP
echo "$out"
