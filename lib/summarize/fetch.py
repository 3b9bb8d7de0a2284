"""Fetching a web page and extracting its main text (trafilatura), with a specific error per failure.

Trafilatura's own `fetch_response` returns None for every failure (and retries 5xx with a
multi-second backoff), so the page could not say *why* a URL failed. We fetch with urllib3
(trafilatura's own HTTP library) under explicit limits - http/https only, a timeout, a maximum
download size, a redirect limit with loop detection, a real user-agent - and hand the HTML to
trafilatura's extractor.

Every connection goes to an address lib/core/netguard.py checked (public only, unless
YOAKE_FETCH_ALLOW_PRIVATE opens loopback and private networks), at every redirect: the host is
resolved once and the socket connects to that very address (`netguard.GuardedPools`), while the
Host header, TLS SNI and the certificate check still use the host name. A PDF (by its type or its
bytes) is downloaded under the same size limit and read by lib/summarize/pdf.py.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import trafilatura
import urllib3
from trafilatura.utils import decode_file
from trafilatura.xml import xmltotxt

from lib.core import netguard
from lib.core.config import Settings
from lib.core.i18n import Msg
from lib.summarize.document import MIN_WORDS, Document, FetchError, clip
from lib.summarize.pdf import read_pdf

# A browser-like agent: some sites refuse unknown agents; the suffix says who we are.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Yoake/0.1"

TEXT_TYPES = ("text/", "application/xhtml", "application/xml", "application/rss", "application/atom", "application/json")

# Leading bytes of the binary formats users paste links to most often.
_MAGIC: tuple[tuple[bytes, Msg], ...] = (
    (b"%PDF-", Msg("a PDF document")),
    (b"\x89PNG\r\n\x1a\n", Msg("a PNG image")),
    (b"\xff\xd8\xff", Msg("a JPEG image")),
    (b"GIF87a", Msg("a GIF image")),
    (b"GIF89a", Msg("a GIF image")),
    (b"PK\x03\x04", Msg("a ZIP archive (or an Office document)")),
    (b"\x1f\x8b", Msg("a gzip archive")),
    (b"7z\xbc\xaf\x27\x1c", Msg("a 7-Zip archive")),
    (b"Rar!", Msg("a RAR archive")),
    (b"\x7fELF", Msg("a program")),
    (b"ID3", Msg("an MP3 file")),
)


@dataclass(frozen=True)
class FetchLimits:
    timeout: float = 15.0  # seconds, for connecting and for the whole download
    max_bytes: int = 5_000_000  # a page, a PDF or an upload
    max_redirects: int = 5
    max_pages: int = 300  # of a PDF
    allow_private: bool = False  # loopback and private networks (never link-local / metadata)

    @classmethod
    def from_settings(cls, cfg: Settings) -> FetchLimits:
        return cls(timeout=cfg.fetch_timeout, max_bytes=int(cfg.fetch_max_mb * 1_000_000),
                   max_redirects=cfg.fetch_max_redirects, max_pages=cfg.fetch_max_pages,
                   allow_private=cfg.fetch_allow_private)  # fmt: skip


@dataclass
class Fetched:
    url: str  # as requested (normalised)
    final_url: str  # after redirects
    status: int
    content_type: str
    html: str  # the decoded text ("" for a PDF)
    size: int  # bytes downloaded
    redirects: list[str] = field(default_factory=list)
    data: bytes = b""  # the body as downloaded
    pdf: bool = False


_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


def normalize_url(raw: str) -> str:
    """Validate a user-typed URL; a bare host like `example.com/x` gets https://."""
    url = (raw or "").strip()
    if not url:
        raise FetchError(
            "empty_url", Msg("No URL given."), Msg("Paste a web address starting with https://, or paste the text itself.")
        )
    match = _SCHEME.match(url)
    # "localhost:8000/x" or "example.com:8080" are host:port, not a scheme.
    if match and not re.match(r"^[^:/]+:\d+(/|$)", url):
        scheme = match.group(1).lower()
        if scheme not in ("http", "https"):
            raise FetchError(
                "bad_scheme",
                Msg("'{scheme}:' links cannot be summarised.", scheme=scheme),
                Msg("Only web pages (http:// or https://) can be fetched. For a local file, upload it instead."),
            )
    elif re.match(r"^[\w.-]+(:\d+)?(/\S*)?$", url) and ("." in url.split("/")[0] or url.startswith("localhost")):
        url = "https://" + url
    else:
        raise FetchError(
            "malformed_url",
            Msg("That does not look like a web address."),
            Msg("Expected something like https://example.com/article, got '{got}'.", got=clip(url)),
        )
    if any(ch.isspace() for ch in url):
        raise FetchError("malformed_url", Msg("That web address contains spaces."), Msg("Check that the whole URL was pasted."))
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise _malformed(exc) from None
    if not host:
        raise FetchError(
            "malformed_url",
            Msg("That web address has no host name."),
            Msg("Expected something like https://example.com/article."),
        )
    return url


