"""A PDF (a link or an upload) read page by page with pypdf, with a specific message for the PDFs
that cannot be summarised: damaged, password-protected, scanned (no text layer), too long."""

from __future__ import annotations

import io
import logging

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from lib.core.i18n import Msg
from lib.summarize.document import MIN_WORDS, Document, FetchError, count_words

logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files warn per object: not the user's concern


def _subject(name: str | None, source: str) -> str | None:
    """The uploaded file's name the messages start with, or None for "This link"."""
    return name if source == "upload" and name else None


def _unreadable(name: str | None, why: str | Msg) -> FetchError:
    title = (
        Msg("'{name}' is a PDF document that cannot be read.", name=name)
        if name
        else Msg("This link is a PDF document that cannot be read.")
    )
    return FetchError("pdf_unreadable", title,
                      Msg("It is damaged or incomplete ({why}). If it opens in a PDF viewer, save a fresh copy "
                          "from there or paste its text instead.", why=why))  # fmt: skip


def _metadata(reader: PdfReader) -> tuple[str | None, str | None, str | None]:
    """(title, author, date) from the document information; None for anything missing or broken."""
    try:
        info = reader.metadata
        if info is None:
            return None, None, None
        title = (info.title or "").strip() or None
        author = (info.author or "").strip() or None
        try:
            created = info.creation_date
        except (ValueError, TypeError, PyPdfError):
            created = None
        return title, author, created.date().isoformat() if created else None
    except (ValueError, TypeError, KeyError, AttributeError, PyPdfError):
        return None, None, None


def read_pdf(data: bytes, *, name: str | None = None, max_pages: int = 300, source: str = "upload") -> Document:
    """The PDF's text page by page (`Document.pages`), title, author and date; FetchError otherwise."""
    subject = _subject(name, source)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                # An owner password alone (printing or copying "forbidden") still opens with "".
                opened = reader.decrypt("")
            except DependencyError:
                raise FetchError("pdf_encrypted",
                                 Msg("'{name}' is an encrypted PDF.", name=subject) if subject
                                 else Msg("This link is an encrypted PDF."),
                                 Msg("It uses AES encryption, which this app cannot decrypt. Save an unencrypted copy "
                                     "from a PDF viewer (print to PDF), or paste its text instead.")) from None  # fmt: skip
            if opened == PasswordType.NOT_DECRYPTED:
                raise FetchError("pdf_encrypted",
                                 Msg("'{name}' is a password-protected PDF.", name=subject) if subject
                                 else Msg("This link is a password-protected PDF."),
                                 Msg("Its text is encrypted and cannot be read without the password. Open it with the "
                                     "password, save an unprotected copy (or copy its text) and use that.")) from None  # fmt: skip
        count = len(reader.pages)
    except FetchError:
        raise
    except FileNotDecryptedError as exc:
        raise _unreadable(subject, str(exc) or Msg("encrypted")) from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can make the parser fail in any way
        raise _unreadable(subject, str(exc) or type(exc).__name__) from None
    if count == 0:
        raise _unreadable(subject, Msg("it has no pages"))
    if count > max_pages:
        raise FetchError("too_many_pages", Msg("The PDF is too long."),
                         Msg("It has {count} pages, over the {limit}-page limit (YOAKE_FETCH_MAX_PAGES). "
                             "Split it, or upload the part you need.", count=format(count, ","), limit=format(max_pages, ",")))  # fmt: skip
    pages: list[str] = []
    for page in reader.pages:
        try:
            pages.append(page.extract_text() or "")
        except Exception:  # noqa: BLE001 - one broken page costs its text, not the document
            pages.append("")
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if count_words(text) < MIN_WORDS:
        title = Msg("'{name}' has no text layer.", name=subject) if subject else Msg("This PDF has no text layer.")
        # English needs two wordings (Japanese one): a message each, chosen by the count
        detail = (
            Msg("Its {count} pages are images (a scan or a photo of paper), so there is no text to summarise. "
                "Run it through OCR (for example ocrmypdf) first, or paste the text.", count=count)
            if count > 1
            else Msg("Its {count} page is an image (a scan or a photo of paper), so there is no text to summarise. "
                     "Run it through OCR (for example ocrmypdf) first, or paste the text.", count=count)
        )  # fmt: skip
        raise FetchError("pdf_no_text", title, detail)
    title, author, date = _metadata(reader)
    return Document(text=text, title=title or name, author=author, date=date, source=source, pages=pages)
