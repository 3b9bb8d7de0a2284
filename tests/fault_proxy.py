"""A fault-injecting HTTP proxy on loopback, between the SDK and the embedded llama-server.

Modes (set `proxy.fault` to a `Fault`):
  pass            forward unchanged
  status          answer `status` with a JSON error body (+ `headers`, e.g. Retry-After) for the
                  first `times` requests (None = always), then forward
  drop_midstream  forward the response but cut the connection after `after_chunks` body chunks
  stall           wait `stall_s` before answering (past the client's read timeout)
  stall_midstream forward `after_chunks` chunks, then stall `stall_s`
  malformed_sse   answer 200 text/event-stream with broken events
  inject          merge `body` into the JSON request before forwarding (e.g. a llama.cpp `grammar`
                  that makes the real model emit exact text)
Every request is counted (`proxy.requests`), so tests can count the SDK's retries, and every forwarded
exchange is recorded (`proxy.exchanges`: path, request body, response body as the client received it).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}


@dataclass
class Fault:
    mode: str = "pass"
    status: int = 500
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None
    after_chunks: int = 3
    stall_s: float = 5.0
    path: str = "/chat/completions"  # only requests whose path contains this are faulted
    last_message: str | None = None  # and, when set, only those whose last message contains this
    other_body: dict | None = None  # "inject": merged into the requests `last_message` leaves out


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.fault = Fault()
        self.requests: list[str] = []
        self.exchanges: list[tuple[str, bytes, bytes]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)  # quick shutdown

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def count(self, path_part: str = "/chat/completions") -> int:
        with self._lock:
            return sum(path_part in p for p in self.requests)

    def reset(self, fault: Fault | None = None) -> None:
        with self._lock:
            self.requests.clear()
            self.exchanges.clear()
            self.fault = fault or Fault()

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                try:
                    self._handle_inner()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): nothing to answer

            def _handle_inner(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.requests.append(self.path)
                    fault = proxy.fault
                    n = sum(fault.path in p for p in proxy.requests)
                active = fault.path in self.path and (fault.times is None or n <= fault.times)
                picked = active
                if active and fault.last_message is not None:
                    messages = (json.loads(body) if body else {}).get("messages") or [{}]
                    picked = fault.last_message in str(messages[-1].get("content") or "")
                if fault.mode == "inject" and body and (picked or (active and fault.other_body)):
                    # the picked requests get `body`, the ones `last_message` leaves out `other_body`
                    body = json.dumps(json.loads(body) | ((fault.body if picked else fault.other_body) or {})).encode()
                    self.headers.replace_header("Content-Length", str(len(body)))
                active = picked
                if fault.mode == "status" and active:
                    return self._status(fault)
                if fault.mode == "stall" and active:
                    time.sleep(fault.stall_s)
                if fault.mode == "malformed_sse" and active:
                    return self._malformed()
                self._forward(body, fault if active else Fault())

            def _status(self, fault: Fault) -> None:
                payload = json.dumps(
                    fault.body or {"error": {"message": f"injected {fault.status}", "type": "injected"}}
                ).encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in fault.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def _malformed(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                good = {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "delta": {"content": "Partial"}, "finish_reason": None}],
                }
                for event in (f"data: {json.dumps(good)}\n\n", "data: {this is not json\n\n"):
                    self._chunk(event.encode())
                self._chunk(b"")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _forward(self, body: bytes, fault: Fault) -> None:
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"host"}}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                received = bytearray()
                while True:
                    try:
                        data = resp.read1(65536)
                    except http.client.IncompleteRead as exc:  # llama-server may close without the 0-chunk
                        data = exc.partial
                    if not data:
                        break
                    if fault.mode == "drop_midstream" and sent >= fault.after_chunks:
                        self.close_connection = True
                        self.connection.shutdown(2)  # cut without the terminating chunk
                        conn.close()
                        return
                    if fault.mode == "stall_midstream" and sent >= fault.after_chunks:
                        time.sleep(fault.stall_s)
                        self.close_connection = True
                        conn.close()
                        return
                    self._chunk(data)
                    received += data
                    sent += 1
                self._chunk(b"")
                conn.close()
                with proxy._lock:
                    proxy.exchanges.append((self.path, body, bytes(received)))

        return Handler
