"""Structure-aware chunking: a file becomes sections (Markdown/reST headings, Python `def`/`class`,
top-level blocks of other code, HTML headings, PDF pages), each section becomes chunks of a few
hundred tokens that overlap a little, cut where the section's units end (paragraphs, fenced code
blocks, HTML blocks) rather than mid-unit whenever a unit fits. Every chunk knows its heading path
and its line range in the file (1-based, inclusive), or its page for a PDF.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from lib.docs_qa.extract import Extracted
from lib.llm.chat import estimate_tokens

TARGET_TOKENS = 320  # "a few hundred": room for 5+ passages in a small model's 8k context
OVERLAP_TOKENS = 48
HEADING_SEP = " > "


@dataclass(frozen=True)
class Chunk:
    heading: str  # heading path, outermost first, joined by " > "; "" when there is none
    text: str
    start_line: int | None  # 1-based, inclusive; None for a PDF
    end_line: int | None
    page: int | None = None  # a PDF's page (1-based)


@dataclass(frozen=True)
class _Seg:
    text: str  # one line (or a piece of one); "" is a blank line
    start: int
    end: int


Unit = list[_Seg]  # a paragraph, code block, HTML block…: cut inside it only when it does not fit
_Section = tuple[list[str], list[Unit]]  # (heading path, units)


# --- packing ---------------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])")


def _split_long(seg: _Seg, limit: int) -> list[_Seg]:
    """A line over `limit` tokens (a long paragraph on one line, minified code) in pieces at
    sentence ends, else hard; the pieces keep the line's number."""
    if estimate_tokens(seg.text) <= limit:
        return [seg]
    pieces: list[str] = []
    for sentence in _SENTENCE.split(seg.text):
        while estimate_tokens(sentence) > limit:
            cut = max(1, len(sentence) * limit // estimate_tokens(sentence))
            pieces.append(sentence[:cut])
            sentence = sentence[cut:]
        if pieces and estimate_tokens(pieces[-1]) + estimate_tokens(sentence) <= limit:
            pieces[-1] = f"{pieces[-1]} {sentence}"
        elif sentence:
            pieces.append(sentence)
    return [_Seg(p.strip(), seg.start, seg.end) for p in pieces if p.strip()]


def _pack(units: list[Unit], target: int, overlap: int) -> list[list[_Seg]]:
    """Greedy: fill a chunk up to `target` tokens, ending at the last unit boundary that fits (a
    hard cut between lines only when not even one unit fits); the next chunk starts with the
    previous one's last lines, up to `overlap` tokens."""
    segs: list[_Seg] = []
    starts: set[int] = set()
    for unit in units:
        starts.add(len(segs))
        for seg in unit:  # a piece never exceeds target - overlap, so it fits after an overlap tail
            segs.extend(_split_long(seg, max(1, target - overlap)))
    n = len(segs)
    starts.add(n)
    cost = [estimate_tokens(s.text) for s in segs]
    out: list[list[_Seg]] = []
    a, prev_end = 0, 0
    while a < n:
        total, b, good, good_total = 0, a, None, 0
        while b < n and (b == a or b <= prev_end or total + cost[b] <= target):
            total += cost[b]
            b += 1
            if b in starts and b > prev_end:
                good, good_total = b, total
        # End at the last unit boundary, unless that leaves a scrap (a lone heading) and a cut can fill the chunk.
        end = good if good is not None and (good == b or good_total >= target // 4) else b
        out.append(segs[a:end])
        if end >= n:
            break
        prev_end = end
        s, tail = end, 0
        while s - 1 > a and tail + cost[s - 1] <= overlap:
            s -= 1
            tail += cost[s]
        a = s
    return out


def _chunks(sections: list[_Section], target: int, overlap: int, page: int | None = None) -> list[Chunk]:
    out: list[Chunk] = []
    for path, units in sections:
        units = [u for u in units if any(s.text.strip() for s in u)]
        if not units:
            continue
        for piece in _pack(units, target, overlap):
            while piece and not piece[0].text.strip():
                piece = piece[1:]
            while piece and not piece[-1].text.strip():
                piece = piece[:-1]
            if not piece:
                continue
            text = "\n".join(s.text for s in piece).strip()
            heading = HEADING_SEP.join(path)
            if page is None:
                out.append(Chunk(heading, text, piece[0].start, max(s.end for s in piece)))
            else:
                out.append(Chunk(heading, text, None, None, page))
    return out


def _paragraphs(lines: list[tuple[int, str]]) -> list[Unit]:
    """Units separated by blank lines (the blank lines stay, so chunk text keeps its layout)."""
    units: list[Unit] = []
    current: Unit = []
    for number, line in lines:
        if not line.strip():
            if current:
                units.append(current)
                current = []
            continue
        current.append(_Seg(line.rstrip(), number, number))
    if current:
        units.append(current)
    return units


def _join_blank(units: list[Unit]) -> list[Unit]:
    """Put one blank line between units (kept inside chunks as paragraph breaks)."""
    out: list[Unit] = []
    for i, unit in enumerate(units):
        out.append(unit if i == len(units) - 1 else [*unit, _Seg("", unit[-1].end, unit[-1].end)])
    return out


class _Headings:
    """A heading path: a new heading closes those at its level and deeper."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []

    def push(self, level: int, title: str) -> list[str]:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))
        return [t for _, t in self.stack]


# --- Markdown and reStructuredText ------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_RST_ADORN = re.compile(r"^([=\-`:'\"~^_*+#<>.])\1{2,}\s*$")


def _heading_sections(lines: list[str], detect: Callable[[list[str], int], tuple[int, str, int] | None]) -> list[_Section]:
    """Sections split at the headings `detect(lines, i)` finds -> (level, title, lines used) or None;
    fenced code blocks are single units and never hold headings."""
    sections: list[_Section] = []
    heads = _Headings()
    path: list[str] = []
    body: list[tuple[int, str]] = []  # (line number, text) of the current paragraph run
    units: list[Unit] = []
    fence: str | None = None
    fence_unit: Unit = []

    def close_paragraphs() -> None:
        units.extend(_paragraphs(body))
        body.clear()

    i, n = 0, len(lines)
    if lines and lines[0].strip() == "---":  # YAML front matter: one unit, no headings in it
        end = next((j for j in range(1, n) if lines[j].strip() in ("---", "...")), None)
        if end is not None:
            units.append([_Seg(lines[j], j + 1, j + 1) for j in range(end + 1)])
            i = end + 1
    while i < n:
        line = lines[i]
        if fence is not None:
            fence_unit.append(_Seg(line.rstrip(), i + 1, i + 1))
            if line.strip().startswith(fence):
                units.append(fence_unit)
                fence, fence_unit = None, []
            i += 1
            continue
        m = _FENCE.match(line)
        if m:
            close_paragraphs()
            fence, fence_unit = m.group(1)[0] * 3, [_Seg(line.rstrip(), i + 1, i + 1)]
            i += 1
            continue
        found = detect(lines, i)
        if found:
            level, title, used = found
            close_paragraphs()
            sections.append((path, _join_blank(units)))
            path = heads.push(level, title)
            units = [[_Seg(lines[j].rstrip(), j + 1, j + 1) for j in range(i, i + used)]]
            i += used
            continue
        body.append((i + 1, line))
        i += 1
    if fence_unit:
        units.append(fence_unit)
    close_paragraphs()
    sections.append((path, _join_blank(units)))
    return _with_body(sections)


def _with_body(sections: list[_Section]) -> list[_Section]:
    """Leave out sections that are only their heading (a chapter title right before its first
    subsection): the title is in the heading path of the chunks below it."""
    return [(path, units) for path, units in sections if len(units) > (1 if path else 0)]


def _markdown_heading(lines: list[str], i: int) -> tuple[int, str, int] | None:
    m = _ATX.match(lines[i])
    if m:
        return len(m.group(1)), (m.group(2) or "").strip(), 1
    text = lines[i].strip()
    if text and i + 1 < len(lines) and not text.startswith(("|", "-", "*", ">", "<")) and (i == 0 or not lines[i - 1].strip()):
        s = _SETEXT.match(lines[i + 1])
        if s:
            return (1 if s.group(1)[0] == "=" else 2), text, 2
    return None


def _rst_detector() -> Callable[[list[str], int], tuple[int, str, int] | None]:
    styles: list[tuple[str, bool]] = []  # adornment styles in order of first use = heading levels

    def level(char: str, over: bool) -> int:
        if (char, over) not in styles:
            styles.append((char, over))
        return styles.index((char, over)) + 1

    def detect(lines: list[str], i: int) -> tuple[int, str, int] | None:
        n = len(lines)
        if i > 0 and lines[i - 1].strip():
            return None  # a title follows a blank line
        over = _RST_ADORN.match(lines[i])
        if over and i + 2 < n and lines[i + 1].strip() and lines[i + 2].strip() == lines[i].strip():
            return level(over.group(1), True), lines[i + 1].strip(), 3
        text = lines[i].rstrip()
        if text and not text[0].isspace() and not over and i + 1 < n:
            under = _RST_ADORN.match(lines[i + 1])
            if under and len(lines[i + 1].strip()) >= len(text.strip()):
                return level(under.group(1), False), text.strip(), 2
        return None

    return detect


# --- code ------------------------------------------------------------------------------------------


def _python_sections(text: str, lines: list[str]) -> list[_Section] | None:
    """A section per top-level function, per class (its header) and per method; module-level code
    between them in headless sections. Comments directly above a definition go with it. None when
    the file does not parse (then the generic code heuristic is used)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    n = len(lines)
    label: list[tuple[str, ...]] = [()] * (n + 2)

    def span(node: ast.AST) -> tuple[int, int]:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])  # type: ignore[attr-defined]
        while start > 1 and lines[start - 2].lstrip().startswith("#"):
            start -= 1
        return start, node.end_lineno or node.lineno  # type: ignore[attr-defined]

    def name(node: ast.AST) -> str:
        if isinstance(node, ast.ClassDef):
            return f"class {node.name}"
        return f"{'async def' if isinstance(node, ast.AsyncFunctionDef) else 'def'} {node.name}"  # type: ignore[attr-defined]

    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in tree.body:
        if not isinstance(node, defs):
            continue
        a, b = span(node)
        for k in range(a, b + 1):
            label[k] = (name(node),)
        if isinstance(node, ast.ClassDef):
            for inner in node.body:
                if isinstance(inner, defs):
                    ia, ib = span(inner)
                    for k in range(ia, ib + 1):
                        label[k] = (name(node), name(inner))
    sections: list[_Section] = []
    run: list[tuple[int, str]] = []
    for k in range(1, n + 1):
        if run and label[k] != label[run[0][0]] and lines[k - 1].strip():
            sections.append((list(label[run[0][0]]), _join_blank(_paragraphs(run))))
            run = []
        if not run and not lines[k - 1].strip():
            continue  # blank lines between definitions belong to neither
        run.append((k, lines[k - 1]))
    if run:
        sections.append((list(label[run[0][0]]), _join_blank(_paragraphs(run))))
    return sections


