#!/usr/bin/env bash
# Install everything into .venv and run every check: ruff lint, ruff format, the import
# contracts (lint-imports, pyproject.toml [tool.importlinter]), mypy on server/ and tools/
# (scripts/typecheck.sh), the test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k lifecycle`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check --upgrade pip
python -m pip install -q --disable-pip-version-check -e ".[dev]"
TF_CLI_CONFIG_FILE=$(bash scripts/terraform-mirror.sh)
export TF_CLI_CONFIG_FILE
# sed, not head: head would exit after one line and terraform could die of SIGPIPE.
terraform version | sed -n 1p
bash scripts/ensure-postgres.sh
# The console's browser tests drive Debian's Chromium through Playwright (never a browser
# download, never `playwright install`); installed once, when missing.
[ -x /usr/bin/chromium ] || { apt-get update -qq && apt-get install -y -qq chromium; }
# A real nginx in front of the server for the reverse-proxy test (never started as a service).
[ -x /usr/sbin/nginx ] || { apt-get update -qq && apt-get install -y -qq nginx; }
ruff check .
ruff format --check .
lint-imports
bash scripts/typecheck.sh
# terraform validate and checkov over the tenant modules (docs/clouds.md).
bash scripts/terraform-checks.sh
pytest -n "${PYTEST_WORKERS:-2}" --dist loadgroup --durations=25 "$@"
