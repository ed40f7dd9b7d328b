#!/usr/bin/env bash
# Records the metrics of a real demo run for the dashboard picture (docs/dashboard.png):
# scrapes the manager's /metrics every 5 s while `make demo` runs (world, manager, the samples),
# then adds six more ACME sites and one whose backend record another site owns (a RecordConflict
# the "not Ready" panels show), changes one owned record by hand (drift, repaired by the drift
# check), deletes two sites, and stops a minute later.
# Then: go run . -scrapes <dir> (this directory's tool) renders the panels and screenshots them.
#
# usage: hack/dashboard-shot/record.sh [scrape dir]    (default .world/scrapes; `make world-down` after)
# Ports are shifted from the demo's defaults, so a demo someone else runs on this machine is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-.world/scrapes}
export DEMO_METRICS_PORT=${DEMO_METRICS_PORT:-28080} DEMO_PROBE_PORT=${DEMO_PROBE_PORT:-28081}
export WORLD_APISERVER_PORT=${WORLD_APISERVER_PORT:-26443} WORLD_ETCD_PORT=${WORLD_ETCD_PORT:-22379} \
  WORLD_ETCD_PEER_PORT=${WORLD_ETCD_PEER_PORT:-22380} WORLD_KUMO_PORT=${WORLD_KUMO_PORT:-24566} \
  WORLD_DNS_PORT=${WORLD_DNS_PORT:-25353} WORLD_PEBBLE_PORT=${WORLD_PEBBLE_PORT:-24000} \
  WORLD_PEBBLE_MGMT_PORT=${WORLD_PEBBLE_MGMT_PORT:-25000}
rm -rf "$out"
mkdir -p "$out"

scrape() {
  while true; do
    local t
    t=$(date +%s%3N)
    curl -fsS --max-time 4 "http://127.0.0.1:$DEMO_METRICS_PORT/metrics" >"$out/$t.tmp" 2>/dev/null && mv "$out/$t.tmp" "$out/$t.prom"
    rm -f "$out/$t.tmp"
    sleep 5
  done
}
scrape &
scraper=$!
trap 'kill $scraper 2>/dev/null || true' EXIT

make demo
# shellcheck source=/dev/null
source .world/env
for i in 1 2 3 4 5 6; do
  cat <<YAML
apiVersion: securesite.io/v1alpha1
kind: SecureSite
metadata: {name: app$i}
spec:
  domain: app$i.duckhoo.site
  backend: {hostname: api.app$i.duckhoo.site, address: 198.51.100.$((30 + i))}
  certificate: {issuer: acme}
---
YAML
done >"$out/more-sites.yaml"
cat >>"$out/more-sites.yaml" <<'YAML'
# infra.duckhoo.site is the sample duckhoo's backend: this site reports RecordConflict, writes nothing.
apiVersion: securesite.io/v1alpha1
kind: SecureSite
metadata: {name: squatter}
spec:
  domain: squat.duckhoo.site
  backend: {hostname: infra.duckhoo.site, address: 192.0.2.66}
  certificate: {issuer: selfSigned}
YAML
kubectl apply -n default -f "$out/more-sites.yaml"
for i in 1 2 3 4 5 6; do kubectl wait -n default --for=condition=Ready "securesite/app$i" --timeout=5m >/dev/null; done
echo "six more sites Ready"
sleep 45
# A hand edit in "the console": the drift check (every minute by default) finds it and the record
# is put back.
go run ./hack/demotool set-record duckhoo.site api.app1.duckhoo.site A 192.0.2.99
echo "changed api.app1.duckhoo.site by hand; waiting for the drift check"
sleep 75
go run ./hack/demotool records duckhoo.site | grep 'api.app1.duckhoo.site' || true
kubectl delete -n default securesite app5 app6 --wait --timeout=3m
sleep 60
kill $scraper
echo "$(ls "$out"/*.prom | wc -l) scrapes in $out; render: (cd hack/dashboard-shot && go run . -scrapes ../../$out)"
