"""What every page shares: settings, the embedded server, clients, the model picker, errors."""

from __future__ import annotations

import datetime as _dt
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import openai
import streamlit as st
from streamlit.errors import StreamlitAuthError

from lib.core import pricing, usage_log
from lib.core.auth import AttemptThrottle
from lib.core.config import Settings, load_settings
from lib.core.errors import YoakeError, describe_error
from lib.core.i18n import LANGUAGES, SOURCE_LANGUAGE, Msg, normalize
from lib.core.identity import LOCAL_OWNER, Identity
from lib.core.policy import Action, Decision, Visitor, decide, may_reach_private_networks, visitor
from lib.core.text import format_size, md_text
from lib.engine.download import DownloadProgress, display_url, follow_download, is_url
from lib.engine.errors import DownloadBusy
from lib.engine.models import downloaded_path, fit_problem, model_link, models_folder, resolve_local_model
from lib.engine.server import START_TIMEOUT, LocalServer, LocalServerError
from lib.llm.chat import AUTO_MODEL, AUTO_RULE, CallContext
from lib.llm.providers import (
    LOCAL_ID,
    LOCAL_MODEL_ALIAS,
    PROVIDERS,
    ModelList,
    Provider,
    check_typed_base_url,
    client_for,
    default_provider_id,
    list_models,
    model_deprecation,
    router_defaults,
)
from lib.storage.db import StoreError
from lib.storage.store import Store
from ui.i18n import LANGUAGE_KEY, _, browser_language, fmt_number, language, remember_run_language, tr

# Widgets whose values a page keeps pass this (Streamlit's persist_state): the value stays for the session,
# across pages, and is handed back to a browser that has not drawn the field yet (a slow laptop, a demo
# machine under load). Without it such a field was drawn later at its default and sent that back: a compare
# grid estimated at 12 calls ran 2, its temperatures, samples and seed back to blank and 1.
PERSIST: Literal["session"] = "session"


def enter_page() -> None:
    """Call first on every page. A fresh Streamlit process serves `pages/` the old way (running the
    page script itself, skipping streamlit_app.py and its password gate) until `st.navigation`
    has been called once. If that happened, switch the process to navigation and rerun: the rerun
    goes through the entry point and lands on this same page."""
    from streamlit.runtime.pages_manager import PagesManager  # no public API tells the two apart

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
    apply_language()


LANGUAGE_CHOICE_KEY = "app_language_choice"  # session: what the visitor picked in the sidebar
LANGUAGE_PREFERENCE = "language"  # the store's preference name for a signed-in visitor's choice


def apply_language() -> str:
    """Decide this run's language, first match wins: `?lang=` in the URL (a shared link keeps it), the
    sidebar choice of this session, a signed-in visitor's stored choice, the browser's language,
    YOAKE_LANGUAGE, English."""
    chosen = normalize(st.query_params.get("lang")) or st.session_state.get(LANGUAGE_CHOICE_KEY)
    if chosen is None and current_identity() is not None:
        try:
            chosen = normalize(open_store().get_preference(LANGUAGE_PREFERENCE))
        except StoreError:
            chosen = None
    lang = chosen or browser_language() or normalize(settings().language) or SOURCE_LANGUAGE
    st.session_state[LANGUAGE_KEY] = lang
    remember_run_language(lang)
    if chosen and st.query_params.get("lang") != chosen:
        st.query_params["lang"] = chosen  # page changes drop query parameters: keep the choice in the link
    return lang


def language_switch() -> None:
    """言語 / Language in the sidebar: remembered for the session and in the URL, and for a signed-in
    visitor in the store."""
    current = language()
    codes = list(LANGUAGES)
    picked = st.sidebar.selectbox(
        "言語 / Language", codes, index=codes.index(current), format_func=LANGUAGES.__getitem__, key="app_language"
    )
    if picked == current:
        return
    st.session_state[LANGUAGE_CHOICE_KEY] = picked
    st.query_params["lang"] = picked
    if current_identity() is not None:
        try:
            open_store().set_preference(LANGUAGE_PREFERENCE, picked)
        except StoreError:
            pass  # the choice still holds for this session and link
    st.rerun()


def _secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except Exception:  # no secrets.toml anywhere: Streamlit raises rather than return {}
        return {}