_DEF_WORDS = re.compile(
    r"^(?:export\s+|default\s+|pub(?:\([a-z]+\))?\s+|public\s+|private\s+|protected\s+|internal\s+|static\s+|final\s+|"
    r"abstract\s+|async\s+|override\s+|virtual\s+|inline\s+|unsafe\s+|extern\s+|open\s+|sealed\s+|data\s+)*"
    r"(?:function\*?|func|fn|def|class|struct|enum|interface|trait|impl|type|module|namespace|object|sub|proc|macro|"
    r"record|union|describe|it|test)\b"
)
_STRINGS = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
_COMMENT = ("//", "#", "/*", "*", "--", ";", "<!--")


def _code_title(block: list[tuple[int, str]]) -> str | None:
    """A block's heading: its first code line, when it starts a definition (or an [ini] section)."""
    for _, line in block:
        s = line.strip()
        if not s or s.startswith(_COMMENT) and not re.match(r"^\[[^\]]+\]$", s):
            continue
        if _DEF_WORDS.match(s) or re.match(r"^\[[^\]]+\]$", s) or re.match(r"^[\w.:<>*&\s]+\s[\w:~]+\s*\([^;]*$", s):
            title = s.rstrip("{").rstrip(":").strip()
            return title if len(title) <= 80 else title[:79] + "…"
        return None
    return None


