#!/usr/bin/env bash
# The newcomer's first command (`make demo`): starts the offline test world, runs the controller
# against it, applies the samples and shows what a user looks at once they are Ready.
#
# Re-running is fine: the world is reused, the manager restarted with the current bin/manager,
# the samples re-applied. `make world-down` (hack/world.sh down) stops all of it.
#
# Ports (env overrides): DEMO_METRICS_PORT=18080 DEMO_PROBE_PORT=18081, and the WORLD_* ports of
# hack/world.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=$ROOT/bin:$PATH  # the test world's kubectl, when built
W=$ROOT/.world
METRICS_PORT=${DEMO_METRICS_PORT:-18080}
PROBE_PORT=${DEMO_PROBE_PORT:-18081}
DOMAIN=duckhoo.site
NS=default

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
say() { printf '    %s\n' "$*"; }
die() { printf '\033[1;31mdemo: %s\033[0m\n' "$*" >&2; exit 1; }
started=$SECONDS

step "Starting the test world (API server + etcd, kumo for AWS behind the test world's proxy, pebble for ACME, a DNS server)"
hack/world.sh up
# shellcheck source=/dev/null
source "$W/env"
say "KUBECONFIG=$KUBECONFIG — \`source .world/env\` to use kubectl against it yourself"

step "Building the demo's helper (hack/demotool: zones, uploads, certificate summaries)"
go build -o "$W/bin/demotool" ./hack/demotool
tool=$W/bin/demotool
[[ -x $ROOT/bin/manager ]] || { say "bin/manager missing; building it"; go build -o "$ROOT/bin/manager" .; }

step "Creating the hosted zone $DOMAIN in kumo's Route53 (in AWS you already have one)"
zone=$("$tool" create-zone "$DOMAIN")
say "zone $zone"

step "Installing the SecureSite CRD and the controller's namespace"
kubectl apply -f config/crd/bases/ | sed 's/^/    /'
# Right after creation a CRD has no status.conditions yet, and kubectl wait fails on that at once
# ("accessor error: <nil>") instead of waiting: ask again until it waits.
for _ in $(seq 20); do
  kubectl wait --for=condition=Established crd/securesites.securesite.io crd/securesiteclasses.securesite.io \
    --timeout=60s >/dev/null 2>&1 && break
  sleep 0.5
done
kubectl wait --for=condition=Established crd/securesites.securesite.io crd/securesiteclasses.securesite.io --timeout=60s >/dev/null
kubectl create namespace securesite-system --dry-run=client -o yaml | kubectl apply -f - | sed 's/^/    /'

