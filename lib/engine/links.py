"""Model links and the file names they give: what may be downloaded, and how a link is shown (never with
its user info, query or fragment: a signed link or `?token=` stays private). lib/engine/download.py
downloads; these are its checks, shared with the catalog (lib/engine/models.py).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from lib.core.i18n import Msg
from lib.engine.errors import BadModelURL, UnsafeModelName


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
        return Msg("(an invalid link)")
    return f"{parts.scheme}://{host}{parts.path}"


def check_url(url: str) -> None:
    """http/https with a host, or BadModelURL."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise BadModelURL(Msg("That is not a valid link ({error}).", error=str(exc))) from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else Msg("no scheme")
        raise BadModelURL(
            Msg("Only http:// and https:// links can be downloaded ({scheme}). Paste the file's download link.", scheme=shown)
        )
    if not host:
        raise BadModelURL(Msg("The link has no host name."))
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise BadModelURL(Msg("The link contains spaces or control characters."))


_UNSAFE_CHARS = re.compile(r"[^\w.+-]")


def model_filename(url: str, filename: str | None = None) -> str:
    """The file name a download gets in the models folder: `filename`, else the URL path's last segment
    (percent-decoded). A name that would leave the folder (separators, `..`, a leading dot, NUL) is
    refused, other odd characters become `_`, and it must end in .gguf."""
    if filename is None:
        raw = urlsplit(url.strip()).path.rsplit("/", 1)[-1]
        name = unquote(raw)
        if not name:
            raise BadModelURL(Msg("The link does not end in a file name: paste the direct link to the .gguf file."))
    else:
        name = filename
    if "/" in name or "\\" in name or "\x00" in name or name.startswith(".") or ".." in name.split("."):
        raise UnsafeModelName(
            Msg("The file name {name} would be written outside the models folder; it was refused.", name=repr(name))
        )
    if any(ord(c) < 32 for c in name):
        raise UnsafeModelName(Msg("The file name contains control characters; it was refused."))
    name = _UNSAFE_CHARS.sub("_", name)
    if not name.lower().endswith(".gguf"):
        raise BadModelURL(
            Msg(
                "The link names {name}, not a .gguf file. On Hugging Face, copy the download link of the .gguf file "
                "(…/resolve/main/<file>.gguf).",
                name=repr(name),
            )
        )
    if len(name.encode()) > 200:
        raise UnsafeModelName(Msg("The file name is too long."))
    return name
