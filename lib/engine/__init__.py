"""The embedded llama.cpp engine: the supervised server, GGUF model files, downloads, the shared models."""
