"""Downloading a GGUF by link into the models folder.

Downloads stream to `<models>/<name>.gguf.part` (with a `.part.json` note of the URL, size and
validator so an interrupted download resumes with an HTTP Range request), refuse a body that does
not start with the GGUF magic before taking more than its first bytes, and become `<name>.gguf`
only once complete and readable. Every connection, redirects included, goes through the address
guard (lib/core/netguard.py).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3

from lib.core import netguard
from lib.core.config import load_settings
from lib.core.i18n import Msg

try:  # an advisory lock so two sessions never write one .part; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


from lib.core.text import MB, format_size
from lib.engine.errors import (
    BadModelURL,
    DiskFull,
    DownloadBusy,
    DownloadCancelled,
    DownloadConnectionError,
    DownloadCorrupt,
    DownloadInterrupted,
    DownloadRefused,
    InvalidModelFile,
    ModelError,
    ModelHTTPError,
    ModelURLNotFound,
    NotAGGUF,
)
from lib.engine.gguf import GGUF_MAGIC, GGUFInfo, describe_start, read_gguf_info
from lib.engine.links import check_url, display_url, is_url, model_filename  # noqa: F401 - also imported from here

PART_SUFFIX = ".part"  # <name>.gguf.part while downloading, plus <name>.gguf.part.json
USER_AGENT = "Yoake/0.1 (model download)"
MAX_REDIRECTS = 10  # Hugging Face sends a file through one or two (the CDN)
DISK_RESERVE = 50_000_000  # bytes left free after a download, so the chat store and usage log can still write

# --- download ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadProgress:
    done: int  # bytes of the file on disk (a resumed download starts at what was kept)
    total: int | None  # the file's size, when the server said it
    mb_per_s: float  # this attempt's average speed, MB (10**6 bytes) per second
    resumed_from: int  # bytes already there when this attempt started

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


@dataclass(frozen=True)
class DownloadResult:
    path: Path  # the complete <models>/<name>.gguf
    size: int
    downloaded: int  # bytes transferred by this call
    resumed_from: int  # bytes kept from an earlier attempt
    seconds: float
    already_present: bool  # the file was there: nothing was downloaded
    info: GGUFInfo | None = None


ProgressCallback = Callable[[DownloadProgress], None]


def part_note_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def read_part_note(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _sha256_of(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


class _Restart(Exception):
    """Start again from byte 0 (the server ignored Range, the file changed, or the .part is too long)."""


class _Download:
    def __init__(self, url: str, dest: Path, part: Path, fd: int, progress: ProgressCallback | None,
                 cancel: threading.Event | None, timeout: float, progress_interval: float, chunk_size: int,
                 pools: netguard.GuardedPools, sha256: str | None = None) -> None:  # fmt: skip
        self.url, self.dest, self.part, self.fd = url, dest, part, fd
        self.pools = pools  # every connection goes to an address netguard checked, redirects included
        self.sha256 = sha256  # the complete file must have this digest (a pinned default model)
        self.meta_path = part_note_path(part)
        self.progress, self.cancel = progress, cancel
        self.timeout, self.progress_interval, self.chunk_size = timeout, progress_interval, chunk_size
        self.shown = display_url(url)
        self.total: int | None = None
        self.started = time.monotonic()
        self.resumed_from = 0  # bytes that were on disk when this call started (0 after a restart)

    # helpers
    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self) -> None:
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.meta_path.unlink(missing_ok=True)

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)

    def report(self, done: int) -> None:
        if self.progress:
            elapsed = time.monotonic() - self.started
            speed = (done - self.resumed_from) / MB / elapsed if elapsed > 0 else 0.0
            self.progress(DownloadProgress(done, self.total, speed, self.resumed_from))

    def run(self) -> DownloadResult:
        offset = self.size()
        meta = read_part_note(self.meta_path) if offset else {}
        if offset and (meta.get("url") != self.url or os.pread(self.fd, 4, 0) != GGUF_MAGIC):
            self.truncate()  # a .part of another link, or not a GGUF: nothing to resume
            offset, meta = 0, {}
        self.resumed_from = offset
        restarts = 0
        while True:
            try:
                step = self._attempt(offset, meta)
            except _Restart:
                restarts += 1
                if restarts >= 3:
                    raise ModelError(
                        Msg("{url} kept answering with a different file; the download was stopped.", url=self.shown),
                        retryable=True,
                    ) from None
                self.truncate()
                offset, meta, self.resumed_from = 0, {}, 0
                continue
            if isinstance(step, DownloadResult):
                return step
            offset, meta = step, read_part_note(self.meta_path)  # a 206 that ended before the file did: ask for the rest

    def _headers(self, offset: int, meta: dict[str, Any]) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            etag, modified = meta.get("etag"), meta.get("last_modified")
            # If-Range: the server sends the whole new file (200) if it changed since the first attempt.
            if isinstance(etag, str) and etag and not etag.startswith("W/"):
                headers["If-Range"] = etag
            elif isinstance(modified, str) and modified:
                headers["If-Range"] = modified
        return headers

    def _get(self, url: str, headers: dict[str, str], came_from: str | None) -> urllib3.BaseHTTPResponse:
        """One GET through the address guard, or the error a page can show."""
        try:
            return self.pools.urlopen(url, headers=headers, timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
        except netguard.AddressRefused as exc:
            why = netguard.describe(exc.refusal)
            if came_from:
                why = Msg("{url} redirects to {target}: {why}", url=self.shown, target=display_url(url), why=why)
            raise DownloadRefused(
                Msg("{why}. Models are downloaded only from public servers, so that nobody can use a download to reach "
                    "the machine the app runs on, its private network or its cloud credentials. On your own computer, "
                    "YOAKE_FETCH_ALLOW_PRIVATE=1 allows loopback and private-network links. Nothing was downloaded.", why=why)
                if exc.refusal.opens_with_setting else
                Msg("{why}. Models are downloaded only from public servers, so that nobody can use a download to reach "
                    "the machine the app runs on, its private network or its cloud credentials. Nothing was downloaded.",
                    why=why)
            ) from None  # fmt: skip
        except ValueError as exc:
            raise BadModelURL(Msg("That is not a valid link ({error}).", error=str(exc))) from None
        except (OSError, UnicodeError):  # socket.gaierror: the name is unknown
            raise DownloadConnectionError(
                Msg(
                    "Could not connect to {url}: the host could not be found. Check the link and the network.",
                    url=display_url(url),
                )
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise DownloadConnectionError(
                Msg(
                    "Could not connect to {url}: {problem}. Check the link and the network.",
                    url=display_url(url),
                    problem=_connect_problem(exc),
                )
            ) from None

    def _open(self, offset: int, meta: dict[str, Any]) -> urllib3.BaseHTTPResponse | None:
        """The response, following redirects (each hop checked again), or None when a 416 says the .part
        already holds the whole file."""
        headers = self._headers(offset, meta)
        url, came_from = self.url, None
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._get(url, headers, came_from)
            location = resp.headers.get("Location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                resp.drain_conn()
                resp.release_conn()
                target = urljoin(url, location)
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    raise BadModelURL(Msg("The server redirected to a non-http link ({url}).", url=display_url(target)))
                url, came_from = target, url
                continue
            if resp.status < 400:
                return resp
            resp.drain_conn()
            resp.release_conn()
            if resp.status == 416 and offset:
                m = _UNSATISFIED_RANGE.search(resp.headers.get("Content-Range") or "")
                total = int(m.group(1)) if m else None
                if total == offset and meta.get("total") in (None, total):
                    self.total = total
                    return None
                raise _Restart
            raise _http_error(resp.status, resp.reason, self.shown)
        raise DownloadConnectionError(
            Msg("{url} redirected more than {count} times; the download was stopped.", url=self.shown, count=MAX_REDIRECTS)
        )

    def _attempt(self, offset: int, meta: dict[str, Any]) -> DownloadResult | int:
        """One request: the finished result, or the offset to ask for next (a range that stopped short)."""
        resp = self._open(offset, meta)
        if resp is None:
            return self._finish(offset)
        with resp:
            length = _int_header(resp.headers.get("Content-Length"))
            if resp.status == 206:
                m = _CONTENT_RANGE.search(resp.headers.get("Content-Range") or "")
                if not m or int(m.group(1)) != offset:
                    raise _Restart
                total = None if m.group(3) == "*" else int(m.group(3))
                if meta.get("total") is not None and total is not None and total != meta["total"]:
                    raise _Restart  # the file changed size since the first attempt
            else:  # 200: a first request, or a server that ignores Range (or If-Range found a new file)
                if offset:
                    self.truncate()
                    offset = self.resumed_from = 0
                total = length
            self.total = total
            self._save_meta(resp, total)
            self._check_space(None if total is None else total - offset, offset)
            self.report(offset)
            got = self._stream(resp, offset)
            partial = resp.status == 206
        offset += got
        if partial and got and got == length and total is not None and offset < total:
            return offset  # the server sends the file in ranges
        if (length is not None and got < length) or (total is not None and offset < total):
            raise self._interrupted(offset, Msg("the server closed the connection early"))
        if total is not None and offset > total:
            self.discard()
            raise DownloadCorrupt(
                Msg(
                    "{url} sent {sent} bytes for a {total}-byte file; the file was removed. Try again.",
                    url=self.shown,
                    sent=format(offset, ","),
                    total=format(total, ","),
                )
            )
        return self._finish(offset)

    def _save_meta(self, resp: urllib3.BaseHTTPResponse, total: int | None) -> None:
        note = {
            "url": self.url,
            "total": total,
            "etag": resp.headers.get("ETag"),
            "last_modified": resp.headers.get("Last-Modified"),
        }
        self.meta_path.write_text(json.dumps(note))

    def _check_space(self, needed: int | None, offset: int) -> None:
        if needed is None:
            return
        free = shutil.disk_usage(self.part.parent).free
        if needed + DISK_RESERVE > free:
            if offset == 0:
                self.discard()
            raise DiskFull(
                Msg("The model needs {needed} more but only {free} is free in {folder} (Yoake keeps {reserve} free for "
                    "its own data). Free some space or pick a smaller model.", needed=format_size(needed),
                    free=format_size(free), folder=str(self.part.parent), reserve=format_size(DISK_RESERVE)),
                needed=needed, free=free,
            )  # fmt: skip

    def _interrupted(self, done: int, why: str, cls: type[DownloadInterrupted] = DownloadInterrupted) -> DownloadInterrupted:
        if done == 0:
            self.discard()
            return cls(
                Msg("The download from {url} stopped before any data arrived ({why}). Try again.", url=self.shown, why=why),
                done=0, total=self.total,
            )  # fmt: skip
        size = (
            Msg("{done} of {total}", done=format_size(done), total=format_size(self.total)) if self.total else format_size(done)
        )
        return cls(Msg("The download stopped after {size} ({why}). What arrived is kept: download again to resume.",
                       size=size, why=why), done=done, total=self.total)  # fmt: skip

    def _stream(self, resp: urllib3.BaseHTTPResponse, offset: int) -> int:
        """Append the body at `offset`; returns the bytes written. The first 4 bytes of a new file must
        be the GGUF magic: anything else is refused before more is read."""
        os.lseek(self.fd, offset, os.SEEK_SET)
        pending = b"" if offset == 0 else None  # the first bytes, held until the magic is checked
        got = 0
        last = time.monotonic()
        while True:
            if self.cancel is not None and self.cancel.is_set():
                raise self._interrupted(offset + got, Msg("cancelled"), DownloadCancelled)
            try:
                chunk = resp.read1(self.chunk_size)
            except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
                raise self._interrupted(
                    offset + got, Msg("no data for {seconds} s", seconds=format(self.timeout, ".0f"))
                ) from None
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                raise self._interrupted(offset + got, Msg("connection lost: {error}", error=type(exc).__name__)) from None
            if not chunk:
                break
            if pending is not None:
                pending += chunk
                if len(pending) < len(GGUF_MAGIC):
                    continue
                if pending[:4] != GGUF_MAGIC:
                    self.discard()
                    raise NotAGGUF(
                        Msg(
                            "{url} is not a GGUF model file ({why}). Nothing was kept. On Hugging Face, use the file's "
                            "download link (…/resolve/main/<file>.gguf), not its page (…/blob/…).",
                            url=self.shown,
                            why=describe_start(pending[:16]),
                        )
                    )
                chunk, pending = pending, None
            try:
                _write(self.fd, chunk)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    self.discard()  # a disk-filling .part would also stop the app's own writes
                    free = shutil.disk_usage(self.part.parent).free
                    needed = None if self.total is None else self.total - (offset + got)
                    where = dict(done=format_size(offset + got), free=format_size(free), folder=str(self.part.parent))
                    detail = (
                        Msg("The disk filled up after {done}: {free} is free in {folder}. The partial file was removed "
                            "to give the space back.", **where)
                        if needed is None else
                        Msg("The disk filled up after {done}: it needs {needed} more and {free} is free in {folder}. The "
                            "partial file was removed to give the space back.", needed=format_size(needed), **where)
                    )  # fmt: skip
                    raise DiskFull(detail, needed=needed, free=free) from None
                raise
            got += len(chunk)
            now = time.monotonic()
            if now - last >= self.progress_interval:
                last = now
                self.report(offset + got)
        if pending is not None and pending:
            self.discard()
            raise NotAGGUF(
                Msg(
                    "{url} sent {count} bytes, which is not a GGUF model file. Nothing was kept.",
                    url=self.shown,
                    count=len(pending),
                )
            )
        return got

    def _finish(self, size: int) -> DownloadResult:
        os.fsync(self.fd)
        try:
            info = read_gguf_info(self.part)
        except InvalidModelFile as exc:
            self.discard()
            raise DownloadCorrupt(Msg("The download from {url} is complete by the server's count but unusable: {why} "
                                      "It was removed; try again.", url=self.shown, why=exc.detail)) from None  # fmt: skip
        if self.sha256 and (got := _sha256_of(self.fd)) != self.sha256.lower():
            self.discard()
            raise DownloadCorrupt(Msg("The download from {url} is not the expected file (sha256 {got}…, expected {expected}…). "
                                      "It was removed; check the link or the checksum.", url=self.shown, got=got[:12],
                                      expected=self.sha256[:12]))  # fmt: skip
        self.report(size)
        os.replace(self.part, self.dest)
        self.meta_path.unlink(missing_ok=True)
        seconds = time.monotonic() - self.started
        return DownloadResult(self.dest, size, size - self.resumed_from, self.resumed_from, seconds, False, info)


def _connect_problem(exc: urllib3.exceptions.HTTPError) -> str:
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # before timeouts: it subclasses ConnectTimeoutError
        return Msg("the connection was refused") if "refused" in str(exc).lower() else Msg("no connection could be made")
    if isinstance(exc, (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError)):
        return Msg("it did not answer in time")
    if isinstance(exc, urllib3.exceptions.SSLError):
        return Msg("the secure connection failed (the certificate could not be verified)")
    return type(exc).__name__


def _http_error(status: int, reason: object, shown: str) -> ModelHTTPError:
    if status == 404:
        return ModelURLNotFound(
            Msg(
                "{url} answered 404 Not Found. Check the link: on Hugging Face, copy the .gguf file's download link "
                "(…/resolve/main/<file>.gguf).",
                url=shown,
            ),
            status=status,
        )
    if status in (401, 403):
        return ModelHTTPError(
            Msg("{url} refused access (HTTP {status}). Gated Hugging Face models need a login, which Yoake does not do: "
                "choose an ungated GGUF, such as a recommended one.", url=shown, status=status),
            status=status, title=Msg("Access denied (HTTP {status}).", status=status),
        )  # fmt: skip
    retry = status == 429 or status >= 500
    said = dict(url=shown, status=status, reason=reason)
    detail = Msg("{url} answered HTTP {status} {reason}. Try again in a moment.", **said) if retry else Msg(
        "{url} answered HTTP {status} {reason}.", **said)  # fmt: skip
    return ModelHTTPError(detail, status=status, title=Msg("The server answered HTTP {status}.", status=status),
                          retryable=retry)  # fmt: skip


def download_model(
    url: str,
    *,
    folder: Path,
    filename: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
    progress_interval: float = 0.25,
    chunk_size: int = 1 << 20,
    allow_private: bool | None = None,
    sha256: str | None = None,
) -> DownloadResult:
    """Download a .gguf into the models folder (resuming a kept .part), or return the file if it is
    already there. `progress` is called on this thread at most every `progress_interval` seconds and
    once at the end with done == total; setting `cancel` stops at the next chunk (the .part is kept).
    `timeout` bounds the connection and every read. Every connection, redirects included, goes only to
    public addresses (lib/core/netguard.py; `allow_private`, by default YOAKE_FETCH_ALLOW_PRIVATE, adds
    loopback and private networks): a refused link raises DownloadRefused and leaves nothing behind. With
    `sha256` the finished file must have that digest (else DownloadCorrupt, nothing kept). Raises a
    ModelError subclass for each failure."""
    url = url.strip()
    check_url(url)
    name = model_filename(url, filename)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    if dest.is_file():
        size = dest.stat().st_size
        if progress:
            progress(DownloadProgress(size, size, 0.0, size))
        return DownloadResult(dest, size, 0, size, 0.0, True)
    part = folder / (name + PART_SUFFIX)
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DownloadBusy(
                    Msg("{name} is being downloaded already (another tab or session). Wait for it to finish.", name=name)
                ) from None
        if allow_private is None:
            allow_private = load_settings().fetch_allow_private
        pools = netguard.GuardedPools(allow_private, USER_AGENT)
        job = _Download(url, dest, part, fd, progress, cancel, timeout, progress_interval, chunk_size, pools, sha256)
        if dest.is_file():  # another session finished it while we waited to open the .part
            if os.fstat(fd).st_size == 0:
                job.discard()
            size = dest.stat().st_size
            return DownloadResult(dest, size, 0, size, 0.0, True)
        try:
            with pools:
                return job.run()
        except BaseException:
            # Whatever stopped us (an error, a rerun raising through the progress callback), an empty
            # .part is not left behind; a non-empty one is kept for resuming.
            if part.exists() and os.fstat(fd).st_size == 0:
                job.discard()
            raise
    finally:
        os.close(fd)


def follow_download(url: str, folder: Path, progress: ProgressCallback, *, timeout: float, interval: float = 0.5) -> Path:
    """Wait for a download another session is running (DownloadBusy), reporting its progress from the
    .part on disk, until the file is there. DownloadInterrupted when that download stops without it, or
    after `timeout` seconds."""
    dest = folder / model_filename(url)
    part = folder / (dest.name + PART_SUFFIX)
    started = time.monotonic()
    first: int | None = None
    while time.monotonic() - started < timeout:
        if dest.is_file():
            size = dest.stat().st_size
            progress(DownloadProgress(size, size, 0.0, first or 0))
            return dest
        try:
            done = part.stat().st_size
        except FileNotFoundError:
            time.sleep(interval)  # between the .part's rename and the final name, or the other download failed
            if not dest.is_file() and not part.exists():
                raise DownloadInterrupted(
                    Msg("The download of {name} that another visitor started stopped. Reload the page to try again.",
                        name=dest.name),
                    done=0, total=None,
                ) from None  # fmt: skip
            continue
        first = done if first is None else first
        elapsed = time.monotonic() - started
        total = read_part_note(part_note_path(part)).get("total")
        speed = (done - first) / MB / elapsed if elapsed > 0 else 0.0
        progress(DownloadProgress(done, total if isinstance(total, int) else None, speed, first))
        time.sleep(interval)
    raise DownloadInterrupted(
        Msg("{name} was still downloading after {seconds} s. Reload the page to keep waiting.", name=dest.name,
            seconds=format(timeout, ".0f")),
        done=0, total=None,
    )  # fmt: skip
