#!/usr/bin/env bash
# Makes a local certificate authority and certificates signed by it, for TLS between fleetd,
# its broker, PostgreSQL and Redis on a test machine or a private network:
#   DIR/ca.crt, ca.key          the CA (10 years); trust ca.crt (mqtt.tls_ca_file, sslrootcert=,
#                               redis.tls_ca_file, a tracker's CA file)
#   DIR/server.crt, server.key  a server certificate (about 2 years) for localhost, 127.0.0.1,
#                               ::1 and every name or address in FLEETD_TLS_HOSTS
#                               (comma-separated), for the broker, PostgreSQL and Redis
#   DIR/client.crt, client.key  a client certificate (CN "fleetd"), for servers that ask for one
# Keys are ECDSA P-256, PKCS#8 PEM, mode 600. Idempotent: existing files are kept while the
# server certificate still verifies against the CA, covers the requested names and has more
# than 30 days left; otherwise everything is made anew. Needs openssl.
# Usage: scripts/tls.sh [DIR]   (default: .run/tls in this checkout). Prints DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$REPO/.run/tls}"
HOSTS="${FLEETD_TLS_HOSTS:-}"

die() { printf '[tls] ERROR: %s\n' "$*" >&2; exit 1; }
command -v openssl >/dev/null 2>&1 || die "openssl not found (Debian: apt-get install openssl)"

# subjectAltName: the fixed local names plus FLEETD_TLS_HOSTS, IPs recognised as such.
san="DNS:localhost,IP:127.0.0.1,IP:::1"
IFS=',' read -r -a extra <<<"$HOSTS"
for h in "${extra[@]}"; do
  h="${h//[[:space:]]/}"
  [ -n "$h" ] || continue
  [[ "$h" =~ ^[A-Za-z0-9.:*-]+$ ]] || die "FLEETD_TLS_HOSTS: not a host name or address: $h"
  if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then san="$san,IP:$h"; else san="$san,DNS:$h"; fi
done

# True when the files exist, chain to the CA, name every SAN entry and last 30 more days.
current() {
  local f
  for f in ca.crt ca.key server.crt server.key client.crt client.key; do
    [ -s "$DIR/$f" ] || return 1
  done
  openssl verify -CAfile "$DIR/ca.crt" "$DIR/server.crt" "$DIR/client.crt" >/dev/null 2>&1 || return 1
  openssl x509 -in "$DIR/server.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
  [ "$(cat "$DIR/server.san" 2>/dev/null)" = "$san" ]
}

if current; then
  printf '%s\n' "$DIR"
  exit 0
fi

mkdir -p "$DIR"
umask 077
tmp=$(mktemp -d "$DIR/.new.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$tmp/ca.key"
openssl req -new -x509 -key "$tmp/ca.key" -sha256 -days 3650 -subj "/CN=fleetd local CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$tmp/ca.crt" 2>/dev/null

# sign NAME CN EXTENSIONS: NAME.key and NAME.crt signed by the CA.
sign() {
  key "$tmp/$1.key"
  openssl req -new -key "$tmp/$1.key" -subj "/CN=$2" -out "$tmp/$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
    -sha256 -days 825 -extfile "$tmp/$1.ext" -out "$tmp/$1.crt" 2>/dev/null
  rm -f "$tmp/$1.csr" "$tmp/$1.ext"
}
sign server localhost "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san"
sign client fleetd "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
printf '%s\n' "$san" >"$tmp/server.san"
chmod 644 "$tmp"/*.crt
for f in ca.crt ca.key server.crt server.key client.crt client.key server.san; do
  mv -f "$tmp/$f" "$DIR/$f"
done
openssl verify -CAfile "$DIR/ca.crt" "$DIR/server.crt" "$DIR/client.crt" >/dev/null \
  || die "the new certificates do not verify"
printf '%s\n' "$DIR"
