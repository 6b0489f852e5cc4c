#!/usr/bin/env bash
# mypy on paybill.server and paybill.tools (config: pyproject.toml [tool.mypy]). Extra
# arguments go to mypy. Run inside the project's venv (scripts/test.sh does).
#
# The editable install maps paybill.server -> server/ with an import hook, which mypy cannot
# follow; it finds the packages through links in .mypy_tree/ (gitignored, mypy_path) instead,
# and the paths it prints are turned back into the repository's.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .mypy_tree/paybill
ln -sfn ../../server .mypy_tree/paybill/server
ln -sfn ../../tools .mypy_tree/paybill/tools
mypy -p paybill.server -p paybill.tools "$@" | sed 's#^\.mypy_tree/paybill/##'
