"""bench/hosted_api_sim.py: an OpenAI-compatible loopback server the benchmarks replay replies on.
Through the app's own call path (openai SDK, lib.chat / lib.streams); no timing assertions."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from hosted_api_sim import HostedAPISim, split_pieces  # noqa: E402

from lib.chat import CallContext, ChatParams, complete  # noqa: E402
from lib.providers import make_client  # noqa: E402
from lib.streams import ChatStream  # noqa: E402

REPLY = "The harbour opened at five. Traders sold mackerel, crab and oysters; the council built a sea wall."
FAST = {"first_byte_s": 0.01, "tokens_per_s": 2000.0}  # the pacing is not what these tests check


def _ctx(tmp_path: Path) -> CallContext:
    return CallContext(page="bench", provider_id="custom", local=False, log_path=tmp_path / "usage.jsonl")


def test_pieces_join_back_to_the_text() -> None:
    assert "".join(split_pieces(REPLY)) == REPLY and len(split_pieces(REPLY)) == len(REPLY.split())


def test_streamed_and_plain_replies_with_usage_through_the_apps_calls(tmp_path: Path) -> None:
    with HostedAPISim(REPLY, **FAST) as sim:
        client = make_client(sim.base_url, "sim", timeout=30)
        assert [m.id for m in client.models.list()] == ["hosted-sim"]
        stream = ChatStream(client, [{"role": "user", "content": "Summarise the harbour report, please."}],
                            ChatParams(model=sim.model), _ctx(tmp_path))  # fmt: skip
        assert "".join(stream) == REPLY
        res = stream.result
        assert res.error is None and res.complete and res.usage is not None
        assert res.usage.completion_tokens == len(split_pieces(REPLY)) and res.usage.prompt_tokens > 0
        # Non-streamed, cut at max_tokens: the first pieces, finish_reason "length".
        completion, res2 = complete(client, [{"role": "user", "content": "x"}], ChatParams(model=sim.model, max_tokens=4),
                                    _ctx(tmp_path))  # fmt: skip
        assert res2.text == "".join(split_pieces(REPLY)[:4])
        assert completion.choices[0].finish_reason == "length" and completion.usage.completion_tokens == 4
        lines = [json.loads(line) for line in (tmp_path / "usage.jsonl").read_text().splitlines()]
        assert [r["stream"] for r in lines] == [True, False] and all(r["status"] == "ok" for r in lines)


def test_requests_overlap_and_are_counted() -> None:
    with HostedAPISim(REPLY, first_byte_s=2.0, tokens_per_s=200.0) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="sim", max_retries=0)

        def call(_: int) -> int:
            return client.chat.completions.create(model=sim.model, messages=[{"role": "user", "content": "hi"}],
                                                  max_tokens=5).usage.completion_tokens  # fmt: skip

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(call, range(4))) == [5] * 4
        stats = sim.stats()
        # Every request waits 2 s before answering (sleeps), so four sent at once are in flight together.
        assert stats == {"requests": 4, "peak_concurrency": 4, "completion_tokens": 20}
        bad = openai.OpenAI(base_url=sim.base_url.replace("/v1", "/v2"), api_key="sim", max_retries=0)
        try:
            bad.models.list()
        except openai.NotFoundError:
            pass
        else:
            raise AssertionError("an unknown route must answer 404")
