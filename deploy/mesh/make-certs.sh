#!/bin/sh
# Makes a throw-away mesh CA and one certificate per service (frontend, backend; each serves and is a
# client), and prints the Secrets frontend-tls and backend-tls as YAML on stdout:
#
#   ./make-certs.sh [NAMESPACE] | kubectl apply -n NAMESPACE -f -
#
# Each Secret holds ca.crt, tls.crt and tls.key, mounted at /etc/pillion/tls by deploy/mesh/*.yaml.
# For anything real, issue these from your own CA (cert-manager, for example) under the same keys.
set -eu
ns=${1:-pillion}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
days=365

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=pillion mesh CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null

for svc in frontend backend; do
  cat >"$dir/$svc.ext" <<EXT
subjectAltName = DNS:$svc, DNS:$svc.$ns, DNS:$svc.$ns.svc, DNS:$svc.$ns.svc.cluster.local
extendedKeyUsage = serverAuth, clientAuth
basicConstraints = CA:FALSE
EXT
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$svc" \
    -keyout "$dir/$svc.key" -out "$dir/$svc.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$svc.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days "$days" -extfile "$dir/$svc.ext" -out "$dir/$svc.crt" 2>/dev/null
  b64() { base64 <"$1" | tr -d '\n'; }
  cat <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: $svc-tls
  namespace: $ns
type: Opaque
data:
  ca.crt: $(b64 "$dir/ca.crt")
  tls.crt: $(b64 "$dir/$svc.crt")
  tls.key: $(b64 "$dir/$svc.key")
YAML
done
