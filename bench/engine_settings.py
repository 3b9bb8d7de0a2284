"""Engine settings for the embedded server: prompt processing and generation speed of the settings we
ship against llama.cpp's defaults and the variants tried (threads, batch and micro-batch sizes).

All servers run side by side (started at once; idle ones cost nothing); requests go one at a time, the order of the
settings rotating every round. Prompt speed is measured on a ~800-token prompt with
`cache_prompt: false` (so each request processes the whole prompt) and one generated token;
generation on a short prompt with 128 tokens. Both figures come from llama.cpp's own `timings`.

Usage: .venv/bin/python bench/engine_settings.py [--small]   (--small: ours and the defaults only, one round, a
~50-token prompt and 4 generated tokens: a smoke run)
Last line: `engine_settings: <ours / llama.cpp defaults, prompt tokens per second>`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.engine.server import LocalServer  # noqa: E402

SMALL = "--small" in sys.argv[1:]
ROUNDS = 1 if SMALL else 4
GENERATED = 4 if SMALL else 128
PROMPT_REPEAT = 1 if SMALL else 20  # copies of _TEXT in the prompt (20: ~800 tokens)
SETTINGS: dict[str, list[str]] = {
    "ours (shipped)": [],  # flash attention auto, llama.cpp's threads and batch sizes
    "llama.cpp defaults (fa auto)": ["--flash-attn", "auto"],
    "fa off (shipped before)": ["--flash-attn", "off"],
    "threads 1": ["--threads", "1"],
    "ubatch 256": ["--ubatch-size", "256"],
    "batch/ubatch 1024": ["--batch-size", "1024", "--ubatch-size", "1024"],
    "ubatch 128": ["--ubatch-size", "128"],
}
if SMALL:
    SETTINGS = {k: v for k, v in SETTINGS.items() if k in ("ours (shipped)", "llama.cpp defaults (fa auto)")}
_TEXT = (
    "The harbour master recorded the winter catch after the spring floods. The town council debated a new "
    "pier in front of a large crowd. Volunteers repaired the old sea wall over three long weeks. "
)


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(f"{url}/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.load(resp)


def prompt_speed(url: str, round_: int) -> float:
    content = f"Round {round_}. " + _TEXT * PROMPT_REPEAT + "Summarise this."
    out = post(url, {"messages": [{"role": "user", "content": content}], "max_tokens": 1, "cache_prompt": False})
    return out["timings"]["prompt_per_second"]


def generation_speed(url: str, round_: int) -> float:
    out = post(
        url,
        {
            "messages": [{"role": "user", "content": f"Tell me a long story about the sea, number {round_}."}],
            "max_tokens": GENERATED,
            "temperature": 0.8,
            "seed": round_,
            "cache_prompt": False,
        },
    )
    return out["timings"]["predicted_per_second"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        servers = {
            name: LocalServer(log_path=Path(tmp) / f"{i}.log", parallel=1, extra_args=args)
            for i, (name, args) in enumerate(SETTINGS.items())
        }
        try:
            with ThreadPoolExecutor(len(servers)) as pool:  # the starts overlap (each waits for its engine's load)
                list(pool.map(LocalServer.start, servers.values()))
            for server in servers.values():
                prompt_speed(server.url, -1)  # warm-up
            names = list(servers)
            pp: dict[str, list[float]] = {n: [] for n in names}
            tg: dict[str, list[float]] = {n: [] for n in names}
            for r in range(ROUNDS):
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    pp[name].append(prompt_speed(servers[name].url, r))
                    tg[name].append(generation_speed(servers[name].url, r))
        finally:
            for server in servers.values():
                server.stop()
    print(f"{'settings':<30} | {'prompt tok/s (median)':>22} | {'generation tok/s (median)':>26}")
    for name in names:
        print(f"{name:<30} | {statistics.median(pp[name]):22.1f} | {statistics.median(tg[name]):26.1f}")
    ratio = statistics.median(pp["ours (shipped)"]) / statistics.median(pp["llama.cpp defaults (fa auto)"])
    print(f"engine_settings: {ratio:.3f}")


if __name__ == "__main__":
    main()