step "Running the controller (bin/manager) on this machine, as a Deployment would run it in a cluster"
# WORLD_DIR marks the process as the world's, so `hack/world.sh down` finds and stops it.
if pid=$(cat "$W/manager.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null && grep -q "$W" "/proc/$pid/environ" 2>/dev/null; then
  say "stopping the manager of an earlier run (pid $pid) to start the current build"
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
for port in "$METRICS_PORT" "$PROBE_PORT"; do
  ! ss -Hltn "sport = :$port" | grep -q . || die "port $port is in use; set DEMO_METRICS_PORT / DEMO_PROBE_PORT"
done
WORLD_DIR=$W AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  setsid "$ROOT/bin/manager" \
  --aws-endpoint-url="$AWS_ENDPOINT_URL" --aws-region=us-east-1 \
  --acme-server="$ACME_DIRECTORY_URL" --acme-ca-bundle="$ACME_CA_BUNDLE" --acme-email="demo@$DOMAIN" \
  --dns01-nameservers="$DNS_ADDR" --dns01-skip-authoritative-check \
  --metrics-bind-address="127.0.0.1:$METRICS_PORT" --health-probe-bind-address="127.0.0.1:$PROBE_PORT" \
  --namespace=securesite-system >>"$W/manager.log" 2>&1 </dev/null &
echo $! >"$W/manager.pid"
deadline=$((SECONDS + 30))
until curl -fsS "http://127.0.0.1:$PROBE_PORT/readyz" >/dev/null 2>&1; do
  kill -0 "$(cat "$W/manager.pid")" 2>/dev/null || { tail -n 20 "$W/manager.log" >&2; die "the manager exited; log: $W/manager.log"; }
  ((SECONDS < deadline)) || { tail -n 20 "$W/manager.log" >&2; die "the manager is not ready after 30s"; }
  sleep 0.2
done
say "manager pid $(cat "$W/manager.pid"), log $W/manager.log"
say "ACME server: pebble (Let's Encrypt's test CA) — DNS-01 is validated for real through kumo's Route53"

step "Applying the samples (config/samples): the SecureSiteClass granting $DOMAIN, $DOMAIN with S3 + CloudFront, and a backend-only dev site"
kubectl apply -n "$NS" -f config/samples/securesiteclass_v1alpha1.yaml -f config/samples/securesite_v1alpha1_securesite.yaml \
  -f config/samples/securesite_v1alpha1_backend_only.yaml | sed 's/^/    /'

step "Waiting until both are Ready (records, ACME order, ACM import, bucket, distribution)"
t0=$SECONDS
for site in duckhoo duckhoo-dev; do
  if ! kubectl wait -n "$NS" --for=condition=Ready "securesite/$site" --timeout=5m >/dev/null; then
    kubectl describe -n "$NS" "securesite/$site" >&2
    tail -n 30 "$W/manager.log" >&2
    die "securesite/$site is not Ready after 5 minutes (above: its description and the manager's log tail)"
  fi
done
say "Ready in $((SECONDS - t0))s"

step "kubectl get securesites -o wide"
kubectl get securesites -n "$NS" -o wide

step "The conditions of securesite/duckhoo (Ready summarises the *Ready ones; Reconciling/Stalled follow kstatus)"
kubectl get securesite duckhoo -n "$NS" \
  -o jsonpath='{range .status.conditions[*]}{.type}{"\t"}{.status}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}' |
  awk -F'\t' '{printf "    %-18s %-6s %-22s %s\n", $1, $2, $3, $4}'
say "urls: $(kubectl get securesite duckhoo -n "$NS" -o jsonpath='{.status.urls}')"

step "The records the controller owns in Route53 (the TXT ones record who owns each name)"
"$tool" records "$DOMAIN" | sed 's/^/    /'

step "The certificate Secret (kubernetes.io/tls: tls.crt = leaf + chain, tls.key) — mount it in your server's Pod"
kubectl get secret duckhoo-tls -n "$NS"
kubectl get secret duckhoo-tls -n "$NS" -o jsonpath='{.data.tls\.crt}' | "$tool" cert-summary -roots "$ACME_ISSUER_ROOT"
say "dev site (selfSigned issuer, same Secret shape):"
kubectl get secret duckhoo-dev-tls -n "$NS" -o jsonpath='{.data.tls\.crt}' | "$tool" cert-summary | grep -E 'DNS names|issuer|valid'

step "The CloudFront distribution, serving the S3 bucket through kumo's edge"
dist_id=$(kubectl get securesite duckhoo -n "$NS" -o jsonpath='{.status.distribution.id}')
dist_domain=$(kubectl get securesite duckhoo -n "$NS" -o jsonpath='{.status.distribution.domainName}')
bucket=$(kubectl get securesite duckhoo -n "$NS" -o jsonpath='{.status.bucket.name}')
say "distribution $dist_id ($dist_domain), origin bucket $bucket"
page=$(mktemp --suffix=.html)
trap 'rm -f "$page"' EXIT
printf '<!doctype html><title>duckhoo</title><h1>Hello from %s, served by CloudFront over HTTPS</h1>\n' "$DOMAIN" >"$page"
"$tool" put-object "$bucket" index.html "$page"
say "uploaded index.html to s3://$bucket (in AWS: aws s3 sync build/ s3://$bucket)"
say "GET $KUMO_URL/kumo/cdn/$dist_id/index.html  (kumo's stand-in for https://$DOMAIN/):"
curl -fsS "$KUMO_URL/kumo/cdn/$dist_id/index.html" | sed 's/^/    /'

step "Metrics (curl http://127.0.0.1:$METRICS_PORT/metrics | grep ^securesite_)"
curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" | grep '^securesite_' | grep -v '^securesite_condition.* 0$' | sed 's/^/    /'

step "Done in $((SECONDS - started))s. Try next:"
cat <<EOF
    source .world/env                      # then kubectl works against the demo cluster
    kubectl get securesites -w             # watch while you edit a sample
    kubectl edit securesite duckhoo        # e.g. add a name to certificate.additionalDNSNames
    tail -f .world/manager.log             # the controller's log
    kubectl delete securesite duckhoo      # records and distribution go; the bucket stays (Retain)
    make world-down                        # stop the manager and the whole test world
EOF
