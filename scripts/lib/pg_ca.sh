# pg_ca_bundle OWN_CA OUT ADMIN_URL: writes to OUT the CA certificates to trust for the machine's
# PostgreSQL with sslmode=verify-full: OWN_CA (this checkout's, scripts/tls.sh) and the CA that
# signed the certificate the server presents now. The server is shared: another checkout's
# scripts/services.sh may have given it a certificate from that checkout's CA, which it installs
# as ca.crt next to the server certificate. Host name and chain are checked either way. Sourced
# by the benchmark scripts; defines functions only.
pg_ca_bundle() {
  local own=$1 out=$2 admin_url=$3 dir
  dir=$(dirname "$(psql -qtAX "$admin_url" -c 'show ssl_cert_file')")
  { cat "$own"; cat "$dir/ca.crt" 2>/dev/null || true; } >"$out"
}
