#!/usr/bin/env bash
# Screenshots of the operator console's main pages into docs/console/ (PNG), taken by the
# browser test (tests/e2e/console/test_console_browser.py) on its real journey: needs
# PostgreSQL and /usr/bin/chromium, as scripts/test.sh provides.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
PAYBILL_CONSOLE_SCREENSHOTS="$PWD/docs/console" \
    pytest -p no:xdist -q tests/e2e/console/test_console_browser.py "$@"
