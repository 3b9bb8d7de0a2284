"""The GGUF header, read without loading the model.

`read_gguf_info` reads the header itself instead of `gguf.GGUFReader`: the reader parses every tensor
and every vocabulary string into numpy arrays (about 4 s for the shipped 135M model on this machine),
while this walks the key/value section and the tensor table without keeping the vocabulary, and
checks that the file is long enough for every tensor (a truncated download is listed as unusable).
bench/gguf_header.py compares the two.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf.constants import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGMLQuantizationType, GGUFValueType, LlamaFileType

try:  # an advisory lock so two sessions never write one .part; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


from lib.core.i18n import Msg
from lib.engine.errors import InvalidModelFile, ModelFileMissing

GGUF_MAGIC = b"GGUF"

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
                    raise InvalidModelFile(Msg("{name} is not a GGUF file ({why}).", name=path.name, why=describe_start(head)))
                raise InvalidModelFile(
                    Msg("{name} is truncated: {size} bytes, too short for a GGUF header.", name=path.name, size=size)
                )
            data = f.read(_FIRST_READ)
            while True:
                try:
                    return _parse(path, data, size)
                except _NeedMore:
                    if len(data) >= _MAX_HEADER:
                        raise InvalidModelFile(
                            Msg("{name} has a header over {mb} MB: not a model header.", name=path.name, mb=_MAX_HEADER >> 20)
                        ) from None
                    more = f.read(min(len(data) * 3, _MAX_HEADER - len(data)))
                    if not more:  # the file shrank meanwhile
                        raise InvalidModelFile(Msg("{name} changed while it was read.", name=path.name)) from None
                    data += more
    except IsADirectoryError:
        raise InvalidModelFile(Msg("{name} is a folder, not a model file.", name=path.name)) from None
    except FileNotFoundError:
        raise ModelFileMissing(Msg("No file at {path}.", path=str(path))) from None
    except PermissionError:
        raise InvalidModelFile(Msg("{name} cannot be read (permission denied).", name=path.name)) from None


def describe_start(head: bytes) -> Msg:
    if not head:
        return Msg("it is empty")
    text = head.lstrip()[:1]
    if text in (b"<",):
        return Msg("it is a web page (HTML), not the file itself")
    if text in (b"{", b"["):
        return Msg("it is JSON text")
    # The bytes themselves are not shown: a link could point at an internal service's response.
    return Msg("it does not start with the GGUF signature")


def _parse(path: Path, buf: bytes, size: int) -> GGUFInfo:
    """`buf` is the file's first bytes (`size` in all); _NeedMore when the header goes on past them."""
    cur = _Cursor(buf, len(buf))
    magic = bytes(buf[0:4])
    if magic != GGUF_MAGIC:
        raise InvalidModelFile(Msg("{name} is not a GGUF file ({why}).", name=path.name, why=describe_start(bytes(buf[0:16]))))
    cur.take(4)
    version = cur.u32()
    if version not in (2, 3):
        if version & 0xFFFF == 0 and (version >> 24) in (2, 3):
            raise InvalidModelFile(
                Msg("{name} is a big-endian GGUF, which llama.cpp cannot load on this machine.", name=path.name)
            )
        raise InvalidModelFile(
            Msg("{name} has GGUF version {version}; llama.cpp reads versions 2 and 3.", name=path.name, version=version)
        )
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
            Msg(
                "{name} is truncated or corrupt: its header runs past the end of the file ({size} bytes).",
                name=path.name,
                size=format(size, ","),
            )
        ) from None
    except (_Corrupt, struct.error, OverflowError, MemoryError) as exc:
        raise InvalidModelFile(
            Msg("{name} has a corrupt GGUF header ({error}).", name=path.name, error=str(exc) or type(exc).__name__)
        ) from None
    alignment = meta.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = GGUF_DEFAULT_ALIGNMENT
    data_start = -(-cur.pos // alignment) * alignment
    data_end = data_start + tensor_end if known else None
    if data_end is not None and size < data_end:
        raise InvalidModelFile(
            Msg(
                "{name} is truncated: {size} of the {needed} bytes its tensors need (an unfinished download?).",
                name=path.name,
                size=format(size, ","),
                needed=format(data_end, ","),
            )
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
