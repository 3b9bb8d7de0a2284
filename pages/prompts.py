"""Prompts: versions of a system prompt, template and parameters; diff, label, restore, duplicate, delete,
import and export (JSON and promptfoo)."""

from __future__ import annotations

import re

import streamlit as st

from lib.core.text import md_text
from lib.prompts import PromptContent, PromptError, export_json, export_promptfoo, format_ref, import_file
from lib.prompts.builtins import ensure_builtin_prompts
from lib.prompts.io import PromptImportError
from lib.prompts.promptfoo import to_chat_json
from lib.prompts.use import CHAT, COMPARE, LOGPROBS, PromptHandoff
from lib.storage.db import StoreError
from ui import prompts_view as view
from ui.common import enter_page, error_message, open_store, settings
from ui.i18n import _, language, tr

enter_page()  # first: never run without the entry point (password gate, navigation)

st.title("📝 " + _("Prompts"))
st.caption(_("Each save is a new version, nothing is overwritten: compare any two, label the one for the demo, "
             "go back to an older one. Saved results remember the version they ran (name@version)."))  # fmt: skip

cfg = settings()
store = open_store()
state = st.session_state
state.setdefault("pr_selected", None)  # the open prompt's id
state.setdefault("pr_base", None)  # (prompt id, version) opened in the editor; None: the newest
state.setdefault("pr_flash", None)  # ("success" | "error" | "info", text): the last action's outcome
state.setdefault("pr_notes", [])  # notes of the last import


def _flash(kind: str, text: str) -> None:
    state.pr_flash = (kind, text)


def _failed(exc: Exception) -> None:
    _flash("error", error_message(exc, None, cfg))


def _content(key: str) -> PromptContent | None:
    try:
        return PromptContent.from_dict(view.read(key))
    except PromptError as exc:
        _failed(exc)
        return None


def _create(key: str) -> None:
    content = _content(key)
    if content is None:
        return
    try:
        pid = store.create_prompt(state.get("pr_new_name", ""), content.to_dict(), state.get("pr_new_note", ""))
    except StoreError as exc:
        _failed(exc)
        return
    state.pr_selected, state.pr_base = pid, None
    state.pr_new_name = state.pr_new_note = ""
    _flash("success", _("Created '{name}' (v1).").format(name=md_text(store.get_prompt(pid).name)))


def _save(pid: int, key: str) -> None:
    content = _content(key)
    if content is None:
        return
    try:
        number = store.save_version(pid, content.to_dict(), state.get(f"pr_note_{pid}", ""))
    except StoreError as exc:
        _failed(exc)
        return
    state.pr_base, state[f"pr_note_{pid}"] = None, ""
    _flash("success", _("Saved version {n}.").format(n=number))


def _restore(pid: int, pick_key: str, drawn: int) -> None:
    number = state.get(pick_key, drawn)  # the pick now: the button may have been drawn before it changed
    try:
        new = store.restore_version(pid, number)
    except StoreError as exc:
        _failed(exc)
        return
    state.pr_base = None
    _flash("success", _("Restored v{old} as the new version v{new}.").format(old=number, new=new))


def _set_label(pid: int) -> None:
    label, number = state.get("pr_label_name", ""), state.get(f"pr_label_version_{pid}")
    try:
        before = store.set_label(pid, label, number)
    except StoreError as exc:
        _failed(exc)
        return
    name = md_text(" ".join(label.split()))
    if before is None or before == number:
        _flash("success", _("The label {label} now points at v{n}.").format(label=name, n=number))
    else:
        _flash("success", _("Moved the label {label} from v{old} to v{n}.").format(label=name, old=before, n=number))
    state.pr_label_name = ""


def _remove_label(pid: int, label: str) -> None:
    store.remove_label(pid, label)
    _flash("info", _("Removed the label {label}.").format(label=md_text(label)))


def _duplicate(pid: int) -> None:
    try:
        new = store.duplicate_prompt(pid, state.get(f"pr_copy_name_{pid}", ""))
    except StoreError as exc:
        _failed(exc)
        return
    state.pr_selected, state.pr_base = new, None
    _flash("success", _("Duplicated as '{name}'.").format(name=md_text(store.get_prompt(new).name)))


