#!/usr/bin/env bash
# Regenerates the CRD, RBAC, deepcopy, dist/install.yaml and the Helm chart's copies of the CRD and
# the manager's ClusterRole rules, and fails if they differ from the files
# in the tree, so a change to the API markers can never land without its generated output. The
# comparison is with the working tree (not HEAD), so it also works before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
generated=(config/crd/bases config/rbac/role.yaml api/v1alpha1/zz_generated.deepcopy.go dist/install.yaml
  charts/securesite/crds charts/securesite/files/manager-role.yaml)
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
for f in "${generated[@]}"; do
  mkdir -p "$before/$(dirname "$f")"
  cp -r "$f" "$before/$f"
done
make -s manifests generate build-installer >/dev/null
stale=0
for f in "${generated[@]}"; do
  if ! diff -r "$before/$f" "$f" >/dev/null; then
    echo "stale: $f" >&2
    diff -r "$before/$f" "$f" | head -20 >&2 || true
    stale=1
  fi
done
if (( stale )); then
  echo "generated files were stale; 'make manifests generate' has now rewritten them: review and commit" >&2
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- "${generated[@]}")
if [[ -n $untracked ]]; then
  echo "generated files not committed: $untracked" >&2
  exit 1
fi
echo "generated files are current"
