"""The local provider's models in the sidebar: pick a GGUF for the embedded server, download more by
link (with progress and resume), delete downloaded ones. The work, and the check of who may do it, is
in lib/engine/shared.py; this file only renders."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lib.core import i18n
from lib.core.errors import YoakeError
from lib.core.text import MB, format_size
from lib.engine import models as lm
from lib.engine.download import DownloadProgress, display_url
from lib.engine.errors import DownloadInterrupted
from lib.engine.shared import SharedModels
from ui.common import error_message, settings
from ui.i18n import _, fmt_number, language, tr


def _switch(models: SharedModels, key: str) -> None:
    """on_change of the model select box: runs before the rerun, so a failure can put the choice back."""
    chosen = Path(st.session_state[key])
    if chosen == models.server.model_path:
        return
    try:
        with st.spinner(_("Loading {name}…").format(name=chosen.name)):
            models.switch(chosen)
        st.session_state[f"{key}_error"] = None
    except YoakeError as exc:
        st.session_state[key] = str(models.server.model_path)  # the model that is running again
        st.session_state[f"{key}_error"] = error_message(exc, None, settings())


def _labels(by_path: dict[str, lm.LocalModel]):
    """A select box's format_func in this run's language, bound now (it is also called outside the run)."""
    lang = language()
    return lambda p: i18n.render(by_path[p].label, lang)


def local_model_panel(prefix: str, models: SharedModels) -> None:
    """Choose the embedded server's model; where the policy allows, also download and delete models."""
    server = models.server
    by_path = models.choices()
    key = f"{prefix}_local_gguf"
    running = str(server.model_path)
    manageable = models.manageable
    if st.session_state.get(key) not in by_path:
        st.session_state[key] = running
    help_text = _(
        "GGUF models in the models folder and the built-in SmolLM2. Choosing one restarts the embedded server with it, for every page."
    )
    st.sidebar.selectbox(
        _("Local model file"),
        list(by_path),
        key=key,
        format_func=_labels(by_path),
        on_change=_switch,
        args=(models, key),
        # The engine is shared by everyone using this app (lib/core/policy.py says who may change it).
        disabled=not manageable,
        help=help_text if manageable else f"{help_text} {tr(manageable.reason)}",
    )
    current = by_path[running]
    facts = [_("{count} parameters").format(count=fmt_number(current.parameters)) if current.parameters else None,
             _("context {tokens}").format(tokens=fmt_number(current.context_length)) if current.context_length else None]  # fmt: skip
    st.sidebar.caption(_("Running: `{model}`").format(model=server.alias) + "".join(f" · {f}" for f in facts if f))
    if error := st.session_state.get(f"{key}_error"):
        st.sidebar.error(error, icon="⚠️")
    if manageable:
        with st.sidebar.expander(_("Get more models")):
            _downloads(prefix, models)
            _delete(prefix, models)


def _downloads(prefix: str, models: SharedModels) -> None:
    folder = models.folder
    st.caption(_("Small instruct models that run on a laptop CPU. Download one while online; it then works offline."))
    for rec in lm.RECOMMENDED_MODELS:
        have = " ✅ " + _("downloaded") if rec.installed_path(folder) else ""
        languages = ", ".join(tr(lang) for lang in rec.languages)
        st.markdown(
            f"**[{rec.title}]({rec.page})** · {rec.parameters} · {rec.quantization} · {fmt_number(rec.size_mb)} MB{have}  \n"
            f"{languages} · {tr(rec.good_for)}  \n`{rec.url}`"
        )
    url = st.text_input(_("GGUF link"), key=f"{prefix}_dl_url", placeholder="https://huggingface.co/…/resolve/main/model.gguf")
    partials = lm.list_partial_downloads(folder)
    resume = {p.final_name: p for p in partials if p.url}
    for part in resume.values():
        done = (
            _("{done} of {total}").format(done=format_size(part.done), total=format_size(part.total))
            if part.total
            else format_size(part.done)
        )
        st.caption(
            _("Unfinished: {name}, {done} ({url})").format(name=part.final_name, done=done, url=tr(display_url(part.url or "")))
        )
    col_dl, col_resume = st.columns(2)
    start = col_dl.button(_("Download"), key=f"{prefix}_dl_go", disabled=not url.strip())
    resumed = col_resume.button(_("Resume"), key=f"{prefix}_dl_resume", disabled=not resume)
    if start or resumed:
        link = url.strip() if start else next(iter(resume.values())).url or ""
        _download(link, models)
    usage = lm.disk_usage(folder)
    count = _("{count} model(s)").format(count=fmt_number(usage.model_count))
    facts = {
        "folder": usage.folder,
        "count": count,
        "size": format_size(usage.models_bytes),
        "free": format_size(usage.free_bytes),
    }
    st.caption(
        _("Models folder `{folder}`: {count}, {size}, {unfinished} unfinished; {free} free.").format(
            unfinished=format_size(usage.partial_bytes), **facts
        )
        if usage.partial_bytes
        else _("Models folder `{folder}`: {count}, {size}; {free} free.").format(**facts)
    )


def _download(url: str, models: SharedModels) -> None:
    bar = st.progress(0.0, text=_("Connecting…"))

    def show(p: DownloadProgress) -> None:
        speed = _("{speed} MB/s").format(speed=fmt_number(p.mb_per_s, 1))
        done = fmt_number(p.done / MB, 1)
        text = (
            _("{done} of {total} MB · {speed}").format(done=done, total=fmt_number(p.total / MB, 1), speed=speed)
            if p.total
            else _("{done} MB · {speed}").format(done=done, speed=speed)
        )
        bar.progress(p.fraction or 0.0, text=text)

    try:
        result = models.download(url, progress=show)
    except YoakeError as exc:
        bar.empty()
        hint = " " + _("Press *Resume* to continue from where it stopped.") if isinstance(exc, DownloadInterrupted) else ""
        st.error(error_message(exc, None, settings()) + hint, icon="⚠️")
        return
    bar.empty()
    done = (
        _("{name} was already here. Choose it in *Local model file* above.")
        if result.already_present
        else _("{name} downloaded ({size}). Choose it in *Local model file* above.")
    )
    st.success(done.format(name=result.path.name, size=format_size(result.size)))
    st.rerun()  # so the select box lists it


def _delete(prefix: str, models: SharedModels) -> None:
    # The running model is not offered: choose another one first.
    downloaded = [m for m in lm.list_models(models.folder, include_shipped=False) if m.path != models.server.model_path]
    if not downloaded:
        return
    names = {str(m.path): m for m in downloaded}
    target = st.selectbox(_("Delete a downloaded model"), list(names), key=f"{prefix}_del_which", format_func=_labels(names))
    sure = st.checkbox(_("Yes, delete this file"), key=f"{prefix}_del_sure")
    if st.button(_("Delete"), key=f"{prefix}_del_go", disabled=not sure):
        try:
            freed = models.delete(target)
        except YoakeError as exc:
            st.error(error_message(exc, None, settings()), icon="⚠️")
            return
        st.session_state.pop(f"{prefix}_del_sure", None)
        st.success(_("Deleted, {size} freed.").format(size=format_size(freed)))
        st.rerun()
