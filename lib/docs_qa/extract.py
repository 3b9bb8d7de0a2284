"""From a file's bytes to text (or a PDF's pages), or a short reason why the file is skipped."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import PurePath

from lib.core.errors import YoakeError
from lib.core.i18n import Msg

logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files warn per object: not the user's concern

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 2000

MARKDOWN = {".md", ".markdown", ".mdx", ".mkd"}
RST = {".rst"}
TEXT = {".txt", ".text", ".log", ".csv", ".tsv", ""}
HTML = {".html", ".htm", ".xhtml"}
PYTHON = {".py", ".pyi", ".pyw"}
CODE = {
    ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".kts", ".scala", ".c", ".h", ".cc", ".cpp",
    ".cxx", ".hpp", ".hh", ".cs", ".swift", ".m", ".mm", ".rb", ".php", ".pl", ".pm", ".lua", ".r", ".jl", ".dart", ".ex",
    ".exs", ".erl", ".hs", ".clj", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".sql", ".css", ".scss", ".less", ".vue",
    ".svelte", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".json", ".xml", ".proto", ".graphql", ".tf", ".cmake",
    ".gradle", ".bat",
}  # fmt: skip
CODE_NAMES = {"makefile", "dockerfile", "jenkinsfile", "rakefile", "gemfile", "cmakelists.txt"}
SUPPORTED = sorted(MARKDOWN | RST | (TEXT - {""}) | HTML | PYTHON | CODE | {".pdf"})

_MAGIC = [
    (b"\x89PNG", Msg("a PNG image")), (b"\xff\xd8\xff", Msg("a JPEG image")), (b"GIF8", Msg("a GIF image")),
    (b"PK\x03\x04", Msg("a ZIP archive (docx, xlsx, jar…)")), (b"\x1f\x8b", Msg("a gzip archive")),
    (b"\x7fELF", Msg("a program (ELF binary)")), (b"MZ", Msg("a Windows program")),
    (b"SQLite format 3", Msg("an SQLite database")), (b"RIFF", Msg("a media file")), (b"\x00\x00\x00", Msg("a binary file")),
]  # fmt: skip


class Skipped(YoakeError):
    """A file that cannot be indexed; `detail` is the per-file reason shown to the user (a `Msg`)."""

    kind = "docs_skipped"
    title = Msg("File skipped.")


@dataclass
class Extracted:
    kind: str  # markdown | rst | text | html | python | code | pdf
    text: str = ""  # the file's text (not a PDF)
    pages: list[str] | None = None  # a PDF's text, page by page
    outline: list[tuple[int, int, str]] | None = None  # a PDF's bookmarks: (page, level, title)


def kind_of(name: str) -> str | None:
    path = PurePath(name)
    ext = path.suffix.lower()
    if path.name.lower() in CODE_NAMES:
        return "code"
    for kind, exts in (("markdown", MARKDOWN), ("rst", RST), ("html", HTML), ("python", PYTHON), ("code", CODE)):
        if ext in exts:
            return kind
    if ext == ".pdf":
        return "pdf"
    if ext in TEXT:
        return "text"
    return None


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def too_large(size: int, limit: int) -> Msg:
    return Msg("too large ({size}; the limit is {limit})", size=_size(size), limit=_size(limit))


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, or Shift_JIS/CP932 (common for Japanese files)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Skipped(Msg("not text in a known encoding (tried UTF-8, UTF-16 and Shift_JIS)"))


def extract(name: str, data: bytes, *, max_bytes: int = MAX_FILE_BYTES) -> Extracted:
    """The file's text by its kind; `Skipped` with the reason for a file that cannot be indexed."""
    if not data:
        raise Skipped(Msg("empty file"))
    if len(data) > max_bytes:
        raise Skipped(too_large(len(data), max_bytes))
    kind = "pdf" if data.startswith(b"%PDF-") else kind_of(name)
    if kind == "pdf":
        return _pdf(data)
    head = data[:8192]
    is_utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not is_utf16:
        for magic, what in _MAGIC:
            if data.startswith(magic):
                raise Skipped(Msg("binary file ({what})", what=what))
        if b"\x00" in head:
            raise Skipped(Msg("binary file (not text)"))
    if kind is None:
        raise Skipped(Msg("unsupported file type '{ext}'", ext=PurePath(name).suffix.lower()))
    text = decode(data).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise Skipped(Msg("no text (only whitespace)"))
    return Extracted(kind, text=text)


def _pdf(data: bytes) -> Extracted:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # an owner password alone still opens with ""
            except DependencyError:
                raise Skipped(Msg("encrypted PDF (AES; save an unencrypted copy)")) from None
            if opened == PasswordType.NOT_DECRYPTED:
                raise Skipped(Msg("password-protected PDF"))
        count = len(reader.pages)
    except Skipped:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file can make the parser fail in any way
        raise Skipped(Msg("damaged PDF ({error})", error=str(exc) or type(exc).__name__)) from None
    if count == 0:
        raise Skipped(Msg("damaged PDF (no pages)"))
    if count > MAX_PDF_PAGES:
        raise Skipped(
            Msg("too many pages ({count}; the limit is {limit})", count=format(count, ","), limit=format(MAX_PDF_PAGES, ","))
        )
    pages: list[str] = []
    for page in reader.pages:
        try:
            pages.append((page.extract_text() or "").replace("\r\n", "\n"))
        except Exception:  # noqa: BLE001 - one broken page costs its text, not the document
            pages.append("")
    if not any(p.strip() for p in pages):
        raise Skipped(
            Msg("PDF has no text layer ({count} pages of images: a scan? run OCR first)", count=count)
            if count > 1
            else Msg("PDF has no text layer ({count} page of images: a scan? run OCR first)", count=count)
        )
    return Extracted("pdf", pages=pages, outline=_outline(reader))


def _outline(reader: object) -> list[tuple[int, int, str]]:
    """(page, level, title) of the PDF's bookmarks, in page order; [] when it has none or they are broken."""
    out: list[tuple[int, int, str]] = []

    def walk(items: list, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item) + 1  # type: ignore[attr-defined]
                title = str(item.title).strip()
            except Exception:  # noqa: BLE001
                continue
            if title and page > 0:
                out.append((page, level, title))

    try:
        walk(reader.outline, 0)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        return []
    return sorted(out, key=lambda t: t[0])