def settings() -> Settings:
    secrets = _secrets()
    cfg = load_settings(secrets)
    # [auth] is a table, which Settings does not read: its client and cookie secrets are redacted too
    for value in _auth_secret_values(secrets.get("auth")):
        cfg = cfg.with_secret(value)
    return cfg


def _auth_secret_values(section: object) -> list[str]:
    if not isinstance(section, dict):
        return []
    found = [str(v) for k, v in section.items() if k in ("client_secret", "cookie_secret") and v]
    return found + [v for sub in section.values() for v in _auth_secret_values(sub)]


@st.cache_resource(show_spinner=False)  # the spinner is managed_server's (in the visitor's language)
def _embedded_server(model: str | None, sha256: str | None) -> LocalServer:
    """One manager per app process and YOAKE_LOCAL_MODEL (a path, or a link downloaded once into the
    models folder; nothing: the shipped SmolLM2, or its pinned link where the package is not installed);
    its child is stopped when the process exits."""
    cfg = settings()
    try:
        path = resolve_local_model(model, folder=models_folder(cfg), sha256=sha256)
    except YoakeError as exc:  # not cached: the next run tries again (e.g. once back online)
        shown = (
            (display_url(model) if is_url(model) else model) if model else Msg("the built-in model")
        )  # a signed link's token never shows
        raise LocalServerError(
            Msg("YOAKE_LOCAL_MODEL ({model}): {title} {detail}", model=shown, title=exc.title, detail=exc.detail)
        ) from exc
    return LocalServer(path, alias=None if model else LOCAL_MODEL_ALIAS, log_path=cfg.data_dir / "logs" / "llama-server.log")


def _fetch_model_first(cfg: Settings) -> None:
    """On a host that installs requirements.txt only (or with a YOAKE_LOCAL_MODEL link) the model is
    downloaded at the first start: show its progress instead of a dead chat box. Another session
    already downloading it is followed until the file is there."""
    link = model_link(cfg.local_model, cfg.local_model_sha256)
    folder = models_folder(cfg)
    if link is None or downloaded_path(link[0], folder).is_file():
        return
    bar = st.progress(0.0, text=_("Downloading the model for its first start…"))

    def show(p: DownloadProgress) -> None:
        text = (
            _("Downloading the model for its first start: {done} of {total}")
            if p.total
            else _("Downloading the model for its first start: {done}")
        )
        bar.progress(p.fraction or 0.0, text=text.format(done=format_size(p.done), total=format_size(p.total)))

    try:
        resolve_local_model(cfg.local_model, folder=folder, sha256=cfg.local_model_sha256, progress=show)
    except DownloadBusy:  # another visitor's session is fetching it: follow that download
        follow_download(link[0], folder, show, timeout=cfg.fetch_timeout * 40)
    except YoakeError:
        pass  # _embedded_server tries again and says what went wrong, with the retry button
    finally:
        bar.empty()


@st.cache_data(show_spinner=False)
def _host_too_small(model_path: str) -> str | None:
    """Whether this host's memory or CPU is too small for the embedded model (once per model file)."""
    return fit_problem(Path(model_path).stat().st_size)


def managed_server() -> LocalServer | None:
    """Our embedded server's manager, or None when YOAKE_LOCAL_BASE_URL names one we don't run."""
    cfg = settings()
    if cfg.local_base_url:
        return None
    _fetch_model_first(cfg)
    with st.spinner(_("Getting the local model…")):  # shown only if it takes a while: the first time
        return _embedded_server(cfg.local_model, cfg.local_model_sha256)


def local_server_base_url(*, retry: bool = False) -> str:
    """The embedded server's base URL: an already-running one (YOAKE_LOCAL_BASE_URL) or our child,
    started on first use and restarted (with a notice) if it died since the last run."""
    server = managed_server()
    if server is None:
        return settings().local_base_url or ""
    if server.running():
        return server.base_url
    # Every session waits here for the one start (another session's, perhaps): a message sent
    # meanwhile is handled once the engine answers, never sent to a port it does not listen on yet.
    with st.spinner(_("Starting the model… (up to {seconds} s)").format(seconds=fmt_number(START_TIMEOUT, 0))):
        notice = server.ensure_running(START_TIMEOUT, retry=retry)
    if notice:  # kept for a minute: a page that reruns after sending (chat) must still show it
        st.session_state["engine_notice"] = (notice, time.strftime("%H:%M:%S"), time.monotonic())
    return server.base_url