def _delete(pid: int) -> None:
    kept = ", ".join(f"v{n}" for n in sorted({r.number for r in store.list_prompt_references(pid)}))
    if store.delete_prompt(pid):
        if kept:
            _flash(
                "info",
                _("Deleted the prompt. The versions saved results used ({versions}) are kept, marked deleted.").format(
                    versions=kept
                ),
            )
        else:
            _flash("info", _("Deleted the prompt."))
    state.pr_selected = state.pr_base = None


def _import() -> None:
    upload = state.get("pr_import_file")
    if upload is None:
        return
    try:
        names, notes = import_file(store, upload.name, upload.getvalue())
    except (PromptImportError, StoreError) as exc:
        _failed(exc)
        return
    state.pr_notes = [tr(n) for n in notes]
    _flash("success", _("Imported: {names}.").format(names=", ".join(md_text(n) for n in names)))
    state.pr_selected, state.pr_base = store.find_prompt(names[0]).id, None


def _add_builtins() -> None:
    made = ensure_builtin_prompts(store, language())
    if made:
        _flash("success", _("The built-in personas are prompts now: {n} added.").format(n=len(made)))
        state.pr_selected, state.pr_base = made[0], None
    else:
        _flash("info", _("Every built-in persona has been made a prompt before (a deleted one is not made again)."))


def _hand_off(key: str, target: str, name: str, picks: tuple[tuple[str, int], ...], page: str) -> None:
    """Versions for another page: that page takes them from session state; this one switches to it. Each
    version is read from its picker (key, the number it showed when the button was drawn) at the click: a
    click that arrives while the rerun of a new pick is still running must hand off that pick."""
    refs = tuple(format_ref(name, state.get(k, drawn)) for k, drawn in picks)
    if len(set(refs)) < len(refs):
        _flash("info", _("Pick two different versions to compare."))
        return
    state[key] = PromptHandoff(target, refs[-1], refs if len(refs) > 1 else ())
    state.pr_goto = page


# --- the list -------------------------------------------------------------------------------------------

if goto := state.pop("pr_goto", None):
    st.switch_page(goto)
search = st.text_input(_("Search"), key="pr_search", placeholder=_("A word of the name or the text"))
prompts = store.list_prompts(search)
everything = prompts if not search.strip() else store.list_prompts()
if state.pr_selected not in {p.id for p in everything}:
    state.pr_selected = prompts[0].id if prompts else None

if state.pr_flash:
    kind, text = state.pr_flash
    {"success": st.success, "error": st.error, "info": st.info}[kind](text, icon="⚠️" if kind == "error" else None)
    state.pr_flash = None
for note in state.pr_notes:
    st.caption("· " + md_text(note))

if prompts:
    st.dataframe(
        [{_("Name"): p.name, _("Newest"): f"v{p.latest}", _("Labels"): ", ".join(f"{k}→v{v}" for k, v in p.labels.items()),
          _("Updated"): view.when(p.updated_at)} for p in prompts],
        hide_index=True, width="stretch", key="pr_list",
    )  # fmt: skip
elif search.strip():
    st.info(_("No prompt holds '{text}'.").format(text=md_text(search)))
else:
    st.info(_("No prompts yet: write one below, or import a JSON or promptfoo file."))

options = [p.id for p in prompts]
if state.pr_selected is not None and state.pr_selected not in options:
    options.insert(0, state.pr_selected)  # the open prompt stays open while a search hides it
names = {p.id: p.name for p in everything}
if options:
    st.selectbox(_("Open a prompt"), options, key="pr_selected", format_func=lambda i: names.get(i, "?"))

with st.expander("➕ " + _("New prompt"), expanded=not everything):
    st.text_input(_("Name"), key="pr_new_name", max_chars=80, placeholder=_("e.g. support-bot"))
    view.editor("pr_new", None)
    st.text_input(_("Note"), key="pr_new_note", placeholder=_("What this version is for"))
    st.button(_("Create"), key="pr_create", type="primary", on_click=_create, args=("pr_new",))

