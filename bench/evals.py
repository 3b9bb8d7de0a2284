"""Scoring a compare run (lib/evals), issue 25's two figures:

(a) Deterministic assertions: 1,000 cells (answers of ~60–400 characters: prose, JSON, Japanese) scored
    with 10 deterministic assertions each (equals, contains, icontains, contains-any, contains-all,
    not-contains, starts-with, regex, is-json, contains-json) by `score_cell`, the page's own path; the
    median of 7 rounds of the scoring thread's CPU time (wall time too), in milliseconds for all 1,000
    (target: at most 50 ms). No model call.
(b) A 48-cell grid (3 prompt variants x 4 temperatures x 4 seeds) with an `llm-rubric` judge on the
    loopback hosted-API simulator (tests/support/hosted_api_sim.py: first byte after 0.2 s, then 100
    tokens/s per request however many run at once): judged on the grid's own pool of 8 (JudgedRunner:
    each worker judges its cell after streaming it) vs the same grid on the pool, then one judge call at
    a time. Wall time, pool / one at a time (target: at most 0.5).

Usage: .venv/bin/python bench/evals.py [--small]   (--small: 100 cells, a 2-cell grid with short waits,
one answer passing the rubric and one failing it)
Last line: `evals: <(b)'s ratio>`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.compare import DONE, GridRunner, GridSpec, ModelChoice, expand  # noqa: E402
from lib.conversation.service import Target  # noqa: E402
from lib.evals.assertions import Assertion, Output, score_cell  # noqa: E402
from lib.evals.judge import MARKER, JudgedRunner, make_judge, rubrics  # noqa: E402
from lib.evals.scoring import EvalSpec, score_results  # noqa: E402
from lib.llm.chat import CallContext  # noqa: E402
from lib.llm.providers import PROVIDERS, make_client  # noqa: E402
from tests.support.hosted_api_sim import HostedAPISim, last_user_text  # noqa: E402

SMALL = "--small" in sys.argv[1:]
CELLS = 100 if SMALL else 1000
WORKERS = 8  # the page's largest pool

ANSWERS = [  # each passes some of the assertions and fails others
    "The sea is blue, and the sky above it too.",
    "The sea is blue because water absorbs red light and scatters blue; on a clear day it mirrors the sky too.",
    '{"colour": "blue", "confidence": 0.9, "reasons": ["absorption", "scattering", "reflection of the sky"]}',
    'Sure! Here is the JSON you asked for: {"colour": "green", "confidence": 0.4} — hope that helps.',
    "海が青いのは、水が赤い光を吸収し、青い光を散乱させるからです。晴れた日には空の色も映ります。",
    "I'm sorry, I cannot answer that question about the colour of the sea. " * 5,
]
ASSERTIONS = [
    Assertion("equals", "blue"),
    Assertion("contains", "blue"),
    Assertion("icontains", "SEA"),
    Assertion("contains-any", ["blue", "green", "青"]),
    Assertion("contains-all", "blue, sky"),
    Assertion("not-contains", "sorry"),
    Assertion("starts-with", "The"),
    Assertion("regex", r"\b(blue|green)\b"),
    Assertion("is-json", {"type": "object", "required": ["colour"]}),
    Assertion("contains-json"),
]


def deterministic_ms() -> float:
    outputs = [Output(ANSWERS[i % len(ANSWERS)] + f" ({i})"[: i % 3], latency_ms=100.0 + i, cost_usd=1e-5) for i in range(CELLS)]
    rounds, cpu = [], []
    for _ in range(7):
        start, start_cpu = time.perf_counter(), time.thread_time()
        scores = [score_cell(ASSERTIONS, out) for out in outputs]
        rounds.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        assert all(s is not None for s in scores)
    passed = sum(s.passed for s in scores if s is not None)
    print(f"(a) {CELLS} cells x {len(ASSERTIONS)} deterministic assertions: CPU time median {statistics.median(cpu):.1f} ms "
          f"(rounds {', '.join(f'{r:.1f}' for r in cpu)}); wall median {statistics.median(rounds):.1f} ms, best "
          f"{min(rounds):.1f} ms (wall time depends on what else runs on the 2 cores); {passed} cells pass")  # fmt: skip
    return statistics.median(cpu)


def reply(body: dict) -> str:
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    if system.startswith(MARKER):
        ok = "blue" in last_user_text(body).split("<answer>")[-1]
        return json.dumps({"pass": ok, "score": 0.9 if ok else 0.2, "reason": "Names the colour." if ok else "No colour."})
    seed = int(body.get("seed") or 0)
    return "The sea looks blue today, calm and bright." if seed % 2 else "It is a grey and stormy sea this morning."


def spec() -> GridSpec:
    evals = EvalSpec(assertions=(Assertion("llm-rubric", "Says which colour the sea is"), Assertion("not-icontains", "sorry")))
    return GridSpec(
        prompt="What colour is the sea today?",
        models=(ModelChoice("custom", "sim-model"),),
        variants=("", "Be brief.", "Answer like a sailor.") if not SMALL else ("",),
        temperatures=(0.0, 0.5, 1.0, 1.5) if not SMALL else (0.0,),
        samples=4 if not SMALL else 2,  # seeds 1 and 2: the simulator answers "blue" to odd seeds only
        seed=1,
        max_tokens=64,
        evals=evals.to_dict(),
    )


def judged_grid() -> float:
    grid = spec()
    plan = expand(grid)
    evals = EvalSpec.from_dict(grid.evals)
    pace = {"first_byte_s": 0.02, "tokens_per_s": 1000} if SMALL else {"first_byte_s": 0.2, "tokens_per_s": 100}
    with HostedAPISim(reply, model="sim-model", **pace) as sim:
        client = make_client(sim.base_url, "sim", timeout=60, max_retries=0)
        target = Target(PROVIDERS["custom"], sim.base_url, client, CallContext("compare", "custom", True, None))
        judge = make_judge(target, "sim-model", "en")

        start = time.perf_counter()
        pooled = JudgedRunner(plan.cells, [target], spec=grid, evals=evals, judge=judge, workers=WORKERS, logprobs=False).run()
        pool_s = time.perf_counter() - start

        start = time.perf_counter()
        plain = GridRunner(plan.cells, [target], workers=WORKERS, logprobs=False).run()
        for cell, res in zip(plan.cells, plain, strict=True):
            res.verdicts = {a.key: judge(cell, res.text, a).to_dict() for a in rubrics(grid, evals, cell)}
        one_s = time.perf_counter() - start
    assert all(r.status == DONE for r in pooled + plain)
    a, b = score_results(grid, plan, pooled, evals), score_results(grid, plan, plain, evals)
    assert [s.passed for s in a if s] == [s.passed for s in b if s]  # the same verdicts either way
    print(f"(b) {len(plan.cells)} cells + {len(plan.cells)} judge calls on the simulator: judged on the pool of {WORKERS} "
          f"{pool_s:.2f} s; grid on the pool, then one judge call at a time {one_s:.2f} s")  # fmt: skip
    return pool_s / one_s


if __name__ == "__main__":
    ms = deterministic_ms()
    ratio = judged_grid()
    print(f"(a) {ms:.1f} ms CPU for {CELLS} cells (target <= 50 ms at 1,000) · (b) ratio {ratio:.3f} (target <= 0.5)")
    print(f"evals: {ratio:.3f}")