def _show_engine_notice() -> None:
    notice = st.session_state.get("engine_notice")
    if notice and time.monotonic() - notice[-1] < 60:
        text, when = notice[0], notice[1] if len(notice) > 2 else ""  # (the notice is worded in this run's language)
        st.warning(_("{notice} (at {time})").format(notice=tr(text), time=when) if when else tr(text), icon="♻️")


@st.cache_resource(show_spinner=False)
def _store(data_dir: str, shared_answer_cache: bool) -> Store:
    return Store.in_dir(Path(data_dir), shared_answer_cache=shared_answer_cache)


def open_store() -> Store:
    """The store of this data dir, acting for whoever uses this session (`current_owner`): the
    database is opened once per process, and each run gets a view scoped to its owner. Stops the
    page with a specific message when it cannot be opened."""
    cfg = settings()
    try:
        return _store(str(cfg.data_dir), cfg.shared_answer_cache).for_owner(current_owner())
    except (StoreError, sqlite3.Error, OSError) as exc:
        detail = tr(exc.detail) if isinstance(exc, StoreError) else str(exc)
        st.error(_("**Your work cannot be saved.** {detail}").format(detail=cfg.redact(detail)), icon="⚠️")
        st.stop()
        raise  # not reached: st.stop() ends the run


@st.cache_resource
def _cached_client(
    provider_id: str, base_url: str, timeout: float, retries: int, _api_key: str, key_fingerprint: str
) -> openai.OpenAI:
    # The key is excluded from the cache's hash (leading underscore) and never stored in it;
    # its fingerprint tells clients apart when the user changes keys.
    return client_for(PROVIDERS[provider_id], settings(), base_url=base_url, api_key=_api_key)


@st.cache_data(ttl=300, show_spinner=False)
def _cached_models(provider_id: str, base_url: str, _client: openai.OpenAI, running_alias: str) -> ModelList:
    # running_alias: the embedded server's model, so a switch lists the new one at once
    return list_models(_client, PROVIDERS[provider_id])


@dataclass
class Selection:
    provider: Provider
    client: openai.OpenAI
    model: str  # may be AUTO_MODEL
    base_url: str
    settings: Settings

    def context(self, page: str) -> CallContext:
        data_dir = self.settings.data_dir
        return CallContext(
            page=page,
            provider_id=self.provider.id,
            local=self.provider.local,
            log_path=usage_log.usage_path(data_dir),
            prices=pricing.load_prices(data_dir),
            owner=current_owner(),
        )


def _fingerprint(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:16]


