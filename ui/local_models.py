"""The local provider's models in the sidebar: pick a GGUF for the embedded server, download more by
link (with progress and resume), delete downloaded ones. The work, and the check of who may do it, is
in lib/engine/shared.py; this file only renders."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lib.core.errors import YoakeError
from lib.core.text import MB, format_size
from lib.engine import models as lm
from lib.engine.download import DownloadProgress, display_url
from lib.engine.errors import DownloadInterrupted
from lib.engine.shared import SharedModels
from ui.common import error_message, settings


def _switch(models: SharedModels, key: str) -> None:
    """on_change of the model select box: runs before the rerun, so a failure can put the choice back."""
    chosen = Path(st.session_state[key])
    if chosen == models.server.model_path:
        return
    try:
        with st.spinner(f"Loading {chosen.name}…"):
            models.switch(chosen)
        st.session_state[f"{key}_error"] = None
    except YoakeError as exc:
        st.session_state[key] = str(models.server.model_path)  # the model that is running again
        st.session_state[f"{key}_error"] = error_message(exc, None, settings())


def local_model_panel(prefix: str, models: SharedModels) -> None:
    """Choose the embedded server's model; where the policy allows, also download and delete models."""
    server = models.server
    by_path = models.choices()
    key = f"{prefix}_local_gguf"
    running = str(server.model_path)
    manageable = models.manageable
    if st.session_state.get(key) not in by_path:
        st.session_state[key] = running
    st.sidebar.selectbox(
        "Local model file",
        list(by_path),
        key=key,
        format_func=lambda p: by_path[p].label,
        on_change=_switch,
        args=(models, key),
        # The engine is shared by everyone using this app (lib/core/policy.py says who may change it).
        disabled=not manageable,
        help="GGUF models in the models folder and the built-in SmolLM2. Choosing one restarts the embedded server with it, for every page."
        + ("" if manageable else f" {manageable.reason}"),
    )
    current = by_path[running]
    facts = [f"{current.parameters:,} parameters" if current.parameters else None,
             f"context {current.context_length:,}" if current.context_length else None]  # fmt: skip
    st.sidebar.caption(f"Running: `{server.alias}`" + "".join(f" · {f}" for f in facts if f))
    if error := st.session_state.get(f"{key}_error"):
        st.sidebar.error(error, icon="⚠️")
    if manageable:
        with st.sidebar.expander("Get more models"):
            _downloads(prefix, models)
            _delete(prefix, models)


def _downloads(prefix: str, models: SharedModels) -> None:
    folder = models.folder
    st.caption("Small instruct models that run on a laptop CPU. Download one while online; it then works offline.")
    for rec in lm.RECOMMENDED_MODELS:
        have = " ✅ downloaded" if rec.installed_path(folder) else ""
        st.markdown(
            f"**[{rec.title}]({rec.page})** · {rec.parameters} · {rec.quantization} · {rec.size_mb:,} MB{have}  \n"
            f"{', '.join(rec.languages)}: {rec.good_for}  \n`{rec.url}`"
        )
    url = st.text_input("GGUF link", key=f"{prefix}_dl_url", placeholder="https://huggingface.co/…/resolve/main/model.gguf")
    partials = lm.list_partial_downloads(folder)
    resume = {p.final_name: p for p in partials if p.url}
    for part in resume.values():
        total = f" of {format_size(part.total)}" if part.total else ""
        st.caption(f"Unfinished: {part.final_name}, {format_size(part.done)}{total} ({display_url(part.url or '')})")
    col_dl, col_resume = st.columns(2)
    start = col_dl.button("Download", key=f"{prefix}_dl_go", disabled=not url.strip())
    resumed = col_resume.button("Resume", key=f"{prefix}_dl_resume", disabled=not resume)
    if start or resumed:
        link = url.strip() if start else next(iter(resume.values())).url or ""
        _download(link, models)
    usage = lm.disk_usage(folder)
    st.caption(
        f"Models folder `{usage.folder}`: {usage.model_count} model(s), {format_size(usage.models_bytes)}"
        + (f", {format_size(usage.partial_bytes)} unfinished" if usage.partial_bytes else "")
        + f"; {format_size(usage.free_bytes)} free."
    )


def _download(url: str, models: SharedModels) -> None:
    bar = st.progress(0.0, text="Connecting…")

    def show(p: DownloadProgress) -> None:
        total = f" of {p.total / MB:,.1f}" if p.total else ""
        bar.progress(p.fraction or 0.0, text=f"{p.done / MB:,.1f}{total} MB · {p.mb_per_s:.1f} MB/s")

    try:
        result = models.download(url, progress=show)
    except YoakeError as exc:
        bar.empty()
        hint = " Press *Resume* to continue from where it stopped." if isinstance(exc, DownloadInterrupted) else ""
        st.error(error_message(exc, None, settings()) + hint, icon="⚠️")
        return
    bar.empty()
    verb = "was already here" if result.already_present else f"downloaded ({format_size(result.size)})"
    st.success(f"{result.path.name} {verb}. Choose it in *Local model file* above.")
    st.rerun()  # so the select box lists it


def _delete(prefix: str, models: SharedModels) -> None:
    # The running model is not offered: choose another one first.
    downloaded = [m for m in lm.list_models(models.folder, include_shipped=False) if m.path != models.server.model_path]
    if not downloaded:
        return
    names = {str(m.path): m.label for m in downloaded}
    target = st.selectbox("Delete a downloaded model", list(names), key=f"{prefix}_del_which", format_func=names.get)
    sure = st.checkbox("Yes, delete this file", key=f"{prefix}_del_sure")
    if st.button("Delete", key=f"{prefix}_del_go", disabled=not sure):
        try:
            freed = models.delete(target)
        except YoakeError as exc:
            st.error(error_message(exc, None, settings()), icon="⚠️")
            return
        st.session_state.pop(f"{prefix}_del_sure", None)
        st.success(f"Deleted, {format_size(freed)} freed.")
        st.rerun()
