"""A hosted-API simulator on loopback: an OpenAI-compatible server that answers like a remote API.

A hosted API streams every request at its own pace however many run at once (the provider's GPUs
are not ours), which is where concurrent calls win; the embedded model on a 2-core CPU cannot show
that. This server sleeps instead of computing, so any number of requests overlap on any machine:

- every request waits `first_byte_s` (default 0.3 s) before its first byte, then produces
  `tokens_per_s` (default 60) tokens per second, independently of the others (a threading server);
- the reply is a fixed text replayed for every request (e.g. one reply generated once by the embedded
  model), cut at the request's `max_tokens` / `max_completion_tokens` (finish_reason "length") or at
  its end ("stop");
- `POST /v1/chat/completions`, streaming (SSE; `stream_options.include_usage` adds the final usage
  chunk) and non-streaming (the whole reply after first byte + all tokens), with usage: prompt tokens
  counted from the messages (about 4 characters per token, or `count_tokens`), completion tokens =
  pieces sent;
- `GET /v1/models` lists `model`.

Use:

    from bench.hosted_api_sim import HostedAPISim   # or `from hosted_api_sim import …` inside bench/

    with HostedAPISim(reply_pieces, first_byte_s=0.3, tokens_per_s=60) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="sim")
        client.chat.completions.create(model=sim.model, messages=[...], max_tokens=256)
        sim.stats()   # {"requests": n, "peak_concurrency": k, "completion_tokens": t}

`reply` is a string (split into word-sized pieces, each counted as one token) or a list of pieces
(e.g. the model's own tokens, detokenised one by one), so replayed text is byte-identical to the
original. As a script: `python bench/hosted_api_sim.py [--port 8100] [--reply-file FILE]` serves
until Ctrl-C and prints its base URL.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_REPLY = (
    "The document describes the history of a small harbour town. Its fish market opened every morning, "
    "traders came from nearby villages, and the council built a new sea wall after a winter storm. "
    "A librarian kept a diary of every ship that entered the harbour, and her records fill many volumes."
)


def split_pieces(text: str) -> list[str]:
    """Word-sized pieces (each keeps its leading whitespace) that join back to `text` exactly."""
    return re.findall(r"\s*\S+|\s+$", text) or [text]


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


class HostedAPISim:
    """An OpenAI-compatible loopback server with a remote API's pacing (see the module docstring)."""

    def __init__(
        self,
        reply: str | Sequence[str] = DEFAULT_REPLY,
        *,
        first_byte_s: float = 0.3,
        tokens_per_s: float = 60.0,
        model: str = "hosted-sim",
        count_tokens: Callable[[str], int] = estimate_tokens,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.pieces = split_pieces(reply) if isinstance(reply, str) else list(reply)
        self.first_byte_s = first_byte_s
        self.tokens_per_s = tokens_per_s
        self.model = model
        self.count_tokens = count_tokens
        self._lock = threading.Lock()
        self._active = 0
        self._stats = {"requests": 0, "peak_concurrency": 0, "completion_tokens": 0}
        self._server = _Server((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="hosted-api-sim", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> HostedAPISim:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostedAPISim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = {"requests": 0, "peak_concurrency": 0, "completion_tokens": 0}

    # --- bookkeeping used by the handler ---

    def _enter(self) -> None:
        with self._lock:
            self._active += 1
            self._stats["requests"] += 1
            self._stats["peak_concurrency"] = max(self._stats["peak_concurrency"], self._active)

    def _leave(self, tokens: int) -> None:
        with self._lock:
            self._active -= 1
            self._stats["completion_tokens"] += tokens


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-stream is not the server's problem


def _prompt_text(messages: object) -> str:
    parts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # content parts: count their text
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def _handler(sim: HostedAPISim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": None}})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": sim.model, "object": "model", "created": 0,
                                                             "owned_by": "hosted-api-sim"}]})  # fmt: skip
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"no route {self.path}")
                return
            try:
                body = json.loads(raw)
                assert isinstance(body, dict) and isinstance(body.get("messages"), list)
            except (ValueError, AssertionError):
                self._error(400, "the body must be a JSON object with 'messages'")
                return
            start = time.monotonic()
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
            pieces = sim.pieces[: int(limit)] if limit else sim.pieces
            finish = "length" if len(pieces) < len(sim.pieces) else "stop"
            usage = {"prompt_tokens": sim.count_tokens(_prompt_text(body["messages"])), "completion_tokens": len(pieces)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            ident = f"chatcmpl-sim-{uuid.uuid4().hex[:12]}"
            created = int(time.time())
            model = str(body.get("model") or sim.model)
            sim._enter()
            sent = 0
            try:
                if body.get("stream"):
                    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    sent = self._stream(start, pieces, finish, usage if include_usage else None, ident, created, model)
                else:
                    # the whole reply once the last token would have been generated
                    _sleep_until(start + sim.first_byte_s + len(pieces) / sim.tokens_per_s)
                    sent = len(pieces)
                    self._json(200, {
                        "id": ident, "object": "chat.completion", "created": created, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)},
                                     "finish_reason": finish, "logprobs": None}],
                        "usage": usage,
                    })  # fmt: skip
            finally:
                sim._leave(sent)

        def _stream(
            self, start: float, pieces: list[str], finish: str, usage: dict | None, ident: str, created: int, model: str
        ) -> int:
            def chunk(delta: dict, finish_reason: str | None = None, **extra: object) -> dict:
                return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
                        **extra}  # fmt: skip

            def send(event: dict | str) -> None:
                data = f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n".encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")  # one HTTP chunk per event
                self.wfile.flush()

            _sleep_until(start + sim.first_byte_s)  # nothing at all before the first byte
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            try:
                send(chunk({"role": "assistant", "content": ""}))
                for i, piece in enumerate(pieces):
                    # token i leaves at first byte + i / rate: paced on the clock, so sleeps don't drift
                    _sleep_until(start + sim.first_byte_s + i / sim.tokens_per_s)
                    send(chunk({"content": piece}))
                    sent += 1
                send(chunk({}, finish))
                if usage is not None:
                    final = chunk({}, None, usage=usage)
                    final["choices"] = []
                    send(final)
                send("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return sent

    return Handler


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def main() -> None:
    parser = argparse.ArgumentParser(description="An OpenAI-compatible hosted-API simulator on loopback.")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--reply-file", help="the text every request replays (default: a short summary)")
    parser.add_argument("--first-byte", type=float, default=0.3, help="seconds before the first byte")
    parser.add_argument("--tokens-per-s", type=float, default=60.0, help="tokens per second, per request")
    parser.add_argument("--model", default="hosted-sim")
    args = parser.parse_args()
    reply = open(args.reply_file, encoding="utf-8").read() if args.reply_file else DEFAULT_REPLY  # noqa: SIM115
    sim = HostedAPISim(reply, first_byte_s=args.first_byte, tokens_per_s=args.tokens_per_s, model=args.model, port=args.port)
    with sim:
        print(
            f"hosted-API simulator: {sim.base_url} (model '{sim.model}', {len(sim.pieces)} reply tokens, "
            f"first byte {sim.first_byte_s:g} s, {sim.tokens_per_s:g} tokens/s per request). Ctrl-C stops it.",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