with st.expander("📥 " + _("Import")):
    st.file_uploader(_("A Yoake prompt export (JSON) or a promptfoo prompts file (YAML, JSON, JSONL, text)"),
                     type=["json", "yaml", "yml", "jsonl", "txt"], key="pr_import_file")  # fmt: skip
    st.button(_("Import"), key="pr_import", on_click=_import)
    st.button(_("Add the built-in personas as prompts"), key="pr_builtins", on_click=_add_builtins,
              help=_("Each built-in persona (its system prompt and temperature, in this language) as a prompt of yours, once."))  # fmt: skip

prompt = store.get_prompt(state.pr_selected) if state.pr_selected is not None else None
if prompt is None:
    st.stop()

# --- the open prompt --------------------------------------------------------------------------------------

versions = store.list_versions(prompt.id)
by_number = {v.number: v for v in versions}
st.subheader(md_text(prompt.name))
st.caption(" · ".join([_("newest v{n}").format(n=prompt.latest), *(f"{md_text(k)} → v{v}" for k, v in prompt.labels.items()),
                       _("updated {when}").format(when=view.when(prompt.updated_at))]))  # fmt: skip

base = state.pr_base[1] if state.pr_base and state.pr_base[0] == prompt.id and state.pr_base[1] in by_number else prompt.latest
tab_edit, tab_history, tab_diff, tab_labels, tab_more = st.tabs(
    ["✏️ " + _("Edit"), "🕘 " + _("History"), "↔️ " + _("Diff"), "🏷️ " + _("Labels"), "⋯ " + _("More")]
)

with tab_edit:
    if base != prompt.latest:
        st.info(_("Editing from v{n}. Saving makes a new version after v{latest}.").format(n=base, latest=prompt.latest))
    key = f"pr_edit_{prompt.id}_{base}"
    values = view.editor(key, PromptContent.from_dict(by_number[base].content))
    st.text_input(_("Note"), key=f"pr_note_{prompt.id}", placeholder=_("What changed, and why"))
    st.button(_("Save as a new version"), key="pr_save", type="primary", on_click=_save, args=(prompt.id, key))
    with st.expander(_("Try the variables")):
        try:
            view.variables_preview(key, PromptContent.from_dict(values))
        except PromptError as exc:
            st.caption(tr(exc.detail))

with tab_history:
    view.history(prompt, versions)
    numbers = [v.number for v in reversed(versions)]
    pick = st.selectbox(_("Version"), numbers, key=f"pr_history_pick_{prompt.id}",
                        format_func=lambda n: view.version_label(by_number[n], prompt.labels))  # fmt: skip
    col_open, col_restore = st.columns(2)
    if col_open.button(_("Open in the editor"), key="pr_open_version"):
        state.pr_base = (prompt.id, pick)
        st.rerun()
    col_restore.button(_("Restore as a new version"), key="pr_restore", on_click=_restore, args=(prompt.id, f"pr_history_pick_{prompt.id}", pick),
                       disabled=pick == prompt.latest, help=_("Adds a version equal to this one; nothing is lost."))  # fmt: skip
    with st.expander(_("Version {n}").format(n=pick), expanded=False):
        view.show_version(by_number[pick])
    # Use it: the other pages take the version (a typed hand-off) and ask for its variables there.
    col_chat, col_lp = st.columns(2)
    col_chat.button("💬 " + _("Start a chat with this version"), key="pr_start_chat", type="primary", on_click=_hand_off,
                    args=("chat_prompt_handoff", CHAT, prompt.name, ((f"pr_history_pick_{prompt.id}", pick),), "pages/chat.py"))  # fmt: skip
    col_lp.button("🔍 " + _("Run it in the logprobs explorer"), key="pr_start_logprobs", on_click=_hand_off,
                  args=("lp_prompt_handoff", LOGPROBS, prompt.name, ((f"pr_history_pick_{prompt.id}", pick),), "pages/logprobs.py"))  # fmt: skip