def _malformed(exc: ValueError) -> FetchError:
    """A URL the parser refused; its reason (Python's own English, or our `Msg`) in the detail."""
    said = exc.args[0] if exc.args and isinstance(exc.args[0], Msg) else str(exc)
    return FetchError(
        "malformed_url", Msg("That web address is malformed."), Msg("{error}. Check that the whole URL was pasted.", error=said)
    )


def sniff_binary(data: bytes) -> str | None:
    """A description of the binary format the bytes start with, or None for (probably) text."""
    head = data[:16]
    for magic, label in _MAGIC:
        if head.startswith(magic):
            return label
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Msg("a WebP image")
    if b"\x00" in data[:1024]:  # text formats (UTF-8, Latin-1, …) never contain NUL
        return Msg("a binary file")
    return None


def _is_text_type(content_type: str) -> bool:
    return not content_type or content_type.startswith(TEXT_TYPES) or "+xml" in content_type


_TYPE_LABELS = {
    "application/pdf": Msg("a PDF document"),
    "application/zip": Msg("a ZIP archive"),
    "application/x-zip-compressed": Msg("a ZIP archive"),
    "application/gzip": Msg("a gzip archive"),
    "application/octet-stream": Msg("a binary download"),
    "image": Msg("an image"),
    "audio": Msg("an audio file"),
    "video": Msg("a video"),
}


def _not_text(what: str) -> FetchError:
    return FetchError(
        "not_text",
        Msg("This link is {what}, not a web page.", what=what),
        Msg("Only HTML and plain-text pages can be summarised. Download it and paste its text instead."),
    )


def _status_error(status: int, url: str) -> FetchError:
    url = clip(url)
    if status in (401, 403):
        detail = Msg(
            "The site refused access (it may need a login or block automated readers). Paste the text instead. ({url})", url=url
        )
    elif status in (404, 410):
        detail = Msg("The page does not exist (any more). Check the URL. ({url})", url=url)
    elif status == 429:
        detail = Msg("The site is rate-limiting requests. Wait a moment and try again. ({url})", url=url)
    elif status >= 500:
        detail = Msg("The site had a server error. Try again later. ({url})", url=url)
    else:
        detail = Msg("The site did not return the page. ({url})", url=url)
    return FetchError("http_status", Msg("The site answered HTTP {status}.", status=status), detail)


# Declared types worth downloading to look at: a PDF is read; a generic download may be one.
_PDF_TYPES = ("application/pdf", "application/x-pdf")
_MAYBE_PDF_TYPES = ("application/octet-stream", "binary/octet-stream", "application/download", "application/force-download")


