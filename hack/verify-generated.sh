#!/usr/bin/env bash
# Regenerates the CRD, RBAC and deepcopy and fails if they differ from the committed files, so a
# change to the API markers can never land without its generated output.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s manifests generate >/dev/null
if ! git diff --exit-code --stat -- config/crd config/rbac api/ >/dev/null; then
  echo "generated files are stale; run 'make manifests generate' and commit:" >&2
  git diff --stat -- config/crd config/rbac api/ >&2
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- config/crd config/rbac api/)
if [[ -n $untracked ]]; then
  echo "generated files not committed: $untracked" >&2
  exit 1
fi
echo "generated files are current"
