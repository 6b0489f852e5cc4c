#!/usr/bin/env bash
# Static checks a reviewer of Terraform runs, offline, over every tenant module:
# - terraform validate wherever the module's providers are installed (only null is, so the
#   local module; the cloud providers cannot be installed offline: said, not hidden);
# - checkov, with the values in scripts/terraform-checks.tfvars.json (without values checkov
#   drops every resource behind a `count`, and passes them unseen). Each finding is fixed or
#   suppressed in the module with a one-line reason: #checkov:skip=ID:reason.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VIRTUAL_ENV:?activate the project venv first}
# checkov pins boto3 1.35 and packaging < 24, which the project's extras exclude: a venv of
# its own, pinned here.
checkov="$venv/checkov/bin/checkov"
if [ ! -x "$checkov" ]; then
  python3 -m venv "$venv/checkov"
  "$venv/checkov/bin/pip" install -q --disable-pip-version-check "checkov==3.3.30"
fi
for module in terraform_modules/*/; do
  work=$(mktemp -d)
  cp "$module"*.tf "$work"/
  if terraform -chdir="$work" init -input=false -no-color -backend=false >/dev/null 2>&1; then
    printf '%s: ' "$module"
    terraform -chdir="$work" validate -no-color
  else
    echo "$module: terraform validate skipped (its provider is not installable offline)"
  fi
  rm -rf "$work"
done
# --skip-download: no call to Prisma Cloud (guidelines, severities); the checks are local.
"$checkov" -d terraform_modules --framework terraform --skip-download --quiet --compact \
  --var-file scripts/terraform-checks.tfvars.json