def _code_sections(lines: list[str]) -> list[_Section]:
    """Generic code: top-level blocks are runs of lines between blank lines at brace depth 0; a block
    that opens a definition starts a section named by its first line, other blocks join a headless one."""
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    depth = 0
    for k, line in enumerate(lines, 1):
        if not line.strip() and depth == 0:
            if current:
                blocks.append(current)
                current = []
            continue
        current.append((k, line))
        bare = _STRINGS.sub("", line).split("//")[0]
        depth = max(0, depth + bare.count("{") - bare.count("}"))
    if current:
        blocks.append(current)
    sections: list[_Section] = []
    headless_open = False
    for block in blocks:
        title = _code_title(block)
        if title is not None:
            sections.append(([title], [_paragraph_unit(block)]))
            headless_open = False
        elif headless_open:
            sections[-1][1].append(_paragraph_unit(block))
        else:
            sections.append(([], [_paragraph_unit(block)]))
            headless_open = True
    return [(path, _join_blank(units)) for path, units in sections]


def _paragraph_unit(block: list[tuple[int, str]]) -> Unit:
    return [_Seg(line.rstrip(), k, k) for k, line in block]


# --- HTML ------------------------------------------------------------------------------------------

_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "pre", "table", "tr", "td", "th", "blockquote", "section", "article", "header", "footer",
    "nav", "main", "aside", "dt", "dd", "dl", "figure", "figcaption", "br", "hr", "form", "caption", "summary", "details",
    "h1", "h2", "h3", "h4", "h5", "h6", "body", "title",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head"}


