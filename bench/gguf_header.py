"""Reading a GGUF's header for the model catalog: ours (lib.local_models.read_gguf_info, memory-mapped,
vocabulary skipped) against gguf's own `GGUFReader` (which builds numpy views of every field and tensor).

Two files, interleaved rounds: the shipped SmolLM2-135M (49k-token vocabulary) and a synthetic header
with Qwen2.5's vocabulary size (151,936 tokens + 151,387 merges, no weights). Then, as a second figure,
a loopback download of the shipped file through `download_model` (magic check, progress, fsync,
header check) against a bare urllib copy to disk.
Usage: .venv/bin/python bench/gguf_header.py [--small]   (--small: one round, a 1,000-token synthetic vocabulary)
Last line: `gguf_header: <ours/GGUFReader on the shipped model>`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gguf  # noqa: E402
import numpy as np  # noqa: E402

from lib.engine import models as lm  # noqa: E402
from lib.engine.download import download_model  # noqa: E402
from lib.engine.gguf import read_gguf_info  # noqa: E402

SMALL = "--small" in sys.argv[1:]  # a smoke run
ROUNDS = 1 if SMALL else 3  # GGUFReader needs ~20 s a round on the Qwen-sized vocabulary
VOCAB, MERGES = (1_000, 900) if SMALL else (151_936, 151_387)  # Qwen2.5's sizes


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def synthetic_qwen_header(path: Path) -> None:
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name("Qwen2.5 1.5B Instruct (synthetic header)")
    w.add_context_length(32768)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"tok{i:06d}" for i in range(VOCAB)])
    w.add_token_types([1] * VOCAB)
    w.add_token_merges([f"a{i} b{i}" for i in range(MERGES)])
    w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    for layer in range(28):  # a Qwen2.5-1.5B-shaped tensor table, tiny data
        w.add_tensor(f"blk.{layer}.attn_q.weight", np.zeros((4, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bare_copy(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=30) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out, 1 << 20)


def main() -> None:
    os.environ["YOAKE_FETCH_ALLOW_PRIVATE"] = "1"  # the file is served on loopback
    shipped = lm.shipped_model_path()
    assert shipped is not None
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        qwen = tmpdir / "qwen-header.gguf"
        synthetic_qwen_header(qwen)
        files = {"smollm2-135m": shipped, "qwen-vocab header": qwen}
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(ROUNDS):
            for label, path in files.items():
                pair = [("ours", lambda p=path: read_gguf_info(p)), ("GGUFReader", lambda p=path: gguf.GGUFReader(p))]
                for who, fn in pair if r % 2 == 0 else reversed(pair):
                    times.setdefault((label, who), []).append(timed(fn))
        for label in files:
            ours, ref = (statistics.median(times[(label, w)]) for w in ("ours", "GGUFReader"))
            print(f"{label:18s} ours {ours * 1000:8.1f} ms   GGUFReader {ref * 1000:8.1f} ms   ratio {ours / ref:.4f}")

        # Download over loopback: ours vs a bare urllib copy, interleaved.
        serve = tmpdir / "serve"
        serve.mkdir()
        (serve / "model.gguf").symlink_to(shipped)
        handler = partial(_QuietHandler, directory=str(serve))
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/model.gguf"
        dl: dict[str, list[float]] = {"ours": [], "bare": []}
        try:
            for r in range(2 * ROUNDS if not SMALL else 1):
                out = tmpdir / f"round{r}"
                out.mkdir()
                pair = [
                    ("ours", lambda o=out: download_model(url, folder=o)),
                    ("bare", lambda o=out: bare_copy(url, o / "bare.gguf")),
                ]
                for who, fn in pair if r % 2 == 0 else reversed(pair):
                    dl[who].append(timed(fn))
                shutil.rmtree(out)
        finally:
            httpd.shutdown()
            httpd.server_close()
        size_mb = shipped.stat().st_size / 1e6
        ours_dl, bare_dl = statistics.median(dl["ours"]), statistics.median(dl["bare"])
        print(f"download {size_mb:.0f} MB over loopback: ours {ours_dl:.3f} s ({size_mb / ours_dl:.0f} MB/s)   "
              f"bare urllib copy {bare_dl:.3f} s ({size_mb / bare_dl:.0f} MB/s)   ratio {ours_dl / bare_dl:.3f}")  # fmt: skip
        ratio = statistics.median(times[("smollm2-135m", "ours")]) / statistics.median(times[("smollm2-135m", "GGUFReader")])
        print(f"gguf_header: {ratio:.4f}")


if __name__ == "__main__":
    main()
