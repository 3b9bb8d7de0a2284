#!/usr/bin/env bash
# Start Yoake (after scripts/install.sh): the one start command of run.sh, the Dockerfile and render.yaml.
# A host's PORT (Render, most PaaS) wins over 8501; YOAKE_HOST=0.0.0.0 listens on every interface
# (a container). Extra args go to `streamlit run`; .streamlit/config.toml holds the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
address=()
[ -n "${YOAKE_HOST:-}" ] && address=(--server.address "$YOAKE_HOST")
exec .venv/bin/streamlit run streamlit_app.py --server.port "${PORT:-8501}" "${address[@]}" "$@"
