"""An OpenAI-compatible model on loopback: a hosted API's pacing for the benchmarks, the fake model for tests.

A hosted API streams every request at its own pace however many run at once (the provider's GPUs
are not ours), which is where concurrent calls win; the embedded model on a 2-core CPU cannot show
that. This server sleeps instead of computing, so any number of requests overlap on any machine.
With no pacing (`first_byte_s=0, tokens_per_s=None`) it is the fake model page tests talk to instead
of llama.cpp: deterministic replies, so a test can assert exact text.

- Pacing: every request waits `first_byte_s` before its first byte, then produces `tokens_per_s`
  tokens per second (None: as fast as the socket takes them), independently of the others.
- The reply: a fixed text (a string split into word-sized pieces, or a list of pieces such as a
  model's own tokens), or a function of the request body (`echo_reply`: names the last user message,
  then a fixed text). Cut at `max_tokens` / `max_completion_tokens` (finish_reason "length"), at a
  `stop` string, or at its end ("stop"). A final assistant message is continued, llama-server style:
  the reply echoes that prefix, then `CONTINUATION`.
- `POST /v1/chat/completions`, streaming (SSE; `stream_options.include_usage` adds the final usage
  chunk) and not, with usage: prompt tokens from the messages (`count_tokens`, about 4 characters a
  token), completion tokens = pieces sent.
- `logprobs` / `top_logprobs` (0-20), as llama-server sends them: every generated piece is one
  position with its token, bytes and logprob, and alternatives (top-1 is the chosen piece, as at
  temperature 0; the others are less likely, deterministic), in streamed chunks too.
- Tool calls: with `tools` (and `tool_choice` not "none") the reply calls the named or first tool,
  every required argument set to the last user message (finish_reason "tool_calls"); after a `tool`
  message it answers with the tool's result. `[fake tools=parallel]` calls every tool at once (one call
  each), `[fake tools=bad_args]` writes arguments that are not JSON.
- `refuse=("response_format", "tools")`: request fields this provider answers with a 400, as some do.
- `GET /v1/models` lists `models`; `POST /tokenize` (llama-server's) counts with `count_tokens`;
  `GET /health`.
- Errors on request, from a `[fake …]` directive in the last user message, an `X-Fake` header, or
  `sim.fail(Fault(…))` from a test: `status=429` (an OpenAI-style error body; a 429 or 5xx carries
  `retry-after-ms: 10` so the SDK retries at once; `retry_after=0` adds Retry-After), `drop=N` (the stream is cut after N pieces, or a plain reply is cut before any byte),
  `stall=S` (seconds before answering), `malformed` (one good event, then broken JSON), and one that
  is not an error: `count=N` (a long reply, "1, 2, …, N,", one piece a number);
  `context_size` makes long prompts answer llama-server's 400.
- Every request is recorded (`sim.requests`, `sim.calls()`), so a test can count the SDK's retries or
  assert that no model call happened; `sim.reset()` forgets requests and pending faults.

Use:

    from tests.support.hosted_api_sim import HostedAPISim   # bench/ and tests put the repo root on sys.path

    with HostedAPISim(reply_pieces, first_byte_s=0.3, tokens_per_s=60) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="sim")
        client.chat.completions.create(model=sim.model, messages=[...], max_tokens=256)
        sim.stats()   # {"requests": n, "peak_concurrency": k, "completion_tokens": t}

As a script: `python tests/support/hosted_api_sim.py [--port 8100] [--reply-file FILE]` serves until
Ctrl-C and prints its base URL.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_REPLY = (
    "The document describes the history of a small harbour town. Its fish market opened every morning, "
    "traders came from nearby villages, and the council built a new sea wall after a winter storm. "
    "A librarian kept a diary of every ship that entered the harbour, and her records fill many volumes."
)
# What `echo_reply` says after naming the message: markdown, a multi-byte character split over no
# piece boundary, and a trailing newline, the things a page must store and show faithfully.
FAKE_TEXT = "This is the **fake model**: every word is fixed, so tests can check it. Café — 日本語 too.\n"
CONTINUATION = " and so the story goes on."  # what a continued (forked) assistant prefix gets
MAX_TOP = 20

Reply = str | Sequence[str] | Callable[[dict], str | Sequence[str]]
ServeModel = Callable[..., "HostedAPISim"]  # the conftest's serve_model fixture: starts a model of the test's own


def split_pieces(text: str) -> list[str]:
    """Word-sized pieces (each keeps its leading whitespace) that join back to `text` exactly."""
    return re.findall(r"\s*\S+|\s+$", text) or [text]


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: their text
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def last_user_text(body: dict) -> str:
    messages = body.get("messages") or []
    return next((_text(m.get("content")) for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), "")


def echo_reply(body: dict) -> str:
    """The fake model's reply: derived from the request only, so the same request gets the same text
    (and requests with different seeds, like a compare grid's samples, get different texts)."""
    seed = f" (seed {body['seed']})" if body.get("seed") is not None else ""
    return f"You said: {last_user_text(body)}{seed}\n\n{FAKE_TEXT}"


def _prompt_text(messages: object) -> str:
    return "\n".join(_text(m.get("content")) for m in (messages if isinstance(messages, list) else []) if isinstance(m, dict))


def piece_logprob(piece: str, index: int) -> float:
    """The chosen piece's logprob: fixed by the piece and its position, between log(0.3) and log(0.99)."""
    p = 0.3 + 0.69 * ((sum(piece.encode()) * 31 + index * 17) % 100) / 99
    return math.log(p)


def alternatives(piece: str, index: int, k: int) -> list[dict]:
    """Top-k alternatives of a position, best first: the chosen piece, then less likely ones whose
    probabilities fit in what is left (so the chosen piece is rank 1 and the total stays below 1)."""
    if k <= 0:
        return []
    lp = piece_logprob(piece, index)
    p = math.exp(lp)
    out = [{"token": piece, "logprob": lp, "bytes": list(piece.encode())}]
    names = [f" alt{j}" if j % 2 else f" 代案{j}" for j in range(1, MAX_TOP)]  # some alternatives are multi-byte
    for j, name in enumerate((n for n in names if n != piece), start=1):
        if len(out) >= k:
            break
        out.append({"token": name, "logprob": math.log(min(p, 1 - p) * 0.5**j), "bytes": list(name.encode())})
    return out


@dataclass
class Fault:
    """What the next matching request(s) get instead of a normal answer."""

    status: int | None = None  # answer this status with an OpenAI-style error body
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: int | None = None  # cut the stream after this many pieces (a plain reply: before any byte)
    stall_s: float = 0.0  # wait this long before answering
    malformed: bool = False  # one good event, then an event that is not JSON
    count: int | None = None  # not a fault: a long reply, "1, 2, 3, …, count"
    tools: str | None = None  # not a fault: "parallel" (every tool called at once) or "bad_args" (not JSON)
    times: int | None = 1  # how many requests get it (None: every one until reset)

    @classmethod
    def parse(cls, text: str) -> Fault | None:
        """`status=429 retry_after=0`, `drop=4`, `stall=12`, `malformed` (a directive's or header's words)."""
        fault, any_word = cls(times=None), False
        for word in text.split():
            key, _, value = word.partition("=")
            any_word = True
            if key == "status":
                fault.status = int(value)
            elif key == "retry_after":
                fault.headers["Retry-After"] = value
            elif key == "drop":
                fault.drop = int(value)
            elif key == "stall":
                fault.stall_s = float(value)
            elif key == "malformed":
                fault.malformed = True
            elif key == "count":
                fault.count = int(value)
            elif key == "tools" and value in ("parallel", "bad_args"):
                fault.tools = value
            else:
                raise ValueError(f"unknown fake directive {word!r}")
        return fault if any_word else None


_DIRECTIVE = re.compile(r"\[fake ([^\]]*)\]")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None
    headers: dict[str, str]


class HostedAPISim:
    """An OpenAI-compatible loopback server (see the module docstring)."""

    def __init__(
        self,
        reply: Reply = DEFAULT_REPLY,
        *,
        first_byte_s: float = 0.3,
        tokens_per_s: float | None = 60.0,
        model: str = "hosted-sim",
        models: Sequence[str] | None = None,
        count_tokens: Callable[[str], int] = estimate_tokens,
        context_size: int | None = None,
        refuse: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.reply = reply
        self.pieces = split_pieces(reply) if isinstance(reply, str) else [] if callable(reply) else list(reply)
        self.first_byte_s = first_byte_s
        self.tokens_per_s = tokens_per_s
        self.model = model
        self.models = list(models or [model])
        self.count_tokens = count_tokens
        self.context_size = context_size
        self.refuse = tuple(refuse)
        self.requests: list[Request] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when the last request in flight ends
        self._active = 0
        self._stats = {"requests": 0, "peak_concurrency": 0, "completion_tokens": 0}
        self._server = _Server((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="hosted-api-sim", daemon=True)

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

    # --- what tests use ---

    def reply_pieces(self, body: dict) -> list[str]:
        """The whole reply this request gets, before max_tokens / stop cut it."""
        messages = body.get("messages") or []
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        if last.get("role") == "tool":
            return split_pieces(f"The tool said: {_text(last.get('content'))}")
        reply = self.reply(body) if callable(self.reply) else self.pieces
        return split_pieces(reply) if isinstance(reply, str) else list(reply)

    def expected(self, messages: Sequence[dict], max_tokens: int | None = None, **body: Any) -> str:
        """The text a chat completion with these messages (and other request fields) gets."""
        return self.reply_to({**body, "messages": list(messages), "max_tokens": max_tokens})

    def reply_to(self, body: dict) -> str:
        """The text this request body gets (e.g. one from `calls()`; a continued prefix not included)."""
        return "".join(_cut(self.reply_pieces(_without_prefix(body)), body)[0])

    def fail(self, fault: Fault) -> None:
        """The next `fault.times` chat requests (every one, with None) get `fault`."""
        with self._lock:
            self._faults.append(fault)

    def calls(self) -> list[dict]:
        """The bodies of the chat completion requests received (retries included), oldest first."""
        with self._lock:
            return [r.body or {} for r in self.requests if r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._stats = {"requests": 0, "peak_concurrency": 0, "completion_tokens": 0}

    def stats(self, settle_s: float = 5.0) -> dict[str, int]:
        """The counts once the requests in flight have ended: a client has its whole reply a moment
        before the handler that wrote it has counted it."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=settle_s)
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = {"requests": 0, "peak_concurrency": 0, "completion_tokens": 0}

    # --- bookkeeping used by the handler ---

    def _record(self, request: Request) -> Fault | None:
        """Log the request and take the fault it gets, if any: a directive, a header, then a queued one."""
        with self._lock:
            self.requests.append(request)
            if not request.path.endswith("/chat/completions"):
                return None
            text = last_user_text(request.body or {})
            found = _DIRECTIVE.search(text)
            if found:
                return Fault.parse(found.group(1))
            if request.headers.get("x-fake"):
                return Fault.parse(request.headers["x-fake"])
            if self._faults:
                fault = self._faults[0]
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.pop(0)
                return fault
        return None

    def _enter(self) -> None:
        with self._lock:
            self._active += 1
            self._stats["requests"] += 1
            self._stats["peak_concurrency"] = max(self._stats["peak_concurrency"], self._active)

    def _leave(self, tokens: int) -> None:
        with self._lock:
            self._active -= 1
            self._stats["completion_tokens"] += tokens
            if self._active == 0:
                self._idle.notify_all()

    def _pace(self, start: float, i: int) -> None:
        """Piece i leaves at first byte + i / rate: paced on the clock, so sleeps don't drift."""
        _sleep_until(start + self.first_byte_s + (i / self.tokens_per_s if self.tokens_per_s else 0.0))


def _without_prefix(body: dict) -> dict:
    messages = body.get("messages") or []
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        return body | {"messages": messages[:-1]}
    return body


def _cut(pieces: list[str], body: dict) -> tuple[list[str], str]:
    """The pieces sent and the finish reason: cut at a stop string, then at max tokens."""
    finish = "stop"
    stops = body.get("stop") or []
    stops = [stops] if isinstance(stops, str) else list(stops)
    text = "".join(pieces)
    ends = [text.find(s) for s in stops if s and s in text]
    if ends:
        keep, out = min(ends), []
        for piece in pieces:
            if keep <= 0:
                break
            out.append(piece[:keep])
            keep -= len(piece)
        pieces = out
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit and len(pieces) > int(limit):
        pieces, finish = pieces[: int(limit)], "length"
    return pieces, finish


def _tool_calls(body: dict, how: str | None = None) -> list[dict]:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    choice = body.get("tool_choice")
    messages = body.get("messages") or []
    if not tools or choice == "none" or (messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"):
        return []
    wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    fns = [t["function"] for t in tools] if how == "parallel" else [
        next((t["function"] for t in tools if t["function"].get("name") == wanted), tools[0]["function"])]  # fmt: skip
    calls = []
    for i, fn in enumerate(fns):
        args = {name: last_user_text(body) for name in (fn.get("parameters") or {}).get("required", [])}
        text = '{"' + next(iter(args), "x") + '": "unterminated' if how == "bad_args" else json.dumps(args, ensure_ascii=False)
        calls.append({"id": f"call_{fn['name']}_{i}", "type": "function", "function": {"name": fn["name"], "arguments": text}})
    return calls


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-stream is not the server's problem


def _handler(sim: HostedAPISim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None) -> None:
            self._json(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

        def _route(self) -> str:
            path = self.path.split("?", 1)[0].rstrip("/")
            return path[3:] if path.startswith("/v1/") else path

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            sim._record(Request("GET", self.path, None, {k.lower(): v for k, v in self.headers.items()}))
            if self.path.split("?", 1)[0].rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                             "owned_by": "hosted-api-sim"} for m in sim.models]})  # fmt: skip
            elif self._route() == "/health":
                self._json(200, {"status": "ok"})
            else:
                self._error(404, f"no route {self.path}", "not_found_error")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                fault = sim._record(Request("POST", self.path, body if isinstance(body, dict) else None, headers))
            except ValueError as exc:  # a directive the fake does not know: the test's mistake, said plainly
                self._error(400, str(exc))
                return
            route = self._route()
            if route == "/tokenize" and self.path.startswith("/tokenize") and isinstance(body, dict):
                self._json(200, {"tokens": list(range(sim.count_tokens(str(body.get("content", "")))))})
                return
            if not self.path.startswith("/v1/") or route != "/chat/completions":
                self._error(404, f"no route {self.path}", "not_found_error")
                return
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                self._error(400, "the body must be a JSON object with 'messages'")
                return
            start = time.monotonic()
            if fault and fault.stall_s:
                time.sleep(fault.stall_s)
                start = time.monotonic()
            if fault and fault.status:
                # retry-after-ms, as OpenAI sends it: the SDK's retries of a 429/5xx follow at once, not after its backoff
                headers = ({"retry-after-ms": "10"} if fault.status == 429 or fault.status >= 500 else {}) | fault.headers
                self._error(fault.status, fault.message or f"fake error {fault.status}", "fake_error", headers)
                return
            refused = next((name for name in sim.refuse if body.get(name)), None)
            if refused:
                self._error(400, f"'{refused}' is not supported by this model")
                return
            prompt_tokens = sim.count_tokens(_prompt_text(body["messages"]))
            if sim.context_size and prompt_tokens > sim.context_size:
                self._error(400, "the request exceeds the available context size, try increasing it", "exceed_context_size_error")
                return
            self._complete(body, fault, start, prompt_tokens)

        def _complete(self, body: dict, fault: Fault | None, start: float, prompt_tokens: int) -> None:
            messages = body["messages"]
            prefix = _text(messages[-1].get("content")) if messages and messages[-1].get("role") == "assistant" else ""
            call = _tool_calls(body, fault.tools if fault else None)
            if call:
                pieces, finish = [], "tool_calls"
            elif prefix:  # continue the assistant's text: the reply echoes it, llama-server style
                pieces, finish = _cut(split_pieces(CONTINUATION), body)
            elif fault and fault.count:
                pieces, finish = _cut([f"{i}," if i == 1 else f" {i}," for i in range(1, fault.count + 1)], body)
            else:
                pieces, finish = _cut(sim.reply_pieces(body), body)
            top = min(int(body.get("top_logprobs") or 0), MAX_TOP) if body.get("logprobs") else None
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces) + len(call)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            reply = _Reply(pieces, finish, prefix, call, top, usage, f"chatcmpl-fake-{uuid.uuid4().hex[:12]}",
                           int(time.time()), str(body.get("model") or sim.model))  # fmt: skip
            sim._enter()
            sent = 0
            try:
                if fault and fault.malformed:
                    self._malformed(reply)
                elif body.get("stream"):
                    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    sent = self._stream(start, reply, include_usage, fault.drop if fault else None)
                elif fault and fault.drop is not None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # no answer at all
                else:
                    sim._pace(start, len(pieces))  # the whole reply once the last piece would have been generated
                    sent = len(pieces)
                    self._json(200, reply.completion())
            finally:
                sim._leave(sent)

        def _send_event(self, event: dict | str) -> None:
            data = f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")  # one HTTP chunk per event
            self.wfile.flush()

        def _start_sse(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _stream(self, start: float, reply: _Reply, include_usage: bool, drop: int | None) -> int:
            sim._pace(start, 0)  # nothing at all before the first byte
            self._start_sse()
            sent = 0
            try:
                self._send_event(reply.chunk({"role": "assistant", "content": reply.prefix}))
                for i, call in enumerate(reply.call):  # id and name with the first half of the arguments, then the rest
                    args = call["function"]["arguments"]
                    half = len(args) // 2
                    first = {**call, "function": {"name": call["function"]["name"], "arguments": args[:half]}}
                    self._send_event(reply.chunk({"tool_calls": [{"index": i, **first}]}))
                    self._send_event(reply.chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}))
                for i, piece in enumerate(reply.pieces):
                    if drop is not None and sent >= drop:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)  # cut without the terminating chunk
                        return sent
                    sim._pace(start, i)
                    self._send_event(reply.chunk({"content": piece}, logprobs=reply.logprobs(i, i + 1)))
                    sent += 1
                self._send_event(reply.chunk({}, reply.finish))
                if include_usage:
                    self._send_event(reply.chunk(None, usage=reply.usage))
                self._send_event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return sent

        def _malformed(self, reply: _Reply) -> None:
            self._start_sse()
            self._send_event(reply.chunk({"role": "assistant", "content": "Partial"}))
            self._send_event("{this is not json")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