with tab_diff:
    if len(versions) < 2:
        st.info(_("Save a second version to compare two."))
    else:
        numbers = [v.number for v in versions]
        col_a, col_b = st.columns(2)
        old = col_a.selectbox(_("From"), numbers, index=len(numbers) - 2, key=f"pr_diff_old_{prompt.id}",
                              format_func=lambda n: view.version_label(by_number[n], prompt.labels))  # fmt: skip
        new = col_b.selectbox(_("To"), numbers, index=len(numbers) - 1, key=f"pr_diff_new_{prompt.id}",
                              format_func=lambda n: view.version_label(by_number[n], prompt.labels))  # fmt: skip
        view.side_by_side(by_number[old], by_number[new])
        st.button("⚖️ " + _("Compare their answers"), key="pr_start_compare", disabled=old == new,
                  help=_("Opens the compare page with these two versions as the variants."), on_click=_hand_off,
                  args=("cmp_prompt_handoff", COMPARE, prompt.name, ((f"pr_diff_old_{prompt.id}", old), (f"pr_diff_new_{prompt.id}", new)),
                        "pages/compare.py"))  # fmt: skip

with tab_labels:
    st.caption(_("A label names one version (e.g. demo, 本番) and can be moved; results and pages can use name@label."))
    for label, number in prompt.labels.items():
        col_name, col_remove = st.columns([3, 1])
        col_name.markdown(f"`{format_ref(prompt.name, number)}` ← **{md_text(label)}**")
        col_remove.button(_("Remove"), key=f"pr_unlabel_{prompt.id}_{label}", on_click=_remove_label, args=(prompt.id, label))
    col_label, col_version = st.columns(2)
    col_label.text_input(_("Label"), key="pr_label_name", placeholder="demo, 本番", max_chars=40)
    col_version.selectbox(_("Version"), [v.number for v in reversed(versions)], key=f"pr_label_version_{prompt.id}",
                          format_func=lambda n: view.version_label(by_number[n], prompt.labels))  # fmt: skip
    st.button(_("Set label"), key="pr_set_label", on_click=_set_label, args=(prompt.id,))

with tab_more:
    st.markdown("**" + _("Duplicate") + "**")
    st.text_input(
        _("Name of the copy"), value=_("{name} (copy)").format(name=prompt.name), key=f"pr_copy_name_{prompt.id}", max_chars=80
    )
    st.button(_("Duplicate"), key="pr_duplicate", on_click=_duplicate, args=(prompt.id,),
              help=_("A new prompt whose version 1 is this prompt's newest version."))  # fmt: skip

    st.markdown("**" + _("Export") + "**")
    stem = re.sub(r"[^\w.-]+", "-", prompt.name).strip("-") or "prompt"
    col_json, col_yaml, col_chat = st.columns(3)
    col_json.download_button(_("JSON (all versions)"), export_json(store, prompt.id), f"{stem}.prompt.json",
                             "application/json", key="pr_export_json")  # fmt: skip
    col_yaml.download_button(_("promptfoo (YAML)"), export_promptfoo(store, prompt.id), f"{stem}.promptfoo.yaml",
                             "application/yaml", key="pr_export_promptfoo")  # fmt: skip
    col_chat.download_button(_("Chat JSON (v{n})").format(n=prompt.latest),
                             to_chat_json(PromptContent.from_dict(prompt.content)), f"{stem}-v{prompt.latest}.json",
                             "application/json", key="pr_export_chat",
                             help=_("promptfoo's chat-style prompt file: prompts: [file://this.json]"))  # fmt: skip

    st.markdown("**" + _("Delete") + "**")
    used = sorted({r.number for r in store.list_prompt_references(prompt.id)})
    if used:
        st.caption(_("Saved results used {versions}: those versions are kept, marked deleted.").format(
            versions=", ".join(f"v{n}" for n in used)))  # fmt: skip
    sure = st.checkbox(_("Yes, delete this prompt"), key=f"pr_delete_confirm_{prompt.id}")
    st.button(_("Delete prompt"), key="pr_delete", disabled=not sure, on_click=_delete, args=(prompt.id,))