def fetch(url: str, limits: FetchLimits | None = None) -> Fetched:
    """GET a page under the limits, following redirects ourselves; FetchError for every expected failure."""
    limits = limits or FetchLimits()
    start_url = normalize_url(url)
    current = start_url
    seen = {current}
    redirects: list[str] = []
    deadline = time.monotonic() + limits.timeout
    pools = netguard.GuardedPools(limits.allow_private, USER_AGENT)
    came_from: str | None = None  # the page that redirected here
    try:
        while True:
            resp = _request(pools, current, limits, deadline, redirected_from=came_from)
            data = None
            try:
                if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                    target = urljoin(current, resp.headers["Location"])
                    scheme = urlsplit(target).scheme.lower()
                    if scheme not in ("http", "https"):
                        raise FetchError(
                            "bad_scheme",
                            Msg("The page redirects to a '{scheme}:' link.", scheme=scheme),
                            Msg("Only http:// and https:// pages can be fetched."),
                        )
                    if target in seen:
                        raise FetchError(
                            "redirect_loop",
                            Msg("The page redirects in a loop."),
                            Msg("{page} leads back to {target}, so it never arrives at a page.",
                                page=clip(current), target=clip(target)),
                        )  # fmt: skip
                    if len(redirects) >= limits.max_redirects:
                        raise FetchError(
                            "too_many_redirects",
                            Msg("Too many redirects."),
                            Msg("Gave up after {n} redirects (last: {target}).", n=limits.max_redirects, target=clip(target)),
                        )
                    seen.add(target)
                    redirects.append(target)
                    came_from, current = current, target
                    continue  # the next request checks the target's address again
                if resp.status >= 400:
                    raise _status_error(resp.status, current)
                raw_type = resp.headers.get("Content-Type") or ""
                content_type = raw_type.split(";")[0].strip().lower()
                if not (_is_text_type(content_type) or content_type in _PDF_TYPES + _MAYBE_PDF_TYPES):
                    # refuse a declared image/archive before downloading it
                    raise _not_text(
                        _TYPE_LABELS.get(content_type)
                        or _TYPE_LABELS.get(content_type.split("/")[0])
                        or Msg("'{type}' content", type=content_type)
                    )
                data = _read_capped(resp, limits, deadline)
            finally:
                if data is None:  # body left unread (redirect, error, refusal): don't reuse the connection
                    resp.close()
                resp.release_conn()
            break
    finally:
        pools.close()
    if data.startswith(b"%PDF-") or (content_type in _PDF_TYPES and b"%PDF-" in data[:1024]):
        return Fetched(start_url, current, resp.status, "application/pdf", "", len(data), redirects, data, pdf=True)
    if content_type in _PDF_TYPES:
        raise FetchError(
            "pdf_unreadable",
            Msg("This link says it is a PDF document, but it is not one."),
            Msg(
                "The site sent something else ({size} bytes). Open it in your browser to see what it is.",
                size=format(len(data), ","),
            ),
        )
    binary = sniff_binary(data)  # mislabelled binaries ("text/html" that is really a PNG)
    if binary:
        raise _not_text(binary)
    if content_type in _MAYBE_PDF_TYPES:
        content_type = ""  # a text file sent as a download: judged by its content below
    return Fetched(start_url, current, resp.status, content_type, _decode(data, raw_type), len(data), redirects, data)


