"""Results that remember their prompt version (issue 24, phase 2), plain pytest: the usage record's `prompt`
field and the usage view's filter and per-version figures; compare grids over versions (cells, labels,
saved runs and their references); conversations started from a version (migration 8, owner scoping); the
version filled in for a page (`lib.prompts.use`) and its messages in Japanese. No model server."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from pathlib import Path

import pytest

from lib.compare import GridSpec, ModelChoice, RunRecord, expand, export_csv, export_json, labels, load_run, problems, save_run
from lib.compare.handoff import form_values
from lib.compare.runner import CellResult
from lib.core import usage_log
from lib.core.identity import Identity
from lib.llm.chat import CallContext, ChatParams, ChatResult, finalize_and_log
from lib.prompts import PromptContent, PromptError
from lib.prompts.use import compare_variant, persona_content, prepare, record
from lib.storage.migrations import MIGRATIONS, SCHEMA_VERSION
from lib.storage.store import DB_FILE, Store
from lib.usage.reader import parse_lines
from lib.usage.view import Filters, build_view, by_prompt, options, to_frame
from tests.support.i18n import ja

SYSTEM = "You help with {{product}}."
TEMPLATE = "Question: {{question}}"
BOB = Identity("https://issuer.example", "bob")


def _support(store: Store) -> int:
    pid = store.create_prompt("support", PromptContent(system=SYSTEM, template=TEMPLATE, temperature=0.3).to_dict())
    store.save_version(pid, PromptContent(system=SYSTEM + " Be brief.", template=TEMPLATE).to_dict())
    store.set_label(pid, "本番", 1)
    return pid


# --- the usage log -------------------------------------------------------------------------------------


def test_a_call_is_logged_with_the_prompt_version_it_ran(data_dir: Path) -> None:
    log = data_dir / "usage.jsonl"
    ctx = CallContext(page="chat", provider_id="local", local=True, log_path=log, prompt="support@2")
    finalize_and_log(ctx, ChatParams(model="m"), [{"role": "user", "content": "hi"}], ChatResult(text="ok"), stream=True)
    finalize_and_log(CallContext(page="chat", provider_id="local", local=True, log_path=log), ChatParams(model="m"),
                     [{"role": "user", "content": "hi"}], ChatResult(text="ok"), stream=True)  # fmt: skip
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["prompt"] for line in lines] == ["support@2", None]
    table, bad = parse_lines(log.read_bytes())
    assert bad == 0 and table["prompt"].to_pylist() == ["support@2", None]
    # A line written before the field existed reads as no prompt.
    old = {k: v for k, v in lines[0].items() if k != "prompt"}
    table, bad = parse_lines((json.dumps(old) + "\n").encode())
    assert bad == 0 and table["prompt"].to_pylist() == [None]


def _record(prompt: str | None, *, ms: float, status: str = "ok", tokens: tuple[int, int] = (10, 5)) -> usage_log.UsageRecord:
    return usage_log.UsageRecord(
        page="compare", provider="openai", model="gpt-4o-mini", input_tokens=tokens[0], output_tokens=tokens[1],
        duration_ms=ms, status=status, error_type="server_error" if status == "error" else None, prompt=prompt,
        ts="2026-11-27T10:00:00.000Z",
    )  # fmt: skip


def test_usage_groups_and_filters_by_prompt_version() -> None:
    recs = [_record("support@2", ms=m) for m in (100, 200, 300, 400)]
    recs += [_record("support@2", ms=9000, status="error", tokens=(10, 0))]
    recs += [_record("support@10", ms=50), _record("faq@demo", ms=70), _record(None, ms=10)]
    table, _ = parse_lines("".join(r.to_json() + "\n" for r in recs).encode())
    day = dt.date(2026, 11, 27)
    view = build_view(table, Filters(), prices={}, local_providers=["local"], today=day)
    frame = view.by_prompt
    assert list(frame["prompt"]) == ["faq@demo", "support@2", "support@10"]  # by name, then version as a number
    two = frame.set_index("prompt").loc["support@2"]
    assert (two["calls"], two["input_tokens"], two["output_tokens"]) == (5, 50, 20)
    assert two["error_rate"] == pytest.approx(0.2)
    assert two["p50_latency_ms"] == pytest.approx(250.0)  # successful calls only: 100..400
    assert two["p95_latency_ms"] == pytest.approx(385.0)
    assert view.rows == 8  # calls without a version count in the totals, not in the table
    assert options(table)["prompt"] == ["faq@demo", "support@10", "support@2"]

    only = build_view(table, Filters(prompts=("support@10",)), prices={}, local_providers=["local"], today=day)
    assert only.rows == 1 and list(only.by_prompt["prompt"]) == ["support@10"]
    assert set(only.recent["prompt"]) == {"support@10"}
    # Cost follows the billed figures of each call.
    df = to_frame(table, {}, ["local"])
    assert by_prompt(df)["cost"].isna().sum() == 0


# --- compare over versions -------------------------------------------------------------------------------


def _grid(store: Store, *, temperatures=(None,)) -> GridSpec:  # noqa: ANN001
    pid = store.find_prompt("support").id
    variants = [compare_variant(v) for v in store.list_versions(pid)]
    return GridSpec(
        prompt="", models=(ModelChoice("local", "m"),), variants=tuple(s for s, _ in variants),
        versions=tuple(e for _, e in variants), temperatures=temperatures, inputs=({"product": "Yoake", "question": "Why?"},),
        column_axis="variant", seed=1,
    )  # fmt: skip


def test_versions_are_a_compare_axis_and_each_cell_knows_its_version(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    _support(store)
    spec = _grid(store, temperatures=(None, 1.0))
    assert problems(spec) == []  # the versions' templates are the prompt
    plan = expand(spec)
    assert plan.columns == ["support@1", "support@2"] and labels(spec, "temperature")[1] == [["support@1"], ["support@2"]]
    assert [(c.column, c.prompt_ref, c.temperature) for c in plan.cells] == [
        (0, "support@1", 0.3),
        (1, "support@2", None),
        (0, "support@1", 1.0),
        (1, "support@2", 1.0),
    ]  # fmt: skip  (v1's own temperature where the axis is blank; v2 sets none)
    assert plan.cells[1].messages() == [
        {"role": "system", "content": "You help with Yoake. Be brief."},
        {"role": "user", "content": "Question: Why?"},
    ]
    assert GridSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    values = form_values(spec)
    assert (values["use_versions"], values["pv_name"], values["pv_refs"]) == (True, "support", ["support@1", "support@2"])
    assert form_values(GridSpec(prompt="x", models=()))["use_versions"] is False
    # Without a prompt, a version without a template cannot run.
    bare = GridSpec(prompt="", models=(ModelChoice("local", "m"),), variants=("s",), versions=({"ref": "x@1", "template": ""},))
    assert problems(bare) == ["Write a prompt first."]


def test_a_saved_run_keeps_its_versions_referenced_and_reloads_them(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = _support(store)
    spec = _grid(store)
    plan = expand(spec)
    results = [CellResult(i, status="done", text=f"answer {i}") for i in range(len(plan.cells))]
    run_id = save_run(store, RunRecord(spec, plan, results, "complete"))
    again = load_run(store, run_id)
    assert [c.prompt_ref for c in again.plan.cells] == ["support@1", "support@2"]
    assert again.title == "support@1 vs support@2"
    rows = list(csv.DictReader(io.StringIO(export_csv(again))))
    assert [r["prompt_ref"] for r in rows] == ["support@1", "support@2"]
    assert [c["prompt_ref"] for c in json.loads(export_json(again))["cells"]] == ["support@1", "support@2"]
    assert sorted((r.number, r.kind, r.target) for r in store.list_prompt_references(pid)) == [
        (1, "compare_run", run_id), (2, "compare_run", run_id),
    ]  # fmt: skip
    # Deleting the prompt keeps both versions for the run; deleting the run then lets them go.
    assert store.delete_prompt(pid)
    assert [v.number for v in store.list_versions(pid)] == [1, 2]
    store.delete_compare_run(run_id)
    store.remove_prompt_references("compare_run", run_id)
    assert store.list_versions(pid) == []


# --- conversations ---------------------------------------------------------------------------------------


def test_a_conversation_remembers_its_version_per_owner(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    cid = store.create_conversation(title="hi", system_prompt="s", prompt="support@2")
    other = store.create_conversation(title="plain")
    assert store.get_conversation(cid).prompt == "support@2" and store.get_conversation(other).prompt is None
    assert [c.id for c in store.list_conversations(prompt="support@2")] == [cid]
    assert {c.id for c in store.list_conversations()} == {cid, other}
    store.update_settings(other, persona=None, system_prompt="s", provider=None, model=None, params={}, prompt="faq@1")
    assert store.get_conversation(other).prompt == "faq@1"
    bob = store.for_owner(BOB.owner)
    assert bob.list_conversations(prompt="support@2") == [] and bob.get_conversation(cid) is None
    bob.update_settings(cid, persona=None, system_prompt="x", provider=None, model=None, params={}, prompt="stolen@1")
    assert store.get_conversation(cid).prompt == "support@2"


def test_migration_8_adds_the_prompt_to_existing_conversations(data_dir: Path) -> None:
    path = data_dir / DB_FILE
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:7]:
        conn.executescript(script)
    conn.executescript(
        "INSERT INTO conversations (id, owner, title, created_at, updated_at, params) VALUES ('c1', 'local', 'Old', 1, 2, '{}');"
        "INSERT INTO messages (conversation_id, role, content, created_at, updated_at) VALUES ('c1', 'user', 'hello', 1, 1);"
        "PRAGMA user_version = 7;"
    )
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION >= 8
    conv = store.get_conversation("c1")
    assert conv.prompt is None and [m.content for m in conv.messages] == ["hello"] and conv.title == "Old"


# --- a version filled in for a page ------------------------------------------------------------------------


def test_prepare_fills_the_variables_and_names_the_version_by_number(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = _support(store)
    labelled = store.version_by_name("support", label="本番")
    ready = prepare(labelled, {"product": "Yoake", "question": "Why?", "unused": "x"})
    assert (ready.ref, ready.system, ready.user) == ("support@1", "You help with Yoake.", "Question: Why?")
    assert ready.parameters == {"temperature": 0.3} and ready.values == {"product": "Yoake", "question": "Why?"}
    with pytest.raises(PromptError) as caught:
        prepare(labelled, {"product": "Yoake"})
    assert str(caught.value.detail) == "Give a value for {{question}}: the prompt uses them."
    assert caught.value.detail.render("ja") == ja("Give a value for {names}: the prompt uses them.").format(names="{{question}}")
    assert record(store, "support@2", "conversation", "c1") and not record(store, "support@9", "conversation", "c1")
    assert [(r.number, r.target) for r in store.list_prompt_references(pid)] == [(2, "c1")]
    assert persona_content("Be kind.", 0.7) == PromptContent(system="Be kind.", temperature=0.7)


def test_an_exported_conversation_keeps_its_version_through_import(data_dir: Path) -> None:
    from lib.conversation.io import export_json, parse_import

    store = Store.in_dir(data_dir)
    cid = store.create_conversation(title="hi", system_prompt="s", prompt="support@2")
    store.add_message(cid, "user", "hello")
    doc = json.loads(export_json(store.get_conversation(cid)))
    assert doc["metadata"]["prompt"] == "support@2"
    again = store.get_conversation(store.import_conversation(parse_import(json.dumps(doc).encode())))
    assert again.prompt == "support@2" and [m.content for m in again.messages] == ["hello"]
