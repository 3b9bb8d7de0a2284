#!/usr/bin/env bash
# Install (first time) and start Yoake on http://localhost:8501. Extra args go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install.sh
exec scripts/serve.sh "$@"