def model_picker(prefix: str, *, allow_auto: bool = False, persist_state: Literal["session"] | None = None) -> Selection | None:
    """Sidebar provider + model picker. Returns None (after saying why) when unusable. `persist_state` is passed
    to its provider, base URL and model widgets (Streamlit's: their values kept for the session)."""
    cfg = settings()
    ids = list(PROVIDERS)
    st.session_state.setdefault(f"{prefix}_provider", default_provider_id(cfg))
    names = {i: tr(PROVIDERS[i].label) for i in ids}  # worded now: format_func may be called outside this run
    provider_id = st.sidebar.selectbox(
        _("Provider"), ids, key=f"{prefix}_provider", format_func=lambda i: names.get(i, i), persist_state=persist_state
    )
    provider = PROVIDERS[provider_id]
    base_url = provider.resolve_base_url(cfg)
    api_key = provider.api_key(cfg)
    if provider.id == "custom":
        base_url = (
            st.sidebar.text_input(
                _("Base URL"),
                value=base_url or "",
                key=f"{prefix}_custom_url",
                placeholder="http://host:port/v1",
                persist_state=persist_state,
            ).strip()
            or None
        )
        typed = st.sidebar.text_input(
            _("API key"), type="password", key=f"{prefix}_custom_key", help=_("Kept in this browser session only; never logged.")
        )
        api_key = typed or api_key
        if typed:
            cfg = cfg.with_secret(typed)  # redacted from every message like a configured key
        if base_url and base_url != provider.resolve_base_url(cfg):  # typed by the visitor: through the address guard
            try:
                check_typed_base_url(base_url, allow_private=may_reach_private_networks(current_visitor(), cfg))
            except YoakeError as exc:
                st.sidebar.error(error_message(exc, provider, cfg), icon="⚠️")
                return None
    if api_key is None:
        st.sidebar.warning(
            _("{provider} needs an API key: set `{setting}` in the environment, `.env` or `.streamlit/secrets.toml`.").format(
                provider=tr(provider.label), setting=provider.key_env
            )
        )
        return None
    server = None  # our embedded server, when the local provider runs one
    if provider.id == LOCAL_ID:
        try:
            base_url = local_server_base_url(retry=st.session_state.get(f"{prefix}_engine_retry", False))
        except LocalServerError as exc:
            show_error(exc, None, cfg)
            st.button(_("Try to start it again"), key=f"{prefix}_engine_retry")
            return None
        _show_engine_notice()
        if (server := managed_server()) is not None:
            from lib.engine.shared import SharedModels
            from ui.local_models import local_model_panel

            local_model_panel(prefix, SharedModels(server, cfg, current_visitor()))
            if problem := _host_too_small(str(server.model_path)):
                st.sidebar.warning(tr(problem), icon="🐢")
    if not base_url:
        st.sidebar.info(_("Enter the server's base URL, e.g. `http://localhost:8000/v1`."))
        return None
    client = _cached_client(provider.id, base_url, cfg.timeout, cfg.max_retries, api_key, _fingerprint(api_key))
    models = _cached_models(provider.id, base_url, client, server.alias if server else "")
    # A model going away (the provider's shutdown_date or the deprecations data) is marked with its date
    # and replacement, and the 'auto' router is never left on one.
    deprecations = pricing.load_price_table(cfg.data_dir).deprecations
    provider = router_defaults(provider, models, deprecations)
    options = ([AUTO_MODEL] if allow_auto and provider.small_model != provider.large_model else []) + models.models
    model_key = f"{prefix}_model"
    if st.session_state.get(model_key) not in options:
        lasting = [m for m in options if model_deprecation(m, models, deprecations) is None] or options
        st.session_state[model_key] = (
            models.models[0]
            if provider.id == LOCAL_ID
            else (provider.small_model if provider.small_model in options else lasting[0])
        )

    def label(m: str) -> str:
        if m == AUTO_MODEL:
            return _("auto ({small} / {large})").format(small=provider.small_model, large=provider.large_model)
        dep = model_deprecation(m, models, deprecations)
        if dep is None:
            return m
        going = _going_away(dep.shutdown_date)
        return f"{m}  ⚠️ {going}" + (f" → {dep.replacement}" if dep.replacement else "")

    labels = {m: label(m) for m in options}  # worded now: format_func may be called outside this run
    model = st.sidebar.selectbox(
        _("Model"),
        options,
        key=model_key,
        format_func=lambda m: labels.get(m, m),
        help=tr(AUTO_RULE) if allow_auto else None,
        persist_state=persist_state,
    )
    if model != AUTO_MODEL and (dep := model_deprecation(model, models, deprecations)) is not None:
        # model ids come from the provider: shown as text, never as markdown
        day = dep.shutdown_date
        going = _("{model} shuts down {date}.") if day >= _dt.date.today() else _("{model} shut down {date}.")
        warning = going.format(model=md_text(model), date=day.isoformat())
        if dep.replacement:
            warning += _(" Its replacement is {model}.").format(model=md_text(dep.replacement))
        st.sidebar.warning(warning, icon="⚠️")
    if models.notice:
        st.sidebar.caption(tr(models.notice))
    return Selection(provider, client, model, base_url, cfg)


def _going_away(day: _dt.date) -> str:
    """How a model picker says a model goes away: "shuts down 2027-01-14" ("shut down …" once past)."""
    going = _("shuts down {date}") if day >= _dt.date.today() else _("shut down {date}")
    return going.format(date=day.isoformat())


def error_message(exc: BaseException, provider: Provider | None, cfg: Settings) -> str:
    """The one place an expected failure becomes page text: specific, secrets redacted, no stack trace."""
    err = describe_error(exc, provider.label if provider else None)
    detail = tr(err.detail)
    if provider is not None and provider.id == LOCAL_ID and err.kind == "connection":
        server = managed_server()
        if server is not None and not server.running():
            detail = _("The embedded model stopped. Re-send: it is restarted first.")
    return cfg.redact(f"**{tr(err.title)}** {detail}")


def restarted_after(exc: BaseException, provider: Provider) -> bool:
    """After a failed call: when our embedded engine died (an out-of-memory kill, a crash, killed just
    before the call), start it again on the same URL (with the notice) and say so, so the caller sends
    the same request once more instead of asking the visitor to re-send."""
    if provider.id != LOCAL_ID or describe_error(exc).kind != "connection":
        return False
    server = managed_server()
    if server is None or server.running():
        return False
    local_server_base_url()
    return server.running()


