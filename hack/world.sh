#!/usr/bin/env bash
# Runs the offline test world on loopback ports, for people and for the demo:
# etcd + kube-apiserver, kumo (AWS) behind the test world's normalising proxy (hack/awsproxy), the
# test-world DNS server (answers from kumo's Route53) and pebble (ACME CA validating DNS-01 through
# that DNS server).
#
# usage: hack/world.sh up|down|status
#   up      start what is not running (idempotent); writes .world/kubeconfig and .world/env
#   down    stop everything started by `up`, and the manager hack/demo.sh started (.world/manager.pid);
#           the cluster's etcd data goes too (kumo and pebble keep their state in memory, so a
#           cluster kept across `down` would point at nothing)
#   status  show what runs where
#
# After `up`:  source .world/env   (KUBECONFIG, AWS_ENDPOINT_URL, ACME_DIRECTORY_URL, …)
# Ports (env overrides): WORLD_APISERVER_PORT=16443 WORLD_ETCD_PORT=12379 WORLD_ETCD_PEER_PORT=12380
#   WORLD_KUMO_PORT=14566 WORLD_AWS_PORT=14567 WORLD_DNS_PORT=15353 WORLD_PEBBLE_PORT=14000 WORLD_PEBBLE_MGMT_PORT=15000
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${SECURESITE_BIN:-$ROOT/bin}
export PATH=$BIN:$PATH  # the test world's kubectl, when built
W=$ROOT/.world

APISERVER_PORT=${WORLD_APISERVER_PORT:-16443}
ETCD_PORT=${WORLD_ETCD_PORT:-12379}
ETCD_PEER_PORT=${WORLD_ETCD_PEER_PORT:-12380}
KUMO_PORT=${WORLD_KUMO_PORT:-14566}
AWS_PORT=${WORLD_AWS_PORT:-14567}
DNS_PORT=${WORLD_DNS_PORT:-15353}
PEBBLE_PORT=${WORLD_PEBBLE_PORT:-14000}
PEBBLE_MGMT_PORT=${WORLD_PEBBLE_MGMT_PORT:-15000}

COMPONENTS=(etcd kube-apiserver kumo awsproxy dns pebble)

log() { printf '[world] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

pid_of() { cat "$W/$1.pid" 2>/dev/null || true; }

# running NAME: the recorded pid is alive and is still our process (pids get reused).
running() {
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && grep -q "$W" "/proc/$pid/environ" 2>/dev/null
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q . && ! ss -Hlun "sport = :$1" | grep -q .; }

need_port() {
  port_free "$1" || die "port $1 ($2) is in use; set ${3}=<free port> or stop what uses it (ss -ltnp 'sport = :$1')"
}

need_bin() {
  [[ -x $BIN/$1 ]] || die "$BIN/$1 missing: run \`make test-world\` (hack/build-world.sh) first"
}

# start NAME CMD...: runs CMD detached with its log in .world/NAME.log. WORLD_DIR in its environment
# marks it as ours for `running` and `down`.
start() {
  local name=$1; shift
  WORLD_DIR=$W setsid "$@" >>"$W/$name.log" 2>&1 </dev/null &
  echo $! >"$W/$name.pid"
}

# wait_for NAME SECONDS CMD...: polls CMD until it succeeds, failing with the log tail if NAME dies.
wait_for() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      tail -n 20 "$W/$name.log" >&2 || true
      die "$name exited; log: $W/$name.log"
    fi
    ((SECONDS < deadline)) || { tail -n 20 "$W/$name.log" >&2; die "$name not ready after ${secs}s; log: $W/$name.log"; }
    sleep 0.2
  done
}