class _HTMLSections(HTMLParser):
    """HTML as sections at h1-h6; every block (p, li, pre…) a unit, with its lines in the source."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.heads = _Headings()
        self.sections: list[_Section] = [([], [])]
        self.skip = 0
        self.pre = 0
        self.heading: int | None = None
        self.parts: list[tuple[str, int, int]] = []  # text pieces of the current block

    def _flush(self) -> None:
        parts, self.parts = self.parts, []
        if not parts:
            return
        start, end = parts[0][1], max(p[2] for p in parts)
        raw = "".join(p[0] for p in parts)
        if self.heading is not None:
            title = " ".join(raw.split())
            if title:
                path = self.heads.push(self.heading, title)
                self.sections.append((path, [[_Seg(title, start, end)]]))
            return
        units = self.sections[-1][1]
        if self.pre:
            lines = raw.strip("\n").split("\n")
            units.append([_Seg(line.rstrip(), start + k, start + k) for k, line in enumerate(lines)])
        else:
            text = " ".join(raw.split())
            if text:
                units.append([_Seg(text, start, end)])

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ARG002
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self._flush()
            if tag == "pre":
                self.pre += 1
            elif tag[0] == "h" and tag[1:].isdigit():
                self.heading = int(tag[1:])

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self._flush()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            elif tag[0] == "h" and tag[1:].isdigit():
                self.heading = None

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        line = self.getpos()[0]
        self.parts.append((data, line, line + data.count("\n")))


def _html_sections(text: str) -> list[_Section]:
    parser = _HTMLSections()
    parser.feed(text)
    parser.close()
    parser._flush()
    return _with_body([(path, _join_blank(units)) for path, units in parser.sections])


# --- entry point -------------------------------------------------------------------------------------


def chunk_document(doc: Extracted, *, target: int = TARGET_TOKENS, overlap: int = OVERLAP_TOKENS) -> list[Chunk]:
    """The chunks of an extracted file, in file order."""
    if doc.kind == "pdf":
        return _pdf_chunks(doc, target, overlap)
    lines = doc.text.split("\n")
    if doc.kind == "markdown":
        sections = _heading_sections(lines, _markdown_heading)
    elif doc.kind == "rst":
        sections = _heading_sections(lines, _rst_detector())
    elif doc.kind == "html":
        sections = _html_sections(doc.text)
    elif doc.kind == "python":
        sections = _python_sections(doc.text, lines) or _code_sections(lines)
    elif doc.kind == "code":
        sections = _code_sections(lines)
    else:
        sections = [([], _join_blank(_paragraphs(list(enumerate(lines, 1)))))]
    return _chunks(sections, target, overlap)


def _pdf_chunks(doc: Extracted, target: int, overlap: int) -> list[Chunk]:
    """A PDF's chunks never span pages; the heading path comes from its bookmarks, if any."""
    outline = doc.outline or []
    heads = _Headings()
    path: list[str] = []
    out: list[Chunk] = []
    o = 0
    for number, page in enumerate(doc.pages or [], 1):
        while o < len(outline) and outline[o][0] <= number:
            path = heads.push(outline[o][1], outline[o][2])
            o += 1
        units = _join_blank(_paragraphs(list(enumerate(page.split("\n"), 1))))
        out.extend(_chunks([(path, units)], target, overlap, page=number))
    return out
