"""Does a Yoake export mean the same to promptfoo? Runs one grid both ways against a deterministic
OpenAI-compatible model on loopback (tests/support/hosted_api_sim.py) and compares pass/fail per cell and
per deterministic assertion.

1. Yoake: the grid through GridRunner, each cell scored by lib.evals (no model call for the scoring).
2. promptfoo: the same setup exported by lib.evals.promptfoo.export_config, run by the real CLI
   (`promptfoo eval -c promptfooconfig.yaml -o results.json --no-cache`), offline.
3. The two agree cell by cell (matched by prompt variant, model, temperature, seed and variables row).

Run by `scripts/promptfoo_check.sh` (which installs Node 24 and promptfoo first); needs `PROMPTFOO` (the
CLI) and `NODE_BIN` (the folder of Node ≥ 22) in the environment. Prints a table and the last line
`promptfoo check: <n> cells agree` (exit 0) or lists the disagreements (exit 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib import compare as cmp  # noqa: E402
from lib.conversation.service import Target  # noqa: E402
from lib.evals.assertions import Assertion  # noqa: E402
from lib.evals.promptfoo import export_config  # noqa: E402
from lib.evals.scoring import EvalSpec, score_results  # noqa: E402
from lib.llm.chat import CallContext  # noqa: E402
from lib.llm.providers import PROVIDERS, make_client  # noqa: E402
from tests.support.hosted_api_sim import HostedAPISim, last_user_text  # noqa: E402

MODEL = "sim-model"

# The model's answers: fixed by the question and the seed, so that every assertion passes on some cells and
# fails on others (JSON for some, words of the reference for others, Japanese too).
ANSWERS = {
    "sea": ['{"colour": "blue", "n": 3}', "The sea is blue and deep.", "I'm sorry, I cannot say."],
    "grass": ["Green, like the grass in spring.", 'Answer: {"colour": "green"} as JSON.', "草は緑です。"],
    "sky": ["Blue sky, blue sea.", "grey", '{"colour": 7}'],
}


def reply(body: dict) -> str:
    text = last_user_text(body)
    thing = next((k for k in ANSWERS if k in text), "sky")
    seed = int(body.get("seed") or 0)
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    answers = ANSWERS[thing]
    return answers[(seed + (1 if system else 0)) % len(answers)]


def setup() -> cmp.GridSpec:
    schema = {"type": "object", "required": ["colour"], "properties": {"colour": {"type": "string"}}}
    evals = EvalSpec(
        assertions=(
            Assertion("not-icontains", "sorry"),
            Assertion("contains-any", ["blue", "green", "緑"], weight=2.0),
        ),
        rows=(
            (Assertion("is-json", schema), Assertion("icontains", "BLUE")),
            (
                Assertion("contains-json"),
                Assertion("regex", r"[Gg]reen|緑"),
                Assertion("levenshtein", "Green, like grass in spring.", threshold=8),
            ),
            (
                Assertion("starts-with", "Blue"),
                Assertion("contains-all", "blue, sea"),
                Assertion("rouge-n", "blue sky", threshold=0.5),
            ),
        ),
        thresholds=(None, 0.6, None),
        threshold=None,
    )
    return cmp.GridSpec(
        prompt="In a few words: what colour is the {{thing}}?",
        models=(cmp.ModelChoice("custom", MODEL),),
        variants=("", "Answer briefly."),
        temperatures=(0.0,),
        inputs=({"thing": "sea"}, {"thing": "grass"}, {"thing": "sky"}),
        samples=3,
        seed=1,
        max_tokens=64,
        column_axis="variant",
        evals=evals.to_dict(),
    )


def yoake_verdicts(spec: cmp.GridSpec, sim: HostedAPISim) -> dict[tuple, bool]:
    plan = cmp.expand(spec)
    ctx = CallContext(page="compare", provider_id="custom", local=True, log_path=None)
    target = Target(PROVIDERS["custom"], sim.base_url, make_client(sim.base_url, "sim", timeout=30, max_retries=0), ctx)
    results = cmp.GridRunner(plan.cells, [target], workers=4, logprobs=False).run()
    scores = score_results(spec, plan, results)
    out = {}
    for cell, res, score in zip(plan.cells, results, scores, strict=True):
        assert res.status == cmp.DONE and score is not None, (res.status, res.error)
        out[(cell.variant, cell.seed, cell.inputs["thing"])] = (score.passed, res.text, [g.passed for g in score.grades])
    return out


def promptfoo_verdicts(spec: cmp.GridSpec, sim: HostedAPISim, workdir: Path) -> dict[tuple, bool]:
    config = workdir / "promptfooconfig.yaml"
    config.write_text(export_config(spec, {0: sim.base_url}), encoding="utf-8")
    env = os.environ | {
        "PATH": f"{os.environ['NODE_BIN']}:{os.environ.get('PATH', '')}",
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(workdir / ".promptfoo"),
        "OPENAI_API_KEY": "sim",
        "HOME": str(workdir),
    }
    out = workdir / "results.json"
    done = subprocess.run(
        [os.environ["PROMPTFOO"], "eval", "-c", str(config), "-o", str(out), "--no-cache", "--no-table", "--no-progress-bar", "--max-concurrency", "4"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if not out.exists():
        raise SystemExit(
            f"promptfoo eval wrote no results (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    data = json.loads(out.read_text(encoding="utf-8"))
    rows = data["results"]["results"] if isinstance(data.get("results"), dict) else data["results"]
    verdicts = {}
    for row in rows:
        label = (row.get("prompt") or {}).get("label") or ""
        variant = label.removeprefix("prompt ").strip() or "A"
        seed = ((row.get("provider") or {}).get("config") or {}).get("seed")
        if seed is None:
            seed = int(str((row.get("provider") or {}).get("label", "")).rsplit("seed ", 1)[-1])
        grading = row.get("gradingResult") or {}
        parts = [bool(c.get("pass")) for c in grading.get("componentResults") or []]
        text = (row.get("response") or {}).get("output")
        verdicts[(variant, int(seed), row["vars"]["thing"])] = (bool(row.get("success")), text, parts)
    return verdicts


def main() -> int:
    spec = setup()
    with HostedAPISim(reply, first_byte_s=0.0, tokens_per_s=None, model=MODEL) as sim, tempfile.TemporaryDirectory() as tmp:
        ours = yoake_verdicts(spec, sim)
        theirs = promptfoo_verdicts(spec, sim, Path(tmp))
    disagree = []
    print(f"{'variant':8} {'seed':>4} {'row':6} {'Yoake':6} {'promptfoo':9} answer")
    for key in sorted(ours):
        mine, text, grades = ours[key]
        other = theirs.get(key)
        flag = "" if other is not None and other[0] == mine and other[2] == grades else "  <-- differs"
        print(f"{key[0]:8} {key[1]:>4} {key[2]:6} {mine!s:6} {(other[0] if other else None)!s:9} {text!r}{flag}")
        if flag:
            disagree.append((key, ours[key], other))
    if set(theirs) != set(ours):
        disagree.append(("cells", sorted(set(ours) ^ set(theirs)), None))
    if disagree:
        for item in disagree:
            print("DIFFERS:", item)
        print(f"promptfoo check: {len(disagree)} cells differ")
        return 1
    passed = sum(v[0] for v in ours.values())
    print(f"{len(ours)} cells ({passed} pass, {len(ours) - passed} fail), every assertion's pass/fail the same in both")
    print(f"promptfoo check: {len(ours)} cells agree")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