@dataclass
class _Reply:
    pieces: list[str]
    finish: str
    prefix: str
    call: list[dict]  # tool calls made (none: a text reply)
    top: int | None  # top_logprobs asked for; None: no logprobs
    usage: dict
    ident: str
    created: int
    model: str

    def logprobs(self, a: int, b: int) -> dict | None:
        if self.top is None:
            return None
        return {"content": [{**alternatives(p, i, 1)[0], "top_logprobs": alternatives(p, i, self.top)}
                            for i, p in enumerate(self.pieces[a:b], start=a)]}  # fmt: skip

    def chunk(self, delta: dict | None, finish: str | None = None, logprobs: dict | None = None, **extra: object) -> dict:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}]
        return {"id": self.ident, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": choices, **extra}  # fmt: skip

    def completion(self) -> dict:
        message: dict = {"role": "assistant", "content": self.prefix + "".join(self.pieces)}
        if self.call:
            message = {"role": "assistant", "content": None, "tool_calls": self.call}
        return {"id": self.ident, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": self.finish,
                             "logprobs": self.logprobs(0, len(self.pieces))}],
                "usage": self.usage}  # fmt: skip


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def main() -> None:
    parser = argparse.ArgumentParser(description="An OpenAI-compatible hosted-API simulator on loopback.")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--reply-file", help="the text every request replays (default: a short summary)")
    parser.add_argument("--echo", action="store_true", help="reply like the tests' fake model (names the message)")
    parser.add_argument("--first-byte", type=float, default=0.3, help="seconds before the first byte")
    parser.add_argument("--tokens-per-s", type=float, default=60.0, help="tokens per second, per request (0: unpaced)")
    parser.add_argument("--model", default="hosted-sim")
    args = parser.parse_args()
    reply: Reply = open(args.reply_file, encoding="utf-8").read() if args.reply_file else DEFAULT_REPLY  # noqa: SIM115
    if args.echo:
        reply = echo_reply
    sim = HostedAPISim(reply, first_byte_s=args.first_byte, tokens_per_s=args.tokens_per_s or None, model=args.model,
                       port=args.port)  # fmt: skip
    with sim:
        print(
            f"hosted-API simulator: {sim.base_url} (model '{sim.model}', first byte {sim.first_byte_s:g} s, "
            f"{f'{args.tokens_per_s:g} tokens/s per request' if args.tokens_per_s else 'unpaced'}). Ctrl-C stops it.",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
