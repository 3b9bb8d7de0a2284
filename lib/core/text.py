"""Text for the page. `md_text`: text from outside (model ids from a provider's `/v1/models`, file names, page titles, headings of a
user's documents) shown inside Streamlit's markdown (captions, expander labels, headings) as the
characters it is: never a link, an image, emphasis, a colour directive or a heading."""

from __future__ import annotations

import re

from lib.core.i18n import format_jpy, format_number, format_usd, gettext

# CommonMark lets any ASCII punctuation be escaped with a backslash. These start markup anywhere in a
# line in Streamlit's dialect: links and images ([ ]), emphasis (* _), code (`), HTML and autolinks
# (< >), strikethrough (~), LaTeX ($), tables (|), bare-URL autolinks (:) and `:red[…]` /
# `:material/…:` directives (:).
# Hiragana, katakana (with ー), CJK ideographs (+ extension A, compatibility), 々〆, Hangul: the one
# definition of "a CJK character" (token estimates, word counts, the docs tokenizer, compare's words).
CJK_CHARS = "\u3005\u3006\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"

_INLINE = re.compile(r"([\\`*_\[\]<>~$|:])")
# Streamlit's markdown also links bare URLs, `www.` names and e-mail addresses (GFM autolink literals),
# escaped or not: a word joiner (U+2060, not shown, not copied as a space) after the scheme's colon,
# after `www` and after `@` keeps each from being read as one.
WORD_JOINER = "\u2060"
_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|xmpp):")
_WWW = re.compile(r"(?i)\b(www)\.")
_EMAIL_AT = re.compile(r"@(?=[A-Za-z0-9_-]+\.[A-Za-z0-9_-])")  # GFM: a domain has at least one period
# These only at the start of a line: headings, list items (also "1."), setext underlines.
_LEADING = re.compile(r"^([#+\-=]|\d+(?=[.)]))")


def md_text(value: object) -> str:
    """`value` as literal text for a markdown context, on one line."""
    text = " ".join(str(value).split())
    text = _WWW.sub(rf"\1{WORD_JOINER}.", _SCHEME.sub(rf"\1:{WORD_JOINER}", text))
    text = _EMAIL_AT.sub("@" + WORD_JOINER, text)
    text = _INLINE.sub(r"\\\1", text)
    return _LEADING.sub(lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit() else "\\" + m.group(1), text)


MB = 1_000_000  # sizes are in decimal units, as disks and download pages count them


def format_size(n: int | None) -> str:
    """A byte count as people read it: 98.4 MB, 1.20 GB."""
    if n is None:
        return "?"
    if n >= 1_000_000_000:
        return f"{n / 1e9:.2f} GB"
    if n >= MB:
        return f"{n / MB:.0f} MB" if n >= 10 * MB else f"{n / MB:.1f} MB"
    return f"{n / 1000:.0f} kB"


def format_cost(cost_usd: float | None, qualifier: str = "", *, lang: str = "en", usd_jpy: float | None = None) -> str:
    """The one way a cost is worded: "free (local)", "cost unknown", or "$0.00042" after an optional
    qualifier ("about", "at most") for estimates. Dollars, as providers bill; with `usd_jpy`
    (YOAKE_USD_JPY) an estimate in yen at that rate follows, labelled as such."""
    if cost_usd is None:
        return gettext("cost unknown", lang)
    if cost_usd == 0:
        return gettext("free (local)", lang)
    amount = format_usd(cost_usd, lang)
    if usd_jpy:
        amount = gettext("{usd} (about {jpy} at {rate} yen to the dollar)", lang).format(
            usd=amount, jpy=format_jpy(cost_usd * usd_jpy, lang), rate=format_number(usd_jpy, lang)
        )
    if qualifier == "about":
        return gettext("about {amount}", lang).format(amount=amount)
    if qualifier == "at most":
        return gettext("at most {amount}", lang).format(amount=amount)
    return amount
