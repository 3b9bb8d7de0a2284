"""The Docs Q&A tests' corpus, written by the tests: English and Japanese Markdown, Python, JavaScript,
HTML and a PDF made here (a hand-written PDF 1.4 with a text layer), plus files that must be skipped.
`QUESTIONS` are known questions with the file and heading (or page) that answers them."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfWriter

GUIDE_MD = """# Yoake Guide

Yoake is a dashboard for prototyping chat models on a laptop.

## Installation

Create a virtual environment and run the install script. The script pins every dependency
and downloads nothing at run time.

```bash
python -m venv .venv
scripts/install.sh
```

## Configuration

Settings are read from the environment, then secrets.toml, then a .env file.

### Data directory

Conversations, the usage log and document collections are stored in the data directory.
Set YOAKE_DATA_DIR to move the data directory somewhere else, for example to a larger disk.
The directory is created on first use.

### Timeouts

YOAKE_TIMEOUT is the read timeout in seconds; raise it for slow providers.

## Troubleshooting

### Port already in use

If port 8501 is taken, start Streamlit with --server.port 8502 or stop the other process.
"""

GUIDE_JA_MD = """# 設定ガイド

このガイドでは、夜明けアプリの設定方法を説明します。

## インストール

仮想環境を作成してから、インストールスクリプトを実行してください。

## データの保存場所

会話履歴と利用ログは、データディレクトリに保存されます。
保存場所を変更するには、環境変数 YOAKE_DATA_DIR に新しいフォルダを指定してください。

## 鍵の管理

APIキーは環境変数か secrets.toml に書いてください。キーは画面にもログにも表示されません。
"""

SERVER_PY = '''"""A tiny cache server used by the docs tests."""

import time

DEFAULT_PORT = 8080


def start_server(port: int = DEFAULT_PORT) -> None:
    """Start listening for cache requests on the given port."""
    print("listening on", port)


class Cache:
    """An in-memory cache with a time to live."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.items = {}

    def evict(self) -> int:
        """Evict expired entries from the cache and return how many were removed."""
        now = time.time()
        expired = [k for k, (t, _) in self.items.items() if now - t > self.ttl]
        for k in expired:
            del self.items[k]
        return len(expired)
'''

CLIENT_JS = """import { log } from "./log.js";

// Opens the websocket and reconnects with exponential backoff.
function connectWebSocket(url) {
  let delay = 500;
  const socket = new WebSocket(url);
  socket.onclose = () => {
    delay = Math.min(delay * 2, 30000);
    setTimeout(() => connectWebSocket(url), delay);
  };
  return socket;
}

export function sendHeartbeat(socket) {
  socket.send(JSON.stringify({ type: "heartbeat" }));
}
"""

FAQ_HTML = """<!doctype html>
<html><head><title>FAQ</title><style>body { color: red; }</style></head>
<body>
<h1>Frequently asked questions</h1>
<p>Answers to the questions our support team hears most.</p>
<h2>How do I reset my password?</h2>
<p>Open the sign-in page, choose <b>Forgot password</b> and follow the link
we send to your registered email address.</p>
<h2>返金ポリシー</h2>
<p>購入から30日以内であれば、理由を問わず全額を返金します。</p>
<script>document.title = "not indexed";</script>
</body></html>
"""

PDF_PAGES = [
    "Safety instructions. Keep the device away from water and do not open the case while it is charging.",
    "Battery replacement. To replace the battery, remove the four screws on the back cover, disconnect the old "
    "battery and fit the new one with the label facing up.",
]


def text_pdf(pages: list[str]) -> bytes:
    """A PDF 1.4 with one page per string, set in Helvetica (ASCII text), with a correct xref table."""
    n = len(pages)
    objs: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        words, lines, line = text.split(), [], ""
        for w in words:
            if len(line) + len(w) > 80:
                lines.append(line)
                line = ""
            line = f"{line} {w}".strip()
        lines.append(line)
        ops = "BT /F1 11 Tf 14 TL 72 760 Td " + " ".join(f"({ln}) Tj T*" for ln in lines) + " ET"
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                    f"/Contents {5 + 2 * i} 0 R >>".encode())  # fmt: skip
        objs.append(f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{k} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def blank_pdf(pages: int = 2) -> bytes:
    """A PDF whose pages have no text layer (as a scan without OCR)."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


GOOD_FILES: dict[str, str | bytes] = {
    "guide.md": GUIDE_MD,
    "設定ガイド.md": GUIDE_JA_MD,
    "src/server.py": SERVER_PY,
    "src/client.js": CLIENT_JS,
    "faq.html": FAQ_HTML,
    "manual.pdf": b"",  # filled by write_corpus (made at run time)
}

# (name, bytes, what the skip reason says)
BAD_FILES: list[tuple[str, bytes, str]] = [
    ("empty.md", b"", "empty file"),
    ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "binary file (a PNG image)"),
    ("notes.txt", b"\x00\x01\x02binary\x00data", "binary file (not text)"),
    ("legacy.txt", b"caf\xe9 \xfd\xfe broken", "not text in a known encoding"),
    ("scan.pdf", b"", "PDF has no text layer"),  # filled by write_corpus
    ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "damaged PDF"),
    ("report.docx", b"PK\x03\x04" + b"\x00" * 32, "binary file (a ZIP archive"),
    ("data.xyz", b"some text in an unknown format", "unsupported file type '.xyz'"),
    ("blank.md", b"  \n\n \t\n", "no text (only whitespace)"),
]

# (question, file name, heading, page): what retrieval must rank first
QUESTIONS: list[tuple[str, str, str, int | None]] = [
    ("How do I move the data directory to another disk?", "guide.md", "Yoake Guide > Configuration > Data directory", None),
    ("What if the port is already in use?", "guide.md", "Yoake Guide > Troubleshooting > Port already in use", None),
    ("データの保存場所を変更するには？", "設定ガイド.md", "設定ガイド > データの保存場所", None),
    ("APIキーはどこに書けばいいですか", "設定ガイド.md", "設定ガイド > 鍵の管理", None),
    ("how to evict expired entries from the cache", "server.py", "class Cache > def evict", None),
    ("reconnect the websocket with backoff", "client.js", "function connectWebSocket(url)", None),
    ("How can I reset my password?", "faq.html", "Frequently asked questions > How do I reset my password?", None),
    ("返金は何日以内ですか", "faq.html", "Frequently asked questions > 返金ポリシー", None),
    ("How do I replace the battery?", "manual.pdf", "", 2),
]


def write_corpus(root: Path, *, bad: bool = False) -> Path:
    """The good files (and, with `bad`, the bad ones) under `root`; returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in GOOD_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "manual.pdf":
            path.write_bytes(text_pdf(PDF_PAGES))
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
    if bad:
        for name, data, _ in BAD_FILES:
            (root / name).write_bytes(blank_pdf() if name == "scan.pdf" else data)
    return root
