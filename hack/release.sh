#!/usr/bin/env bash
# Writes a release's artifacts into dist/<version>/:
#   install.yaml                      config/default with the image pinned to the version (kubectl apply -f)
#   securesite-<chart version>.tgz    the Helm chart, appVersion = the version (the image tag)
#   securesite-manager.oci.tar        the images (OCI layout tarballs: docker load, podman load,
#   securesite-agent.oci.tar            skopeo copy oci-archive:...), and their SBOMs (*.spdx.json)
#   SHA256SUMS
# usage: hack/release.sh VERSION REVISION      (make release-artifacts)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?version} revision=${2:?revision}
out=dist/$version
rm -rf "$out"
mkdir -p "$out"
export PATH=$PWD/bin:$PATH

# A chart version must be SemVer: v1.2.3 -> 1.2.3; a build between tags -> 0.0.0-<describe>.
if [[ $version =~ ^v?([0-9]+\.[0-9]+\.[0-9]+([-+].*)?)$ ]]; then
  chart_version=${BASH_REMATCH[1]}
else
  chart_version=0.0.0-$(tr -c 'A-Za-z0-9.\n-' '-' <<<"$version")
fi

# install.yaml: config/default with the image pinned, through a throwaway overlay.
overlay=$(mktemp -d "$PWD/bin/.release-XXXXXX")
trap 'rm -rf "$overlay"' EXIT
cat >"$overlay/kustomization.yaml" <<YAML
resources:
- ../../config/default
images:
- name: ghcr.io/securesite-io/securesite
  newTag: $version
YAML
kubectl kustomize "$overlay" >"$out/install.yaml"

helm package charts/securesite --version "$chart_version" --app-version "$version" -d "$out" >/dev/null

SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
  go run ./hack/image -version "$version" -revision "$revision" -out "$overlay/image" >"$overlay/digests"
for name in securesite-manager securesite-agent; do
  cp "$overlay/image/$name.oci.tar" "$overlay/image/$name.spdx.json" "$out/"
done

(cd "$out" && sha256sum -- * >SHA256SUMS)
echo "release $version (chart $chart_version) in $out:"
sed 's/^/  /' "$overlay/digests"
ls -l "$out" | sed 1d | awk '{printf "  %-40s %s\n", $9, $5}'