def _decode(data: bytes, content_type: str) -> str:
    """The declared charset when it works, else trafilatura's guess (meta tags, detection)."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    if match:
        try:
            return data.decode(match.group(1))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_file(data)


def _refused(refusal: netguard.Refusal, url: str, redirected_from: str | None) -> FetchError:
    if refusal.opens_with_setting:
        detail = Msg(
            "{refusal}. The summariser only fetches public web pages, so that nobody can use it to reach the machine it "
            "runs on, its private network or its cloud credentials. To summarise intranet pages on your own computer, "
            "set YOAKE_FETCH_ALLOW_PRIVATE=1 (link-local and cloud metadata addresses stay refused even then).",
            refusal=netguard.describe(refusal),
        )
    else:
        detail = Msg(
            "{refusal}. The summariser only fetches public web pages, so that nobody can use it to reach the machine it "
            "runs on, its private network or its cloud credentials. This address is refused even with "
            "YOAKE_FETCH_ALLOW_PRIVATE=1.",
            refusal=netguard.describe(refusal),
        )
    if redirected_from:
        return FetchError(
            "blocked_address",
            Msg("The page redirects to an address that is not allowed."),
            Msg("{page} redirects to {target}: {detail}", page=clip(redirected_from), target=clip(url), detail=detail),
        )
    return FetchError("blocked_address", Msg("This address is not allowed."), detail)


def _request(
    pools: netguard.GuardedPools, url: str, limits: FetchLimits, deadline: float, redirected_from: str | None = None
) -> urllib3.BaseHTTPResponse:
    host = urlsplit(url).hostname or ""
    remaining = max(0.1, deadline - time.monotonic())
    try:
        return pools.urlopen(
            url,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.5",
            },
            timeout=urllib3.Timeout(connect=min(remaining, limits.timeout), read=remaining),
        )
    except netguard.AddressRefused as exc:
        raise _refused(exc.refusal, url, redirected_from) from None
    except ValueError as exc:
        raise _malformed(exc) from None
    except (socket.gaierror, UnicodeError):
        raise FetchError(
            "unknown_host",
            Msg("The host '{host}' could not be found.", host=host),
            Msg("Check the spelling of the address, or your network connection."),
        ) from None
    except urllib3.exceptions.NewConnectionError as exc:  # before timeouts: it subclasses ConnectTimeoutError
        if isinstance(exc.__cause__, ConnectionRefusedError) or "refused" in str(exc).lower():
            raise FetchError(
                "connection_refused",
                Msg("'{host}' refused the connection.", host=host),
                Msg("Nothing is answering at that address and port. Check the URL, or try later."),
            ) from None
        if "timed out" in str(exc).lower():
            raise _timeout(limits) from None
        raise FetchError(
            "connection", Msg("Could not connect to '{host}'.", host=host), Msg("Check the URL and your network connection.")
        ) from None
    except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError):
        raise _timeout(limits) from None
    except urllib3.exceptions.SSLError:
        raise FetchError(
            "ssl",
            Msg("The secure connection to '{host}' failed.", host=host),
            Msg("The site's certificate could not be verified."),
        ) from None
    except urllib3.exceptions.HTTPError as exc:
        raise FetchError(
            "connection",
            Msg("The connection to '{host}' failed.", host=host),
            Msg("{error}. Try again.", error=type(exc).__name__),
        ) from None


def _timeout(limits: FetchLimits) -> FetchError:
    return FetchError(
        "timeout",
        Msg("The site took too long to answer."),
        Msg(
            "No complete page within {seconds} s. Try again later, or paste the text instead.",
            seconds=format(limits.timeout, "g"),
        ),
    )


def _read_capped(resp: urllib3.BaseHTTPResponse, limits: FetchLimits, deadline: float) -> bytes:
    too_large = FetchError(
        "too_large",
        Msg("The page is too large."),
        Msg("It is over the {mb} MB download limit. Paste the part you need instead.", mb=format(limits.max_bytes / 1e6, "g")),
    )
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise too_large  # refuse before downloading anything
    out = bytearray()
    try:
        for chunk in resp.stream(64 * 1024):  # decompressed: the cap holds for gzip bombs too
            out += chunk
            if len(out) > limits.max_bytes:
                raise too_large
            if time.monotonic() > deadline:  # the read timeout is per chunk; this bounds the total
                raise _timeout(limits)
    except urllib3.exceptions.ReadTimeoutError:
        raise _timeout(limits) from None
    except urllib3.exceptions.HTTPError as exc:  # dropped connection, broken chunking, bad gzip
        raise FetchError(
            "connection", Msg("The download was interrupted."), Msg("{error}. Try again.", error=type(exc).__name__)
        ) from None
    return bytes(out)


# --- extraction ---------------------------------------------------------------------------------


EXTRACTION_MODES = ("balanced", "precision", "recall")
_JS_ONLY = re.compile(r"(enable|turn on|activate)\s+javascript|javascript\s+(is\s+)?(required|disabled|needed)", re.I)


_NOTHING_TITLES = {
    "url": Msg("No readable text could be extracted from this page."),
    "paste": Msg("No readable text could be extracted from the pasted HTML."),
    "upload": Msg("No readable text could be extracted from the uploaded file."),
}


def _nothing(source: str) -> FetchError:
    return FetchError(
        "nothing_extracted",
        _NOTHING_TITLES.get(source, _NOTHING_TITLES["upload"]),
        Msg("It may be built by JavaScript in the browser or be mostly images. "
            "Open it in your browser, copy the text and paste it here instead."),
    )  # fmt: skip


def extract(html: str, url: str | None = None, mode: str = "balanced", *, source: str = "url") -> Document:
    """Main text as markdown (tables kept) plus metadata, in one trafilatura pass."""
    doc = trafilatura.bare_extraction(
        html,
        url=url,
        output_format="markdown",
        with_metadata=True,
        include_tables=True,
        include_comments=False,
        favor_precision=mode == "precision",
        favor_recall=mode == "recall",
    )
    if doc is None:
        raise _nothing(source)
    text = xmltotxt(doc.body, include_formatting=True).strip()
    result = Document(
        text=text,
        title=doc.title,
        author=doc.author,
        date=doc.date,
        sitename=doc.sitename or doc.hostname,
        url=url,
        source=source,
        language=doc.language,
    )
    if result.word_count < MIN_WORDS or (_JS_ONLY.search(text) and result.word_count < 60):
        raise _nothing(source)
    return result


def load_url(url: str, limits: FetchLimits | None = None, mode: str = "balanced") -> Document:
    """Fetch and extract; a plain-text page is taken as it is, a PDF is read page by page."""
    limits = limits or FetchLimits()
    page = fetch(url, limits)
    if page.pdf:
        name = urlsplit(page.final_url).path.rsplit("/", 1)[-1] or None
        doc = read_pdf(page.data, name=name, max_pages=limits.max_pages, source="url")
        doc.url = page.final_url
    elif page.content_type in ("text/plain", "text/markdown") or (not page.content_type and not looks_like_html(page.html)):
        doc = Document(text=page.html.strip(), url=page.final_url, source="url")
        if doc.word_count < MIN_WORDS:
            raise _nothing("url")
    else:
        doc = extract(page.html, page.final_url, mode)
    doc.requested_url = page.url
    return doc


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:1000].lower()
    return head.startswith(("<!doctype html", "<html")) or bool(re.search(r"<(body|p|div|article|h1|table)[\s>]", head))


def from_text(text: str, *, source: str = "paste", mode: str = "balanced", name: str | None = None) -> Document:
    """A pasted text or HTML (or an uploaded file's decoded text) as a Document."""
    text = text.strip()
    if not text:
        raise FetchError("empty_text", Msg("Nothing was pasted."), Msg("Paste the article's text (or its HTML), or give a URL."))
    if looks_like_html(text):
        doc = extract(text, None, mode, source=source)
        doc.title = doc.title or name
        return doc
    doc = Document(text=text, title=name, source=source)
    if doc.word_count < MIN_WORDS:
        raise FetchError("too_short", Msg("The text is too short to summarise."), Msg("It has {n} word(s).", n=doc.word_count))
    return doc


def load_upload(data: bytes, name: str, limits: FetchLimits | None = None, mode: str = "balanced") -> Document:
    """An uploaded file as a Document: a PDF (by its bytes, whatever its name) page by page, else its text."""
    limits = limits or FetchLimits()
    if len(data) > limits.max_bytes:
        raise FetchError(
            "too_large",
            Msg("'{name}' is too large.", name=name),
            Msg("It is {size} MB, over the {limit} MB limit (YOAKE_FETCH_MAX_MB).",
                size=format(len(data) / 1e6, ".1f"), limit=format(limits.max_bytes / 1e6, "g")),
        )  # fmt: skip
    if data.startswith(b"%PDF-"):
        return read_pdf(data, name=name, max_pages=limits.max_pages, source="upload")
    return from_text(decode_upload(data, name), source="upload", mode=mode, name=name)


def decode_upload(data: bytes, name: str) -> str:
    """The text of an uploaded file, or FetchError when it is not text (PDF, image, binary, bad encoding)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 (Windows Notepad) has NULs but is text
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    binary = sniff_binary(data)
    if binary:
        raise FetchError(
            "not_text",
            Msg("'{name}' is {what}, not a text file.", name=name, what=binary),
            Msg("Upload an .html, .txt or .md file, or paste the text instead."),
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = decode_file(data)  # trafilatura's charset guess (cp1252, Shift_JIS, …)
    if "\ufffd" in text[:2000]:
        raise FetchError(
            "not_text", Msg("'{name}' is not readable text.", name=name), Msg("Save it as UTF-8 text, or paste the text instead.")
        )
    return text
