"""What a visitor can reach is what the mode promises (issue 21): the policy for the three modes
(lib/core/policy.py), host paths only below YOAKE_DOCS_ROOTS and never the app's own files
(lib/core/host_paths.py), model downloads through the address guard (lib/core/netguard.py), and every widget
that acts on the host or the shared engine present exactly where the policy allows it.

No model server: Docs Q&A's path indexing needs none, and the model panel is rendered with an
engine manager that is never started."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from net_trap import trap
from streamlit.testing.v1 import AppTest
from test_sign_in import ALICE, AUTH, BOB, user

from lib.core.config import PROJECT_ROOT, load_settings
from lib.core.host_paths import ANY_PATH, HostPathAccess, command_line_access, host_path_access
from lib.core.identity import Identity
from lib.core.policy import LAPTOP, Action, Mode, NotAllowed, Visitor, decide, may_reach_private_networks, usage_owners, visitor
from lib.docs_qa import create_collection, open_collection
from lib.docs_qa.index import collections_root
from lib.engine import models as lm
from lib.engine.download import download_model
from lib.engine.errors import DownloadConnectionError, DownloadRefused, ModelError
from lib.engine.server import LocalServer, default_model_path
from lib.engine.shared import SharedModels
from lib.llm.providers import EndpointRefused, check_typed_base_url

DOCS_PAGE = str(PROJECT_ROOT / "pages" / "docs_qa.py")


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_MAX_RETRIES", "0")  # the pages' model URL is dead here: list models without waiting


# --- the policy, stated once ---------------------------------------------------------------------

ADMIN = Visitor(Mode.SIGN_IN, ALICE, admin=True)
MEMBER = Visitor(Mode.SIGN_IN, BOB, admin=False)
SHARED = Visitor(Mode.PASSWORD)


@pytest.mark.parametrize(
    ("who", "opt_in", "expected"),
    [
        (LAPTOP, False, {Action.INDEX_HOST_PATHS, Action.MANAGE_MODELS, Action.SEE_ALL_USAGE}),
        (SHARED, False, {Action.SEE_ALL_USAGE}),  # one shared workspace, but nobody owns the host
        (SHARED, True, {Action.INDEX_HOST_PATHS, Action.MANAGE_MODELS, Action.SEE_ALL_USAGE}),
        (MEMBER, False, set()),
        (MEMBER, True, set()),  # the password opt-in is for password mode only
        (ADMIN, False, {Action.INDEX_HOST_PATHS, Action.MANAGE_MODELS, Action.SEE_ALL_USAGE}),
    ],
    ids=["laptop", "password", "password-opted-in", "signed-in", "signed-in-opt-in-ignored", "admin"],
)
def test_each_mode_allows_what_the_readme_says(
    monkeypatch: pytest.MonkeyPatch, who: Visitor, opt_in: bool, expected: set[Action]
) -> None:
    monkeypatch.setenv("YOAKE_PASSWORD_HOST_ACTIONS", "1" if opt_in else "")
    cfg = load_settings()
    allowed = {a for a in Action if decide(who, a, cfg)}
    assert allowed == expected
    for action in set(Action) - expected:
        assert decide(who, action, cfg).reason  # every refusal says why


def test_the_visitor_is_built_from_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_settings()
    assert visitor(cfg, sign_in_configured=False, identity=None) == LAPTOP
    monkeypatch.setenv("YOAKE_PASSWORD", "a-shared-password")
    monkeypatch.setenv("YOAKE_ADMINS", "alice@example.test")
    cfg = load_settings()
    assert visitor(cfg, sign_in_configured=False, identity=None).mode is Mode.PASSWORD
    assert visitor(cfg, sign_in_configured=True, identity=ALICE).admin  # sign-in wins over the password
    assert not visitor(cfg, sign_in_configured=True, identity=BOB).admin
    unverified = Identity(ALICE.issuer, "other-sub", email=None)
    assert not visitor(cfg, sign_in_configured=True, identity=unverified).admin
    assert usage_owners(visitor(cfg, sign_in_configured=True, identity=BOB), cfg) is not None
    assert usage_owners(visitor(cfg, sign_in_configured=True, identity=ALICE), cfg) is None


def test_switching_off_host_paths_wins_even_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_DOCS_ALLOW_PATHS", "0")
    assert not decide(LAPTOP, Action.INDEX_HOST_PATHS, load_settings())
    assert not host_path_access(load_settings(), ADMIN).allowed


# --- host paths ------------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """YOAKE_DOCS_ROOTS = tmp_path, which also holds the data folder (as a home folder would)."""
    monkeypatch.setenv("YOAKE_DOCS_ROOTS", str(tmp_path))
    docs = tmp_path / "notes"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\nThe lighthouse lamp is cleaned every Tuesday.\n")
    return tmp_path


def test_the_one_check_says_yes_or_why_not(roots: Path, data_dir: Path, tmp_path: Path) -> None:
    access = host_path_access(load_settings(), ADMIN)
    assert access.allowed and access.roots == (roots.resolve(),)
    assert access.check(roots / "notes" / "guide.md").allowed
    (roots / "notes" / "out").symlink_to("/etc")
    (roots / "notes" / "passwd-link").symlink_to("/etc/passwd")
    refused = {
        "/etc/passwd": "outside the folders that may be read",
        str(roots / "notes" / ".." / ".." / "etc"): "outside the folders",  # a `..` escape
        str(roots / "notes" / "out" / "passwd"): "outside the folders",  # a symlinked folder out of the root
        str(roots / "notes" / "passwd-link"): "outside the folders",  # a symlinked file out of the root
        str(data_dir): "the app's own files and data",
        str(collections_root(data_dir, BOB.owner)): "the app's own files and data",  # another visitor's documents
        str(PROJECT_ROOT / "lib"): "the app's own files and data",
        "/proc/self/environ": "part of the system",
        "/dev/zero": "part of the system",
    }
    for path, why in refused.items():
        verdict = access.check(path)
        assert not verdict.allowed and why in (verdict.reason or ""), (path, verdict)


def test_the_app_folder_env_and_secrets_are_never_read_even_below_a_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_DOCS_ROOTS", "/")
    access = host_path_access(load_settings(), LAPTOP)
    for path in (PROJECT_ROOT / ".env", PROJECT_ROOT / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml",
                 Path("/proc/1/status"), Path("/sys/kernel")):  # fmt: skip
        assert not access.check(path).allowed, path
    assert access.check("/etc/hostname").allowed  # the operator said "/": the rest is theirs to give


def test_defaults_a_laptop_reads_its_home_and_a_deployment_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_settings()
    assert host_path_access(cfg, LAPTOP).roots == (Path.home().resolve(),)
    monkeypatch.setenv("YOAKE_PASSWORD_HOST_ACTIONS", "1")
    deployed = host_path_access(load_settings(), SHARED)
    assert not deployed.allowed and "YOAKE_DOCS_ROOTS" in (deployed.refusal or "")
    assert not host_path_access(load_settings(), ADMIN).allowed


def test_a_collection_reads_only_what_the_access_allows(roots: Path, data_dir: Path) -> None:
    # Bob's uploaded documents, which Alice (an admin with a root over the whole tmp folder) must not read by path.
    create_collection(data_dir, "bob-private", owner=BOB.owner).add_uploads([("secret.md", b"# Bob\n\nBob's private plan.\n")])
    (roots / "notes" / "to-etc").symlink_to("/etc/passwd")
    (roots / "notes" / "to-data").symlink_to(data_dir)
    coll = create_collection(data_dir, "alice", owner=ALICE.owner)
    access = host_path_access(load_settings(), ADMIN)
    outcomes = {Path(o.source).name: o for o in coll.add_paths([roots], access)}
    assert outcomes["guide.md"].status == "added"
    assert outcomes["to-etc"].status == "skipped" and "outside the folders" in (outcomes["to-etc"].reason or "")
    assert outcomes["data"].status == "skipped" and "app's own files" in (outcomes["data"].reason or "")  # not walked into
    assert "Bob's private plan" not in " ".join(h.text for h in coll.search("Bob private plan", 5))
    assert [Path(f.source).name for f in coll.files()] == ["guide.md"]

    # A visitor with no host access is refused before anything is read, through the same call the page makes.
    with pytest.raises(NotAllowed):
        coll.add_paths(["/etc/passwd"], host_path_access(load_settings(), MEMBER))
    # A rebuild re-reads only what is still allowed: a file given on a laptop stays as indexed afterwards.
    kept = coll.rebuild(HostPathAccess(refusal="no host paths here"))
    assert [(o.status, "not read again" in (o.reason or "")) for o in kept] == [("unchanged", True)]


def test_the_command_line_uses_the_same_check_when_roots_are_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lib.docs_qa.__main__ import main as docs_cli

    assert command_line_access(load_settings()).unrestricted  # whoever runs it owns the machine
    monkeypatch.setenv("YOAKE_DOCS_ROOTS", str(tmp_path / "nowhere"))
    assert docs_cli(["index", "--collection", "cli", "/etc/hostname"]) == 1  # nothing indexed: refused
    assert open_collection(load_settings().data_dir, "cli").files() == []


# --- the Docs Q&A page, per mode ---------------------------------------------------------------------


def _docs_page(who: Identity | None = None) -> AppTest:
    """The page itself (past the entry point's gates: signed in as `who`, or the password given)."""
    at = AppTest.from_file(DOCS_PAGE, default_timeout=60)
    if who is not None:
        at.secrets["auth"] = AUTH
        at.user = user(who)
    at.run()
    assert not at.exception, at.exception
    return at


def _has(at: AppTest, key: str) -> bool:
    return any(w.key == key for kind in ("text_input", "button") for w in getattr(at, kind))


def test_a_signed_in_visitor_gets_no_path_box_but_uploads(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_DOCS_ROOTS", "/")  # even with roots set: not an admin
    monkeypatch.setenv("YOAKE_ADMINS", "alice@example.test")
    create_collection(data_dir, "mine", owner=BOB.owner)
    at = _docs_page(BOB)
    assert not _has(at, "qa_path") and not _has(at, "qa_add_path")
    assert _has(at, "qa_add_files")
    assert "for admins only" in " ".join(c.value for c in at.caption)


def test_an_admin_indexes_inside_the_root_and_sees_each_refusal(
    roots: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YOAKE_ADMINS", "alice@example.test")
    create_collection(data_dir, "bob-docs", owner=BOB.owner).add_uploads([("plan.md", b"# Plan\n\nBob's plan.\n")])
    (roots / "notes" / "escape").symlink_to("/etc")
    create_collection(data_dir, "handbook", owner=ALICE.owner)
    at = _docs_page(ALICE)
    given = {
        str(roots / "notes" / "guide.md"): None,
        "/etc/passwd": "outside the folders that may be read",
        str(data_dir): "the app's own files and data",
        str(collections_root(data_dir, BOB.owner) / "bob-docs"): "the app's own files and data",
        str(roots / "notes" / "escape" / "passwd"): "outside the folders",
        f"{roots}/notes/../../../etc/passwd": "outside the folders",
    }
    for path, why in given.items():
        at.text_input(key="qa_path").set_value(path)
        at.button(key="qa_add_path").click().run()
        assert not at.exception, at.exception
        if why is None:
            assert "1 added" in " ".join(s.value for s in at.success)
            continue
        table = next(e for e in at.expander if e.label.startswith("Add documents")).dataframe[0].value
        assert any(why in r for r in table["Why"]), (path, list(table["Why"]))
    files = open_collection(data_dir, "handbook", ALICE.owner).files()
    assert [Path(f.source).name for f in files] == ["guide.md"]


# --- model downloads through the address guard -------------------------------------------------------


HOSTILE = [
    ("http://127.0.0.1:8080/m.gguf", "loopback"),
    ("http://localhost/m.gguf", "loopback"),
    ("http://10.1.2.3/m.gguf", "private"),
    ("http://192.168.1.1/m.gguf", "private"),
    ("http://169.254.169.254/latest/m.gguf", "cloud metadata"),
    ("http://[fe80::1]/m.gguf", "link-local"),
    ("http://[::ffff:127.0.0.1]/m.gguf", "loopback"),
    ("http://2130706433/m.gguf", "loopback"),
    ("http://intranet.example/m.gguf", "private"),
]


@pytest.mark.parametrize(("url", "why"), HOSTILE)
def test_a_download_to_a_non_public_address_is_refused_before_any_connection(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, url: str, why: str
) -> None:
    net = trap(monkeypatch, dns={"localhost": ["127.0.0.1"], "intranet.example": ["10.0.0.7"]})
    folder = data_dir / "models"
    with pytest.raises(DownloadRefused) as info:
        download_model(url, folder=folder)
    assert why in info.value.detail and "Nothing was downloaded" in info.value.detail
    assert net.connects == []  # refused before a packet
    assert list(folder.iterdir()) == []  # and nothing left behind


def test_link_local_stays_refused_with_the_laptop_setting(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("YOAKE_FETCH_ALLOW_PRIVATE", "1")
    net = trap(monkeypatch)
    with pytest.raises(DownloadRefused, match="metadata"):
        download_model("http://169.254.169.254/m.gguf", folder=data_dir / "models")
    assert net.connects == []


class _Redirector(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(302)
        self.send_header("Location", self.server.target)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/x.gguf", "http://10.0.0.5/x.gguf"])
def test_a_public_link_redirecting_inside_is_refused_at_the_redirect(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, redirector: ThreadingHTTPServer, target: str
) -> None:
    """The loopback redirector stands in for a public server: its address is judged public here."""
    from lib.core import netguard

    redirector.target = target  # type: ignore[attr-defined]
    port = redirector.server_address[1]
    real = netguard.category
    monkeypatch.setattr(netguard, "category", lambda ip: "public" if str(ip) == "127.0.0.1" else real(ip))
    net = trap(monkeypatch, allow={("127.0.0.1", port)}, dns={"models.example": ["127.0.0.1"]})
    folder = data_dir / "models"
    with pytest.raises(DownloadRefused) as info:
        download_model(f"http://models.example:{port}/x.gguf", folder=folder)
    assert "redirects to" in info.value.detail and target.split("/")[2] in info.value.detail
    assert net.connects == [("127.0.0.1", port)]  # the redirect was read; its target never connected to
    assert list(folder.iterdir()) == []


def test_the_download_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """DNS rebinding: a second lookup would answer the metadata address; there is none."""
    monkeypatch.setenv("YOAKE_FETCH_ALLOW_PRIVATE", "1")
    answers = iter([["127.0.0.1"]])
    net = trap(monkeypatch, dns={"rebind.example": lambda: next(answers, ["169.254.169.254"])})
    with pytest.raises(DownloadConnectionError):  # nothing listens on port 9: refused by the trap, after the check
        download_model("http://rebind.example:9/x.gguf", folder=data_dir / "models", timeout=2)
    assert net.lookups == ["rebind.example"] and net.connects == [("127.0.0.1", 9)]


# --- the shared models, per mode ---------------------------------------------------------------------


def _panel_script() -> None:
    from lib.engine.server import LocalServer
    from lib.engine.shared import SharedModels
    from ui.common import current_visitor, settings
    from ui.local_models import local_model_panel

    server = LocalServer(log_path=settings().data_dir / "logs" / "never-started.log")  # never started
    local_model_panel("chat", SharedModels(server, settings(), current_visitor()))


# Every widget that acts on the host or the shared engine, with the action the policy guards it by.
# A new one must be added here (test_every_host_widget_is_listed fails otherwise).
HOST_WIDGETS: dict[str, Action] = {
    "qa_path": Action.INDEX_HOST_PATHS,
    "qa_add_path": Action.INDEX_HOST_PATHS,
    "chat_local_gguf": Action.MANAGE_MODELS,  # present for everyone, enabled only where allowed
    "chat_dl_url": Action.MANAGE_MODELS,
    "chat_dl_go": Action.MANAGE_MODELS,
    "chat_dl_resume": Action.MANAGE_MODELS,
    "chat_del_which": Action.MANAGE_MODELS,
    "chat_del_sure": Action.MANAGE_MODELS,
    "chat_del_go": Action.MANAGE_MODELS,
}
MODES = {
    "laptop": ({}, None),
    "password": ({"YOAKE_PASSWORD": "a-shared-password"}, None),
    "password-opted-in": ({"YOAKE_PASSWORD": "a-shared-password", "YOAKE_PASSWORD_HOST_ACTIONS": "1"}, None),
    "signed-in": ({"YOAKE_ADMINS": "alice@example.test"}, BOB),
    "admin": ({"YOAKE_ADMINS": "alice@example.test"}, ALICE),
}


def _widgets(at: AppTest) -> dict[str, bool]:
    """key -> enabled, for every widget on the page and in the sidebar."""
    out: dict[str, bool] = {}
    for kind in ("text_input", "button", "selectbox", "checkbox"):
        for w in getattr(at, kind):
            if w.key:
                out[w.key] = not getattr(w, "disabled", False)
    return out


@pytest.mark.parametrize("mode", list(MODES))
def test_every_host_widget_follows_the_policy_in_every_mode(
    mode: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, who = MODES[mode]
    for name, value in {"YOAKE_DOCS_ROOTS": str(tmp_path), **env}.items():
        monkeypatch.setenv(name, value)
    folder = lm.models_folder(load_settings())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "other.gguf").write_bytes(default_model_path().read_bytes())  # something to offer for deletion
    cfg = load_settings()
    person = visitor(cfg, sign_in_configured=who is not None, identity=who)

    create_collection(data_dir, "c", owner=person.owner)
    docs = _widgets(_docs_page(who))
    panel = AppTest.from_function(_panel_script, default_timeout=60)
    if who is not None:
        panel.secrets["auth"] = AUTH
        panel.user = user(who)
    panel.run()
    assert not panel.exception, panel.exception
    models = _widgets(panel)
    shown = {**docs, **models}
    for key, action in HOST_WIDGETS.items():
        allowed = bool(decide(person, action, cfg))
        if key == "chat_local_gguf":  # everyone sees which model runs; only those allowed can change it
            assert key in shown and shown[key] == allowed, (mode, key, shown.get(key))
        else:  # absent unless allowed (Download and Delete wait for a link or a tick to be enabled)
            assert (key in shown) == allowed, (mode, key, allowed)


def test_a_crafted_call_cannot_change_the_shared_engine(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the page's handlers call, called directly as a non-admin: each is refused in lib/."""
    monkeypatch.setenv("YOAKE_ADMINS", "alice@example.test")
    cfg = load_settings()
    server = LocalServer(log_path=data_dir / "never.log")
    models = SharedModels(server, cfg, MEMBER)
    net = trap(monkeypatch)
    for call in (lambda: models.switch(default_model_path()), lambda: models.download("https://models.example/m.gguf"),
                 lambda: models.delete(data_dir / "models" / "x.gguf")):  # fmt: skip
        with pytest.raises(NotAllowed, match="admins only"):
            call()
    assert net.connects == [] and server.process is None
    # An admin may switch only to a model the catalog lists, never to any file of the machine.
    with pytest.raises(ModelError):
        SharedModels(server, cfg, ADMIN).switch("/etc/passwd")


def test_every_host_widget_is_listed() -> None:
    """Every widget in the modules that act on the host or the engine is in HOST_WIDGETS, or is known
    not to act on them: a new one cannot slip in unguarded."""
    harmless = {"qa_upload", "qa_add_files"}
    sources = {
        "ui/local_models.py": "chat",  # keys are f"{prefix}_…"; the chat page's prefix stands for all
        "pages/docs_qa.py": None,
    }
    for rel, prefix in sources.items():
        text = (PROJECT_ROOT / rel).read_text()
        host_part = (
            text if rel.startswith("ui/") else text[text.index('with st.expander("Add documents"') :].split("_show_outcomes()")[0]
        )
        keys = set(re.findall(r'key=f?"([^"]+)"', host_part))
        keys = {k.replace("{prefix}", prefix) if prefix else k for k in keys}
        keys.discard("chat_local_gguf_error")
        unlisted = keys - set(HOST_WIDGETS) - harmless
        assert not unlisted, f"{rel}: {unlisted} act on the host: add them to HOST_WIDGETS with their action"


def test_pages_never_call_the_host_level_functions_around_the_policy() -> None:
    """Downloads, deletions and switches go through lib/engine/shared.py; path indexing through an
    access built by host_path_access."""
    for path in [*(PROJECT_ROOT / "pages").glob("*.py"), *(PROJECT_ROOT / "ui").glob("*.py"), PROJECT_ROOT / "streamlit_app.py"]:
        text = path.read_text()
        for forbidden in (
            "download_model(",
            "delete_model(",
            "switch_model(",
            "ANY_PATH",
            "HostPathAccess(",
            "command_line_access(",
        ):
            assert forbidden not in text, f"{path.name} calls {forbidden} around the policy"
    assert ANY_PATH.unrestricted and os.sep == "/"


# --- a base URL typed by a visitor -------------------------------------------------------------------


def test_a_typed_base_url_goes_through_the_address_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    net = trap(monkeypatch, dns={"api.example": ["93.184.216.34"], "lan.example": ["192.168.0.20"], "localhost": ["127.0.0.1"]})
    check_typed_base_url("https://api.example/v1", allow_private=False)  # public: fine
    check_typed_base_url("http://localhost:1234/v1", allow_private=True)  # LM Studio on a laptop
    check_typed_base_url("http://lan.example:8000/v1", allow_private=True)
    for url, allow in [("http://169.254.169.254/v1", True), ("http://[fd00:ec2::254]/v1", True),
                       ("http://127.0.0.1:8501/v1", False), ("http://lan.example:8000/v1", False)]:  # fmt: skip
        with pytest.raises(EndpointRefused):
            check_typed_base_url(url, allow_private=allow)
    assert net.connects == []


def test_a_signed_in_visitor_cannot_point_the_custom_provider_at_the_metadata_service(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = trap(monkeypatch)
    at = AppTest.from_file(str(PROJECT_ROOT / "pages" / "chat.py"), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = user(BOB)
    at.run()
    at.sidebar.selectbox(key="chat_provider").set_value("custom").run()
    at.sidebar.text_input(key="chat_custom_url").set_value("http://169.254.169.254/latest/v1").run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "cloud metadata" in errors and "169.254.169.254" in errors
    assert at.chat_input(key="chat_input").disabled  # no client, no call
    assert net.connects == []
    assert visitor(load_settings(), sign_in_configured=True, identity=BOB).mode is Mode.SIGN_IN
    assert not may_reach_private_networks(Visitor(Mode.SIGN_IN, BOB), load_settings())
    assert may_reach_private_networks(LAPTOP, load_settings())