def show_error(exc: BaseException, provider: Provider | None, cfg: Settings) -> None:
    st.error(error_message(exc, provider, cfg), icon="⚠️")


@st.cache_resource
def _throttle() -> AttemptThrottle:
    return AttemptThrottle()


def sign_in_configured() -> bool:
    """True when `.streamlit/secrets.toml` (or the host's secrets) has an `[auth]` section: visitors
    sign in with OpenID Connect and each sees only their own work."""
    return bool(_secrets().get("auth"))


def current_identity() -> Identity | None:
    """The signed-in visitor, or None (a laptop, or a shared-password workspace)."""
    if not sign_in_configured():
        return None
    user = st.user.to_dict()
    if user.get("is_logged_in") is not True or not user.get("sub"):
        return None
    # An e-mail the provider says it has not verified is not used (YOAKE_ADMINS goes by e-mail).
    email = user.get("email") if user.get("email_verified") is not False else None
    return Identity(issuer=str(user.get("iss") or ""), subject=str(user["sub"]), email=email, name=user.get("name"))


def current_owner() -> str:
    """Whose work this session reads and writes: the signed-in identity, else the one owner `local`."""
    identity = current_identity()
    return identity.owner if identity else LOCAL_OWNER


def current_visitor() -> Visitor:
    """Who uses this session, in which mode (laptop, shared password, sign-in): what lib/core/policy.py judges."""
    return visitor(settings(), sign_in_configured=sign_in_configured(), identity=current_identity())


def allowed(action: Action) -> Decision:
    """May this session's visitor do `action`? (lib/core/policy.py: the one statement of the rules)"""
    return decide(current_visitor(), action, settings())


def oidc_sign_in_required() -> bool:
    return sign_in_configured() and current_identity() is None


def oidc_sign_in_page() -> None:
    """The only page registered while `[auth]` is configured and the visitor has not signed in."""
    st.title("🌅 Yoake")
    st.write(
        _(
            "Sign in to use this demo. Your conversations, personas, compare runs and document collections are "
            "yours alone: other visitors cannot see them."
        )
    )
    auth = _secrets().get("auth") or {}
    # A client in [auth] itself is the default provider; named ones ([auth.google], [auth.okta] …)
    # each get a button too.
    named = [k for k, v in auth.items() if isinstance(v, dict) and "client_id" in v]
    providers: list[str | None] = [None] if auth.get("client_id") or not named else []
    try:
        for provider in providers + named:
            if provider is None:
                clicked = st.button(_("Sign in"), key="auth_login", type="primary")
            else:
                clicked = st.button(
                    _("Sign in with {provider}").format(provider=provider.capitalize()), key=f"auth_login_{provider}"
                )
            if clicked:
                st.login(provider)
    except StreamlitAuthError as exc:  # e.g. [auth] without cookie_secret, or Authlib missing
        st.error(
            _(
                "**Sign-in is not set up correctly.** {detail} The host needs to fix "
                "the `[auth]` section of the app's secrets (see the README's *Deploy* section)."
            ).format(detail=" ".join(str(exc).split())),
            icon="⚠️",
        )


def signed_in_sidebar() -> None:
    """Who is signed in, and a way out."""
    identity = current_identity()
    if identity is None:
        return
    st.sidebar.caption(_("Signed in as **{name}**").format(name=identity.display))
    if st.sidebar.button(_("Sign out"), key="auth_logout"):
        st.logout()


def password_required() -> bool:
    """True while YOAKE_PASSWORD is set and this session has not given it."""
    return bool(settings().password) and not st.session_state.get("auth_ok")


def sign_in_page() -> None:
    """The only page registered while YOAKE_PASSWORD is set and not yet given."""
    st.title("🌅 Yoake")
    st.caption(
        _(
            "This demo has one shared workspace: everyone who has the password sees the same conversations, "
            "personas and collections. For a workspace per visitor, the host can set up sign-in instead (see the README)."
        )
    )
    given = st.text_input(_("Password"), type="password", key="auth_password")
    if st.button(_("Enter"), key="auth_submit", type="primary"):
        if _throttle().check(given, settings().password or ""):
            st.session_state.auth_ok = True
            del st.session_state["auth_password"]
            st.rerun()
        st.error(_("Wrong password."))
