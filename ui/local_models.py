"""The local provider's models in the sidebar: pick a GGUF for the embedded server, download more by
link (with progress and resume), delete downloaded ones. The work is in lib/local_models.py and
LocalServer.switch_model; this file only renders."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lib import local_models as lm
from lib.config import Settings
from lib.errors import YoakeError
from lib.local_server import LocalServer, default_model_path
from lib.providers import LOCAL_MODEL_ALIAS


def _switch(server: LocalServer, key: str) -> None:
    """on_change of the model select box: runs before the rerun, so a failure can put the choice back."""
    chosen = Path(st.session_state[key])
    if chosen == server.model_path:
        return
    try:
        with st.spinner(f"Loading {chosen.name}…"):
            server.switch_model(chosen, LOCAL_MODEL_ALIAS if chosen == default_model_path() else None)
        st.session_state[f"{key}_error"] = None
    except YoakeError as exc:
        st.session_state[key] = str(server.model_path)  # the model that is running again
        st.session_state[f"{key}_error"] = f"**{exc.title}** {exc.detail}"


def local_model_panel(prefix: str, server: LocalServer, cfg: Settings, *, can_manage: bool = True) -> None:
    """Choose the embedded server's model; with `can_manage`, also download and delete models."""
    folder = lm.models_folder(cfg)
    models = [m for m in lm.list_models(folder) if m.usable]
    by_path = {str(m.path): m for m in models}
    key = f"{prefix}_local_gguf"
    running = str(server.model_path)
    by_path.setdefault(running, lm.describe_model(server.model_path))
    if st.session_state.get(key) not in by_path:
        st.session_state[key] = running
    st.sidebar.selectbox(
        "Local model file",
        list(by_path),
        key=key,
        format_func=lambda p: by_path[p].label,
        on_change=_switch,
        args=(server, key),
        # The engine is shared by everyone using this app: with sign-in, only admins change it.
        disabled=not can_manage,
        help="GGUF models in the models folder and the built-in SmolLM2. Choosing one restarts the embedded server with it, for every page."
        + ("" if can_manage else " Only an admin (YOAKE_ADMINS) can change it here."),
    )
    current = by_path[running]
    facts = [f"{current.parameters:,} parameters" if current.parameters else None,
             f"context {current.context_length:,}" if current.context_length else None]  # fmt: skip
    st.sidebar.caption(f"Running: `{server.alias}`" + "".join(f" · {f}" for f in facts if f))
    if error := st.session_state.get(f"{key}_error"):
        st.sidebar.error(error, icon="⚠️")
    if can_manage:
        with st.sidebar.expander("Get more models"):
            _downloads(prefix, folder)
            _delete(prefix, folder, server)


def _downloads(prefix: str, folder: Path) -> None:
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
        total = f" of {lm.format_size(part.total)}" if part.total else ""
        st.caption(f"Unfinished: {part.final_name}, {lm.format_size(part.done)}{total} ({lm.display_url(part.url or '')})")
    col_dl, col_resume = st.columns(2)
    start = col_dl.button("Download", key=f"{prefix}_dl_go", disabled=not url.strip())
    resumed = col_resume.button("Resume", key=f"{prefix}_dl_resume", disabled=not resume)
    if start or resumed:
        link = url.strip() if start else next(iter(resume.values())).url or ""
        _download(link, folder)
    usage = lm.disk_usage(folder)
    st.caption(
        f"Models folder `{usage.folder}`: {usage.model_count} model(s), {lm.format_size(usage.models_bytes)}"
        + (f", {lm.format_size(usage.partial_bytes)} unfinished" if usage.partial_bytes else "")
        + f"; {lm.format_size(usage.free_bytes)} free."
    )


def _download(url: str, folder: Path) -> None:
    bar = st.progress(0.0, text="Connecting…")

    def show(p: lm.DownloadProgress) -> None:
        total = f" of {p.total / lm.MB:,.1f}" if p.total else ""
        bar.progress(p.fraction or 0.0, text=f"{p.done / lm.MB:,.1f}{total} MB · {p.mb_per_s:.1f} MB/s")

    try:
        result = lm.download_model(url, folder=folder, progress=show)
    except YoakeError as exc:
        bar.empty()
        hint = " Press *Resume* to continue from where it stopped." if isinstance(exc, lm.DownloadInterrupted) else ""
        st.error(f"**{exc.title}** {exc.detail}{hint}", icon="⚠️")
        return
    bar.empty()
    verb = "was already here" if result.already_present else f"downloaded ({lm.format_size(result.size)})"
    st.success(f"{result.path.name} {verb}. Choose it in *Local model file* above.")
    st.rerun()  # so the select box lists it


def _delete(prefix: str, folder: Path, server: LocalServer) -> None:
    # The running model is not offered: choose another one first.
    downloaded = [m for m in lm.list_models(folder, include_shipped=False) if m.path != server.model_path]
    if not downloaded:
        return
    names = {str(m.path): m.label for m in downloaded}
    target = st.selectbox("Delete a downloaded model", list(names), key=f"{prefix}_del_which", format_func=names.get)
    sure = st.checkbox("Yes, delete this file", key=f"{prefix}_del_sure")
    if st.button("Delete", key=f"{prefix}_del_go", disabled=not sure):
        try:
            freed = lm.delete_model(target, folder)
        except YoakeError as exc:
            st.error(f"**{exc.title}** {exc.detail}", icon="⚠️")
            return
        st.session_state.pop(f"{prefix}_del_sure", None)
        st.success(f"Deleted, {lm.format_size(freed)} freed.")
        st.rerun()
