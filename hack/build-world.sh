#!/usr/bin/env bash
# Builds the offline test world from the Go module proxy into bin/:
#   kube-apiserver, kubectl, etcd, kumo (AWS emulator), pebble (ACME CA), controller-gen, and
#   helm (v3, what Argo CD embeds) and helm4 (v4), which lint, render and package the chart.
# Each tool is built once per version into a cache outside the clone
# (${SECURESITE_CACHE:-~/.cache/securesite}/world/<tool>-<version>/) and copied into bin/,
# so a fresh clone on the same machine does not rebuild. Cold build on 2 cores: ~18 min
# (kube-apiserver ~11, kumo ~5, kubectl ~3, etcd ~1, controller-gen ~1, pebble <1), plus helm and
# helm4 (13-14 min each measured while the rest was building on the same cores).
#
# usage: hack/build-world.sh [tool ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=versions.env
source hack/versions.env
CACHE=${SECURESITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/securesite}/world
BIN=$ROOT/bin
mkdir -p "$CACHE" "$BIN"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[world %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# with_progress prints a line every 30s while a long build runs, so nobody thinks it hangs.
with_progress() {
  local what=$1 expect=$2; shift 2
  local start=$SECONDS
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if (( (SECONDS - start) % 30 < 5 )) && kill -0 "$pid" 2>/dev/null; then
      log "$what: still building ($((SECONDS - start))s elapsed, ~$expect expected cold)"
    fi
  done
  wait "$pid"
}

# install_tool NAME VERSION BUILD_FN: copies the cached binary into bin/, building it first if needed.
install_tool() {
  local name=$1 version=$2 fn=$3
  local dir=$CACHE/$name-$version
  if [[ -x $BIN/$name && -f $BIN/.$name.version && $(cat "$BIN/.$name.version") == "$version" ]]; then
    return 0
  fi
  if [[ ! -x $dir/$name ]]; then
    log "building $name $version (cache: $dir)"
    local work
    work=$(mktemp -d "$CACHE/.build-$name-XXXXXX")
    local start=$SECONDS
    (cd "$work" && "$fn" "$version" "$work/$name") || { log "$name build failed (work dir kept: $work)"; return 1; }
    mkdir -p "$dir"
    mv "$work/$name" "$dir/$name.tmp" && mv "$dir/$name.tmp" "$dir/$name"
    rm -rf "$work"
    log "built $name in $((SECONDS - start))s"
  fi
  cp "$dir/$name" "$BIN/$name.tmp" && mv "$BIN/$name.tmp" "$BIN/$name"
  echo "$version" >"$BIN/.$name.version"
  log "$name $version ready in bin/"
}

# k8s_module prepares a module that requires k8s.io/kubernetes at $1. k8s.io/kubernetes replaces
# its staging modules with ./staging/..., which a dependent module cannot follow; point each at its
# published release instead.
k8s_module() {
  local version=$1 pkg=$2
  go mod init securesite.local/world/k8s >/dev/null 2>&1
  go mod download -json "k8s.io/kubernetes@$version" >/dev/null
  local gomod
  gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$version.mod
  go mod edit -require="k8s.io/kubernetes@$version"
  local mod
  for mod in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
    go mod edit -replace="$mod=$mod@$KUBE_STAGING_VERSION"
  done
  printf 'package main\n\nimport _ "%s"\n\nfunc main() {}\n' "$pkg" >main.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
  rm main.go
}

# k8s_ldflags stamps the version, or kubectl cannot parse the server's (or its own) version.
k8s_ldflags() {
  local version=$1 minor=${1#v1.}; minor=${minor%%.*}
  local pkg=k8s.io/component-base/version
  echo "-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
}

build_kube_apiserver() {
  local version=$1 out=$2
  k8s_module "$version" k8s.io/kubernetes/cmd/kube-apiserver/app
  with_progress kube-apiserver "11 min" \
    go build -trimpath -o "$out" -ldflags "$(k8s_ldflags "$version")" k8s.io/kubernetes/cmd/kube-apiserver
}

# kubectl of the same version as the API server: tests and the demo use it the way users do, and a
# matching version avoids skew warnings.
build_kubectl() {
  local version=$1 out=$2
  k8s_module "$version" k8s.io/kubernetes/cmd/kubectl
  with_progress kubectl "4 min" \
    go build -trimpath -o "$out" -ldflags "$(k8s_ldflags "$version")" k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local version=$1 out=$2
  go mod init securesite.local/world/etcd >/dev/null 2>&1
  cat >main.go <<'GO'
// etcd is the etcd server, built from go.etcd.io/etcd/server/v3 for the test world.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@$version" >/dev/null 2>&1
  go mod tidy >/dev/null 2>&1 || go mod tidy
  with_progress etcd "1 min" go build -trimpath -ldflags "-s -w" -o "$out" .
}

build_kumo() {
  local version=$1 out=$2
  go mod init securesite.local/world/kumo >/dev/null 2>&1
  # A plain `go install kumo@version` fails on checksum look-ups of some dependencies; kumo's own
  # go.sum has them, so start from it.
  go mod download -json "github.com/sivchari/kumo@$version" >/dev/null
  local dir
  dir=$(go mod download -json "github.com/sivchari/kumo@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  cp "$dir/go.sum" go.sum
  chmod u+w go.sum
  go get "github.com/sivchari/kumo/cmd/kumo@$version" >/dev/null
  with_progress kumo "5 min" go build -trimpath -ldflags "-s -w" -o "$out" github.com/sivchari/kumo/cmd/kumo
}

# pebble is built from its module source with one change (PEBBLE_PATCH names it, and the cache
# key carries that name). Its authorization handler holds the authorization's write lock while it
# looks the requesting account up under the store's read lock. A new order meanwhile holds the
# store's read lock while it read-locks every authorization (the reuse check), and once any writer
# waits for the store, neither can go on: pebble stops answering every request. In a 1,000-order
# run this happened in over half the runs. The change looks the account up before taking the
# authorization's lock; what the handler checks and answers is unchanged. Let's Encrypt's own CA
# is not pebble and has no such lock.
build_pebble() {
  local version=${1%%+*} out=$2 dir
  dir=$(go mod download -json "github.com/letsencrypt/pebble/v2@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  cp -r "$dir" src
  chmod -R u+w src
  perl -0pi -e '
    s{(\tauthz := wfe\.db\.GetAuthorizationByID\(authzID\)\n\tif authz == nil \{\n\t\tresponse\.WriteHeader\(http\.StatusNotFound\)\n\t\treturn\n\t\}\n)(\n\tauthz\.Lock\(\)\n)}
     {$1\n\t// securesite test world: the account is looked up before the authz is locked.\n\tvar getAcct *core.Account\n\tif postData.postAsGet {\n\t\tif getAcct, prob = wfe.validPOSTAsGET(postData); prob != nil {\n\t\t\twfe.sendError(prob, response)\n\t\t\treturn\n\t\t}\n\t}\n$2} or die "pebble patch: lock anchor not found\n";
    s{(\t\taccount, prob := wfe\.validPOSTAsGET\(postData\)\n\t\tif prob != nil \{\n\t\t\twfe\.sendError\(prob, response\)\n\t\t\treturn\n\t\t\}\n)}
     {\t\taccount := getAcct\n} or die "pebble patch: lookup anchor not found\n";
  ' src/wfe/wfe.go
  (cd src && with_progress pebble "15 s" go build -trimpath -o "$out" ./cmd/pebble)
}

build_controller_gen() {
  local version=$1 out=$2
  GOBIN=$PWD with_progress controller-gen "1 min" go install -trimpath "sigs.k8s.io/controller-tools/cmd/controller-gen@$version"
  mv controller-gen "$out" 2>/dev/null || true
}

# Helm v3 and v4 both build with a plain `go install` (their go.mod files have no replace lines).
# The chart follows Helm v3's conventions, and the chart tests run with both.
# Helm v3 renders for the Kubernetes version stamped at link time (its Makefile derives it from the
# client-go it builds with; without it, 1.20, and the chart's kubeVersion refuses that).
build_helm() {
  local version=$1 out=$2 gomod minor
  gomod=$(go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  minor=$(sed -n 's#^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$gomod")
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
  ld+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  ld+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  GOBIN=$PWD with_progress helm "5 min" go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$version"
  mv helm "$out" 2>/dev/null || true
}

build_helm4() {
  local version=$1 out=$2
  GOBIN=$PWD with_progress helm4 "5 min" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" "helm.sh/helm/v4/cmd/helm@$version"
  mv helm "$out" 2>/dev/null || true
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(controller-gen pebble etcd kumo kube-apiserver kubectl helm helm4)
start=$SECONDS
for t in "${tools[@]}"; do
  case $t in
    kube-apiserver) install_tool kube-apiserver "$KUBE_VERSION" build_kube_apiserver ;;
    kubectl) install_tool kubectl "$KUBE_VERSION" build_kubectl ;;
    etcd) install_tool etcd "$ETCD_VERSION" build_etcd ;;
    kumo) install_tool kumo "$KUMO_VERSION" build_kumo ;;
    pebble) install_tool pebble "$PEBBLE_VERSION+$PEBBLE_PATCH" build_pebble ;;
    controller-gen) install_tool controller-gen "$CONTROLLER_GEN_VERSION" build_controller_gen ;;
    helm) install_tool helm "$HELM_VERSION" build_helm ;;
    helm4) install_tool helm4 "$HELM4_VERSION" build_helm4 ;;
    *) log "unknown tool $t"; exit 2 ;;
  esac
done
(( SECONDS - start < 2 )) || log "test world ready in bin/ ($((SECONDS - start))s)"