# pki makes a CA, the API server's serving certificate, an admin client certificate
# (O=system:masters) and the service-account key pair, once.
pki() {
  local d=$W/pki
  [[ -f $d/admin.crt ]] && return 0
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 -subj /CN=world-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 365 \
      -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth') 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=world-admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 365 \
      -extfile <(printf 'extendedKeyUsage=clientAuth') 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr
    chmod 600 ./*.key
  )
}

up_etcd() {
  running etcd && return 0
  need_bin etcd
  need_port "$ETCD_PORT" etcd WORLD_ETCD_PORT
  need_port "$ETCD_PEER_PORT" "etcd peer" WORLD_ETCD_PEER_PORT
  start etcd "$BIN/etcd" --name world --data-dir "$W/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "world=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync
  wait_for etcd 20 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
  log "etcd on 127.0.0.1:$ETCD_PORT"
}

# The flags are envtest's (controller-runtime pkg/internal/testing/controlplane/apiserver.go), plus
# what a hand-started server needs offline: a fixed advertise address and no endpoint reconciler.
up_apiserver() {
  running kube-apiserver && return 0
  need_bin kube-apiserver
  need_port "$APISERVER_PORT" kube-apiserver WORLD_APISERVER_PORT
  pki
  local p=$W/pki
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --advertise-address 127.0.0.1 --endpoint-reconciler-type none \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" --authorization-mode RBAC \
    --service-account-issuer "https://127.0.0.1:$APISERVER_PORT/" \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --allow-privileged \
    --disable-admission-plugins ServiceAccount
  wait_for kube-apiserver 60 curl -fsS --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"
  local kc=$W/kubeconfig
  rm -f "$kc"
  kubectl --kubeconfig "$kc" config set-cluster world --server "https://127.0.0.1:$APISERVER_PORT" \
    --certificate-authority "$p/ca.crt" --embed-certs >/dev/null
  kubectl --kubeconfig "$kc" config set-credentials world-admin --client-certificate "$p/admin.crt" \
    --client-key "$p/admin.key" --embed-certs >/dev/null
  kubectl --kubeconfig "$kc" config set-context world --cluster world --user world-admin --namespace default >/dev/null
  kubectl --kubeconfig "$kc" config use-context world >/dev/null
  chmod 600 "$kc"
  log "kube-apiserver on https://127.0.0.1:$APISERVER_PORT (kubeconfig: $kc)"
}

up_kumo() {
  running kumo && return 0
  need_bin kumo
  need_port "$KUMO_PORT" kumo WORLD_KUMO_PORT
  # A proxy left from an earlier kumo holds what it answered for that one (ACM tags).
  stop_one awsproxy
  KUMO_HOST=127.0.0.1 KUMO_PORT=$KUMO_PORT start kumo "$BIN/kumo" serve
  wait_for kumo 15 curl -fsS "http://127.0.0.1:$KUMO_PORT/health"
  log "kumo on http://127.0.0.1:$KUMO_PORT"
}

# The test world's normalising proxy (internal/testworld/normalizer) in front of kumo: every AWS
# client (the controller, the demo's helper) goes through it, as in the tests, so the controller
# meets the AWS API and not kumo's gaps (no ACM tag operations, for one).
up_awsproxy() {
  running awsproxy && return 0
  need_port "$AWS_PORT" "aws proxy" WORLD_AWS_PORT
  mkdir -p "$W/bin"
  go build -o "$W/bin/awsproxy" ./hack/awsproxy
  start awsproxy "$W/bin/awsproxy" -emulator kumo -target "http://127.0.0.1:$KUMO_PORT" -addr "127.0.0.1:$AWS_PORT"
  wait_for awsproxy 10 curl -fsS "http://127.0.0.1:$AWS_PORT/health"
  log "aws proxy on http://127.0.0.1:$AWS_PORT (AWS_ENDPOINT_URL), in front of kumo"
}

up_dns() {
  running dns && return 0
  need_port "$DNS_PORT" "dns server" WORLD_DNS_PORT
  mkdir -p "$W/bin"
  # Built from this checkout every time (seconds when cached), so it never runs stale code.
  go build -o "$W/bin/dnsserver" ./hack/dnsserver
  start dns "$W/bin/dnsserver" -kumo "http://127.0.0.1:$KUMO_PORT" -addr "127.0.0.1:$DNS_PORT"
  wait_for dns 10 grep -q "dns server on" "$W/dns.log"
  log "dns server on 127.0.0.1:$DNS_PORT (udp+tcp)"
}

# Pebble's TLS certificate for its own listeners ships in its module source (test/certs); copied,
# not committed.
up_pebble() {
  running pebble && return 0
  need_bin pebble
  need_port "$PEBBLE_PORT" pebble WORLD_PEBBLE_PORT
  need_port "$PEBBLE_MGMT_PORT" "pebble management" WORLD_PEBBLE_MGMT_PORT
  local version src d=$W/pebble
  version=$(cat "$BIN/.pebble.version" 2>/dev/null || sed -n 's/^PEBBLE_VERSION=//p' hack/versions.env)
  src=$(go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@$version
  if [[ ! -d $src/test/certs ]]; then
    src=$(cd /tmp && GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/letsencrypt/pebble/v2@$version" |
      sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  fi
  mkdir -p "$d"
  install -m 600 "$src/test/certs/localhost/cert.pem" "$d/localhost.pem"
  install -m 600 "$src/test/certs/localhost/key.pem" "$d/localhost.key"
  install -m 644 "$src/test/certs/pebble.minica.pem" "$d/pebble.minica.pem"
  cat >"$d/config.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:$PEBBLE_PORT",
  "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT_PORT",
  "certificate": "$d/localhost.pem", "privateKey": "$d/localhost.key",
  "httpPort": 5002, "tlsPort": 5001, "keyAlgorithm": "ecdsa",
  "retryAfter": {"authz": 1, "order": 1},
  "profiles": {"default": {"description": "test world default"}}
}}
JSON
  PEBBLE_VA_NOSLEEP=1 PEBBLE_VA_ALWAYS_VALID=0 PEBBLE_WFE_NONCEREJECT=0 \
    start pebble "$BIN/pebble" -config "$d/config.json" -dnsserver "127.0.0.1:$DNS_PORT"
  wait_for pebble 15 curl -fsS --cacert "$d/pebble.minica.pem" "https://127.0.0.1:$PEBBLE_PORT/dir"
  # The issuing root is generated at each pebble start; save it for verifying issued certificates.
  curl -fsS --cacert "$d/pebble.minica.pem" "https://127.0.0.1:$PEBBLE_MGMT_PORT/roots/0" >"$d/issuer-root.pem"
  log "pebble on https://127.0.0.1:$PEBBLE_PORT/dir"
}

write_env() {
  cat >"$W/env" <<ENV
# Written by hack/world.sh up; \`source .world/env\`.
export KUBECONFIG=$W/kubeconfig
export KUMO_URL=http://127.0.0.1:$KUMO_PORT
export AWS_ENDPOINT_URL=http://127.0.0.1:$AWS_PORT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export ACME_DIRECTORY_URL=https://127.0.0.1:$PEBBLE_PORT/dir
export ACME_CA_BUNDLE=$W/pebble/pebble.minica.pem
export LEGO_CA_CERTIFICATES=$W/pebble/pebble.minica.pem
export ACME_ISSUER_ROOT=$W/pebble/issuer-root.pem
export PEBBLE_MANAGEMENT_URL=https://127.0.0.1:$PEBBLE_MGMT_PORT
export DNS_ADDR=127.0.0.1:$DNS_PORT
ENV
}

stop_one() {
  local name=$1 pid
  pid=$(pid_of "$name")
  if running "$name"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$W/$name.pid"
}

# preflight checks every port before anything starts, so a busy port does not leave half a world.
preflight() {
  running etcd || { need_port "$ETCD_PORT" etcd WORLD_ETCD_PORT; need_port "$ETCD_PEER_PORT" "etcd peer" WORLD_ETCD_PEER_PORT; }
  running kube-apiserver || need_port "$APISERVER_PORT" kube-apiserver WORLD_APISERVER_PORT
  running kumo || need_port "$KUMO_PORT" kumo WORLD_KUMO_PORT
  running awsproxy || need_port "$AWS_PORT" "aws proxy" WORLD_AWS_PORT
  running dns || need_port "$DNS_PORT" "dns server" WORLD_DNS_PORT
  running pebble || { need_port "$PEBBLE_PORT" pebble WORLD_PEBBLE_PORT; need_port "$PEBBLE_MGMT_PORT" "pebble management" WORLD_PEBBLE_MGMT_PORT; }
  local b
  for b in etcd kube-apiserver kumo pebble; do need_bin "$b"; done
}

cmd_up() {
  mkdir -p "$W"
  preflight
  up_etcd
  up_apiserver
  up_kumo
  up_awsproxy
  up_dns
  up_pebble
  write_env
  log "world is up; \`source .world/env\`; \`hack/world.sh down\` stops it"
}

cmd_down() {
  local i
  # The demo's manager first: it would otherwise log errors against a world going away.
  stop_one manager
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_one "${COMPONENTS[i]}"; done
  rm -rf "$W/etcd-data" "$W/env" "$W/kubeconfig"
}

cmd_status() {
  local name rc=0
  for name in "${COMPONENTS[@]}"; do
    if running "$name"; then
      printf '%-15s running  pid %s\n' "$name" "$(pid_of "$name")"
    else
      printf '%-15s stopped\n' "$name"
      rc=3
    fi
  done
  running manager && printf '%-15s running  pid %s (hack/demo.sh)\n' manager "$(pid_of manager)"
  [[ -f $W/env ]] && sed -n 's/^export //p' "$W/env"
  return $rc
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
