#!/usr/bin/env bash
# Install the app and its test tools (incl. Debian's Chromium), lint and check formatting, then run every test.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install.sh dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Two workers (pytest-xdist); the tests of the real engine all run on one of them (tests/conftest.py).
exec .venv/bin/python -m pytest -n "${YOAKE_TEST_WORKERS:-2}" --dist loadgroup "$@"
