"""lib/compare.py without a model: grid expansion, variables, estimates, diversity measures, the saved
run and its export; the runner against the loopback hosted-API simulator (tests/support/hosted_api_sim.py)
and the fault proxy, through the real openai SDK and lib.streams."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from pathlib import Path

import pytest
from fault_proxy import Fault, FaultProxy
from helpers import usage_lines

from lib import compare as cmp
from lib.conversation.service import Target
from lib.core.pricing import Price
from lib.llm.chat import CallContext, estimate_message_tokens
from lib.llm.providers import PROVIDERS, make_client
from lib.storage.migrations import MIGRATIONS
from lib.storage.store import DB_FILE, Store
from tests.support.hosted_api_sim import HostedAPISim, piece_logprob, split_pieces

LOCAL = cmp.ModelChoice("local", "smollm2-135m-instruct")
GPT = cmp.ModelChoice("openai", "gpt-4.1-mini")


def _spec(**kw) -> cmp.GridSpec:
    base = dict(
        prompt="Describe {{city}} in {{n}} words.",
        models=(LOCAL,),
        temperatures=(0.0, 1.0),
        samples=2,
        seed=10,
        inputs=({"city": "Paris", "n": "5"}, {"city": "Kyoto", "n": "3"}),
        max_tokens=32,
        column_axis="temperature",
    )
    return cmp.GridSpec(**(base | kw))


# --- parsing ------------------------------------------------------------------------------------------


def test_variables_are_found_in_order_and_filled() -> None:
    assert cmp.find_variables("Hi {{ name }}, {{city}}!", "You help {{name}} in {{lang}}.") == ["name", "city", "lang"]
    assert cmp.render("{{a}} and {{ b }} and {{c}}", {"a": "1", "b": "2"}) == "1 and 2 and {{c}}"
    assert cmp.find_variables("no variables, {single} braces") == []


def test_values_parse_with_specific_problems() -> None:
    assert cmp.parse_values("0, 0.5 1.0;1.5", "T", 0, 2) == ([0.0, 0.5, 1.0, 1.5], None)
    assert cmp.parse_values("  ", "T", 0, 2) == ([None], None)  # the provider's default
    assert cmp.parse_values("0.7, 0.7", "T", 0, 2) == ([0.7], None)
    assert "not a number" in cmp.parse_values("0, hot", "Temperatures", 0, 2)[1]
    assert "outside 0–2" in cmp.parse_values("2.5", "Temperatures", 0, 2)[1]
    assert "at most 6" in cmp.parse_values("0 .1 .2 .3 .4 .5 .6", "T", 0, 2)[1]


def test_inputs_parse_from_csv_with_a_header() -> None:
    rows, problem = cmp.parse_inputs('city,n\nParis,5\n"Kyoto, Japan",3\n', ["city", "n"])
    assert problem is None and rows == [{"city": "Paris", "n": "5"}, {"city": "Kyoto, Japan", "n": "3"}]
    assert cmp.parse_inputs("", []) == ([{}], None)
    assert "{{city}}" in cmp.parse_inputs("", ["city"])[1]
    assert "missing: n" in cmp.parse_inputs("city\nParis", ["city", "n"])[1]
    assert "at least one row" in cmp.parse_inputs("city", ["city"])[1]
    assert "Line 3" in cmp.parse_inputs("city,n\nParis,5\nKyoto", ["city", "n"])[1]
    many = "city\n" + "\n".join(f"c{i}" for i in range(cmp.MAX_INPUT_ROWS + 1))
    assert "At most" in cmp.parse_inputs(many, ["city"])[1]


# --- the grid -----------------------------------------------------------------------------------------


def test_expand_lays_out_columns_and_rows_with_seeds_and_filled_prompts() -> None:
    spec = _spec(variants=("Be brief.", "Answer in the voice of {{city}}."))
    plan = cmp.expand(spec)
    assert len(plan.cells) == spec.total_cells() == 2 * 2 * 2 * 2
    assert plan.columns == ["T=0", "T=1"]
    assert len(plan.rows) == 8 and plan.rows[0] == "prompt A · city=Paris, n=5 · sample 1 (seed 10)"
    # Row-major: a row's columns are next to each other (they start side by side).
    assert [(c.row, c.column) for c in plan.cells[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for cell in plan.cells:
        assert plan.at(cell.row, cell.column) is cell
        assert cell.temperature == spec.temperatures[cell.column]
        assert cell.seed == 10 + cell.sample - 1
        assert "{{" not in cell.prompt and cell.prompt == f"Describe {cell.inputs['city']} in {cell.inputs['n']} words."
    voiced = [c for c in plan.cells if c.variant == "B"]
    assert {c.system_prompt for c in voiced} == {"Answer in the voice of Paris.", "Answer in the voice of Kyoto."}
    # Every combination exactly once.
    combos = {(c.variant, c.inputs["city"], c.sample, c.temperature) for c in plan.cells}
    assert len(combos) == len(plan.cells)
    assert plan.cells[0].messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Describe Paris in 5 words."},
    ]
    params = plan.cells[1].params()
    assert (params.model, params.temperature, params.seed, params.max_tokens, params.top_p) == (LOCAL.model, 1.0, 10, 32, None)


def test_any_axis_can_be_the_columns() -> None:
    spec = _spec(models=(LOCAL, GPT), column_axis="model", samples=1, seed=None)
    plan = cmp.expand(spec)
    assert plan.columns == [LOCAL.model, GPT.model]
    assert {c.slot for c in plan.cells if c.column == 1} == {1} and {c.provider for c in plan.cells if c.column == 1} == {
        "openai"
    }
    assert all(c.seed is None for c in plan.cells)
    assert plan.rows[0] == "T=0 · city=Paris, n=5"
    single = cmp.expand(cmp.GridSpec(prompt="Hi", models=(LOCAL,)))
    assert single.columns == ["T=default"] and single.rows == [""] and len(single.cells) == 1
    assert single.cells[0].messages() == [{"role": "user", "content": "Hi"}]


def test_problems_name_what_is_wrong() -> None:
    assert cmp.problems(_spec()) == []
    assert "Write a prompt first." in cmp.problems(_spec(prompt="  "))
    assert any("At most 4 models" in p for p in cmp.problems(_spec(models=(LOCAL,) * 5)))
    big = _spec(temperatures=(0.0, 0.5, 1.0, 1.5), samples=10)
    assert any("limited to 64" in p for p in cmp.problems(big))


def test_estimate_counts_calls_tokens_and_the_cost_ceiling() -> None:
    prices = {"gpt-4.1-mini": Price(0.4, 1.6)}
    plan = cmp.expand(_spec(models=(LOCAL, GPT), samples=1))
    est = cmp.estimate(plan, prices)
    assert est.calls == 8 and est.max_output_tokens == 8 * 32
    assert est.input_tokens == sum(estimate_message_tokens(c.messages()) for c in plan.cells)
    paid = [c for c in plan.cells if c.provider == "openai"]
    expected = sum((estimate_message_tokens(c.messages()) * 0.4 + 32 * 1.6) / 1e6 for c in paid)
    assert est.cost_usd == pytest.approx(expected) and est.unpriced == ()
    unknown = cmp.estimate(cmp.expand(_spec(models=(cmp.ModelChoice("openai", "mystery-model"),))), prices)
    assert unknown.cost_usd is None and unknown.unpriced == ("mystery-model",)
    assert cmp.estimate(cmp.expand(_spec()), prices).cost_usd == 0.0  # local: free


# --- diversity ----------------------------------------------------------------------------------------


def test_distinct_n_similarity_and_identical_groups() -> None:
    texts = ["The cat sat.", "the cat sat", "A dog ran far!"]
    assert cmp.words("The cat, sat!") == ["the", "cat", "sat"]
    assert cmp.words("東京タワー is tall") == ["東", "京", "タ", "ワ", "ー", "is", "tall"]
    # unigrams: the cat sat the cat sat a dog ran far -> 7 unique of 10
    assert cmp.distinct_n(texts, 1) == pytest.approx(7 / 10)
    # bigrams: (the cat)(cat sat) x2, (a dog)(dog ran)(ran far) -> 5 unique of 7
    assert cmp.distinct_n(texts, 2) == pytest.approx(5 / 7)
    assert cmp.distinct_n(["one"], 2) is None
    assert cmp.jaccard("the cat sat", "the cat ran") == pytest.approx(2 / 4)
    assert cmp.jaccard("", "") == 1.0
    div = cmp.diversity(texts + ["A dog ran far!", "A dog ran far! "])
    assert div.samples == 5 and div.identical == (3,) and div.identical_answers == 3
    # pairs: (0,1)=1, (2,3)=(2,4)=(3,4)=1 -> 4 pairs of 10 are 1.0; the other 6 share no word
    assert div.similarity == pytest.approx(4 / 10)
    one = cmp.diversity(["only"])
    assert one.similarity is None and one.identical == () and one.distinct_1 == 1.0


def test_column_diversity_uses_finished_answers_only() -> None:
    plan = cmp.expand(_spec(inputs=({"city": "Paris", "n": "5"},), samples=3))
    results = [cmp.CellResult(c.index, cmp.DONE, text=f"answer {c.column} {c.sample % 2}") for c in plan.cells]
    results[0].status, results[0].text = cmp.ERROR, "partial text"
    texts = cmp.column_texts(plan, results, 0)
    assert len(texts) == 2 and "partial text" not in texts
    divs = cmp.column_diversity(plan, results)
    assert [d.samples for d in divs] == [2, 3]
    assert divs[1] == cmp.diversity([results[c.index].text for c in plan.cells if c.column == 1])


def test_perplexity() -> None:
    assert cmp.perplexity([]) is None
    assert cmp.perplexity([0.0, 0.0]) == 1.0
    assert cmp.perplexity([-1.0, -3.0]) == pytest.approx(2.718281828**2)


# --- saved runs and export ---------------------------------------------------------------------------


def _record() -> cmp.RunRecord:
    spec = _spec(variants=("Be brief.", ""), samples=1)
    plan = cmp.expand(spec)
    results = []
    for c in plan.cells:
        res = cmp.CellResult(
            c.index,
            cmp.DONE,
            text=f'Reply {c.index}, "quoted"\nline two',
            resolved_model=c.model,
            finish_reason="stop",
            input_tokens=20 + c.index,
            output_tokens=7,
            ttft_ms=100.0 + c.index,
            duration_ms=400.0,
            tokens_per_s=20.0,
            cost_usd=0.0,
            perplexity=1.5,
            logprob_tokens=7,
        )
        results.append(res)
    results[3] = cmp.CellResult(3, cmp.ERROR, error="**Server error.** 500", error_kind="server_error")
    return cmp.RunRecord(spec, plan, results, elapsed_s=1.25)


def test_run_saved_listed_newest_first_reopened_and_deleted(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    record = _record()
    first = cmp.save_run(store, record)
    record.created_at += 10
    second = cmp.save_run(store, record)
    listed = store.list_compare_runs()
    assert [r.id for r in listed] == [second, first]
    assert listed[0].cell_count == len(record.results) and listed[0].title == record.title and listed[0].status == "complete"

    loaded = cmp.load_run(store, first)
    assert loaded is not None and loaded.id == first and loaded.spec == record.spec
    assert loaded.plan.cells == record.plan.cells
    assert (loaded.plan.columns, loaded.plan.rows) == (record.plan.columns, record.plan.rows)
    assert [(r.status, r.text, r.metrics(), r.error) for r in loaded.results] == [
        (r.status, r.text, r.metrics(), r.error) for r in record.results
    ]
    exported, original = json.loads(cmp.export_json(loaded)), json.loads(cmp.export_json(record))
    for doc in (exported, original):
        del doc["run"]["id"], doc["run"]["created_at"]
    assert exported == original

    assert store.delete_compare_run(first) and not store.delete_compare_run(first)
    assert cmp.load_run(store, first) is None and [r.id for r in store.list_compare_runs()] == [second]
    with sqlite3.connect(data_dir / DB_FILE) as conn:  # the cells went with their run
        assert conn.execute("SELECT COUNT(*) FROM compare_cells WHERE run_id = ?", (first,)).fetchone()[0] == 0


def test_export_has_one_row_per_cell_with_axes_text_and_metrics() -> None:
    record = _record()
    rows = list(csv.DictReader(io.StringIO(cmp.export_csv(record))))
    assert len(rows) == len(record.plan.cells)
    for row, cell, res in zip(rows, record.plan.cells, record.results, strict=True):
        assert row["text"] == res.text and row["status"] == res.status
        assert (row["model"], row["variant"], row["column_label"]) == (cell.model, cell.variant, record.plan.columns[cell.column])
        assert row["temperature"] == str(cell.temperature) and row["seed"] == str(cell.seed)
        assert json.loads(row["inputs"]) == cell.inputs
        assert row["output_tokens"] == ("" if res.output_tokens is None else str(res.output_tokens))
    assert rows[3]["error"] == "**Server error.** 500"

    doc = json.loads(cmp.export_json(record))
    assert doc["format"] == "yoake.compare" and doc["run"]["spec"]["prompt"] == record.spec.prompt
    assert len(doc["cells"]) == len(record.plan.cells) and doc["cells"][0]["text"] == record.results[0].text
    assert doc["cells"][0]["perplexity"] == 1.5 and doc["cells"][0]["inputs"] == {"city": "Paris", "n": "5"}
    expected = cmp.column_diversity(record.plan, record.results)
    assert [c["distinct_2"] for c in doc["columns"]] == [d.distinct_2 for d in expected]
    assert [c["label"] for c in doc["columns"]] == record.plan.columns


def test_a_database_from_before_compare_runs_is_upgraded(data_dir: Path) -> None:
    path = data_dir / DB_FILE
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("INSERT INTO conversations (id, title, created_at, updated_at, params) VALUES ('c1', 'Kept', 1, 2, '{}')")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.get_conversation("c1").title == "Kept"
    assert store.list_compare_runs() == []
    assert cmp.load_run(store, cmp.save_run(store, _record())) is not None


# --- the runner on loopback servers ----------------------------------------------------------------------

REPLY = "One two three four five six seven eight nine ten."


def _target(base_url: str, data_dir: Path, provider: str = "custom") -> Target:
    ctx = CallContext(page=cmp.PAGE, provider_id=provider, local=True, log_path=data_dir / "usage.jsonl")
    return Target(PROVIDERS[provider], base_url, make_client(base_url, "sim", timeout=30, max_retries=0), ctx)


def test_runner_streams_every_cell_concurrently_and_logs_each_call(data_dir: Path) -> None:
    with HostedAPISim(REPLY, first_byte_s=0.05, tokens_per_s=200) as sim:
        spec = cmp.GridSpec(
            prompt="Count.",
            models=(cmp.ModelChoice("custom", sim.model),),
            temperatures=(0.0, 0.5, 1.0),
            samples=2,
            seed=1,
            max_tokens=64,
        )
        plan = cmp.expand(spec)
        runner = cmp.GridRunner(plan.cells, [_target(sim.base_url, data_dir)], workers=3)
        seen_running = False
        runner.start()
        while not runner.finished:
            runner.drain(0.05)
            seen_running |= any(r.status == cmp.RUNNING for r in runner.results)
        stats = sim.stats()
    assert stats["requests"] == 6 and stats["peak_concurrency"] <= 3
    assert seen_running
    log = usage_lines(data_dir)
    assert len(log) == 6 and {r["page"] for r in log} == {"compare"} and {r["status"] for r in log} == {"ok"}
    assert sorted(r["temperature"] for r in log) == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    for res in runner.results:
        assert res.status == cmp.DONE and res.text == REPLY and res.finish_reason == "stop"
        assert res.output_tokens == len(REPLY.split()) and res.usage_estimated is False
        # The simulator sends the logprobs the runner asks for: the perplexity is theirs.
        lps = [piece_logprob(p, i) for i, p in enumerate(split_pieces(REPLY))]
        assert res.live_tokens == res.output_tokens and res.perplexity == pytest.approx(math.exp(-sum(lps) / len(lps)))
    durations = sorted(round(r.duration_ms, 1) for r in runner.results)
    assert durations == sorted(r["duration_ms"] for r in log)
    record = cmp.record_of(spec, plan, runner)
    assert record.status == "complete" and record.elapsed_s is not None


def test_stop_keeps_what_arrived_logs_partial_calls_and_skips_the_rest(data_dir: Path) -> None:
    long_reply = " ".join(f"w{i}" for i in range(2000))  # 2,000 tokens at 40/s: far from done when stopped
    with HostedAPISim(long_reply, first_byte_s=0.01, tokens_per_s=40) as sim:
        spec = cmp.GridSpec(prompt="Go.", models=(cmp.ModelChoice("custom", sim.model),), samples=5, seed=1, max_tokens=4000)
        plan = cmp.expand(spec)
        runner = cmp.GridRunner(plan.cells, [_target(sim.base_url, data_dir)], workers=2).start()
        while not any(r.text for r in runner.results):
            runner.drain(0.05)
        runner.stop()
        while not runner.finished:
            runner.drain(0.05)
    statuses = [r.status for r in runner.results]
    assert statuses[:2] == [cmp.STOPPED, cmp.STOPPED] and statuses[2:] == [cmp.SKIPPED] * 3
    for res in runner.results[:2]:
        assert res.text and long_reply.startswith(res.text) and len(res.text) < len(long_reply)
    log = usage_lines(data_dir)
    assert len(log) == 2  # skipped cells made no call
    assert all(r["status"] == "ok" and r["usage_estimated"] and r["output_tokens"] >= 1 for r in log)
    assert cmp.record_of(spec, plan, runner).status == "stopped"


def test_a_failing_cell_keeps_its_error_and_the_others_finish(data_dir: Path) -> None:
    with HostedAPISim(REPLY, first_byte_s=0.01, tokens_per_s=500) as sim, FaultProxy(sim.base_url) as proxy:
        proxy.reset(Fault("status", 500))
        spec = cmp.GridSpec(
            prompt="Hi",
            models=(cmp.ModelChoice("custom", sim.model), cmp.ModelChoice("vllm", sim.model)),
            samples=2,
            seed=1,
            column_axis="model",
        )
        targets = [_target(sim.base_url, data_dir), _target(proxy.base_url, data_dir, "vllm")]
        runner = cmp.GridRunner(
            cmp.expand(spec).cells, targets, workers=4, error_text=lambda exc, cell: f"cell {cell.index}: {type(exc).__name__}"
        )
        runner.run()
    by_slot = {0: [], 1: []}
    for cell, res in zip(runner.cells, runner.results, strict=True):
        by_slot[cell.slot].append(res)
    assert all(r.status == cmp.DONE and r.text == REPLY for r in by_slot[0])
    assert all(r.status == cmp.ERROR and r.error_kind == "server_error" and "InternalServerError" in r.error for r in by_slot[1])
    log = usage_lines(data_dir)
    assert sorted(r["status"] for r in log) == ["error", "error", "ok", "ok"]
