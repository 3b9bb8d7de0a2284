"""Guard rails as tests: lib/ has no import cycle and never imports streamlit; every YOAKE_* setting
the code reads has a typed property in lib/core/config.py and a row in README's table; every expected
failure has one root and one path to page text."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from lib.conversation.io import ImportRejected, parse_import
from lib.core.config import Settings
from lib.core.errors import YoakeError, describe_error
from lib.engine.server import LocalServerError
from lib.logprobs import ForkError
from lib.storage.db import StoreError

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The lib modules `path` imports, at any depth of the file (a lazy import is still a dependency)."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def lib_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in LIB.rglob("*.py")}
    return {name: _imports(path, set(files)) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_lib_has_no_import_cycle() -> None:
    graph = lib_graph()
    assert "lib.conversation.service" in graph and "lib.usage.reader" in graph
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


# lib/'s layers, lowest first: a module imports its own layer and those below it, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("lib.core",),  # settings, errors, identity and policy, the address guard, prices, the usage log, JSON Schema
    ("lib.llm",),  # providers and the client factory, one chat request, reply streams
    ("lib.storage", "lib.engine"),  # SQLite repositories; the embedded engine and its model files
    (
        "lib.conversation",
        "lib.compare",
        "lib.logprobs",
        "lib.summarize",
        "lib.docs_qa",
        "lib.usage",
        "lib.prompts",
        "lib.structured",
    ),  # features
    ("lib.evals",),  # scoring compare runs: assertions, a judge, votes, reports (over lib.compare)
]


def layer_of(module: str) -> int:
    for n, packages in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in packages):
            return n
    raise AssertionError(f"{module} is in no layer: put it in a layer's folder (tests/test_architecture.py LAYERS)")


def test_lib_is_in_layers_and_imports_only_downwards() -> None:
    graph = lib_graph()
    graph.pop("lib")
    assert {m.split(".")[1] for m in graph} == {p.split(".")[1] for layer in LAYERS for p in layer}
    upward = [(m, d) for m, deps in graph.items() for d in deps if d != "lib" and layer_of(d) > layer_of(m)]
    assert upward == [], f"imports of a higher layer: {upward}"


def test_the_layer_check_sees_an_upward_import() -> None:
    assert layer_of("lib.core.config") < layer_of("lib.llm.chat") < layer_of("lib.storage.store") < layer_of("lib.compare.grid")
    assert layer_of("lib.engine.server") == layer_of("lib.storage.db")


def test_no_module_is_overgrown() -> None:
    """Targets of the structure issue: a lib module over 600 lines holds several concerns, a page over
    350 lines holds domain code."""
    sizes = {p: len(p.read_text().splitlines()) for p in LIB.rglob("*.py")}
    assert {str(p.relative_to(ROOT)): n for p, n in sizes.items() if n > 600} == {}
    pages = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "pages").glob("*.py")}
    assert {k: n for k, n in pages.items() if n > 350} == {}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lib_never_imports_streamlit() -> None:
    for path in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names), f"{path} imports streamlit"


def test_every_setting_is_typed_and_documented() -> None:
    code = (
        "\n".join(p.read_text() for d in ("lib", "pages", "ui") for p in (ROOT / d).rglob("*.py"))
        + (ROOT / "streamlit_app.py").read_text()
    )
    read = set(re.findall(r"YOAKE_[A-Z0-9_]+", code)) - {"YOAKE_ENV_FILE"}  # ENV_FILE names the .env itself (tests)
    config = (LIB / "core" / "config.py").read_text()
    readme = (ROOT / "README.md").read_text()
    table = {m for line in readme.splitlines() if line.startswith("| `YOAKE_") for m in re.findall(r"`(YOAKE_[A-Z0-9_]+)`", line)}
    assert read, "no settings found"
    assert read <= table, f"not in README's settings table: {sorted(read - table)}"
    properties = [n for n, v in vars(Settings).items() if isinstance(v, property)]
    for name in read - {"YOAKE_DATA_DIR"}:
        assert f'"{name}"' in config, f"{name} has no typed property on Settings"
    assert {"local_model", "timeout", "max_retries", "password", "daily_token_alert"} <= set(properties)


def test_every_expected_failure_has_one_root_and_its_own_words() -> None:
    for cls in (StoreError, ImportRejected, ForkError, LocalServerError):
        assert issubclass(cls, YoakeError)
    try:
        parse_import(b"not json at all")
    except ImportRejected as exc:
        err = describe_error(exc)
    else:
        raise AssertionError("the import should be rejected")
    # An import rejection is worded as such, not as a malformed stream (it used to be a ValueError).
    assert err.kind == "import_rejected" and err.title == "The file cannot be imported."
    assert "not valid JSON" in err.detail and "stream" not in err.detail
    assert describe_error(ValueError("x")).kind == "bad_response"  # a real decode error keeps its meaning


def test_settings_precedence_holds_for_typed_properties(tmp_path: Path, monkeypatch) -> None:
    from lib.core.config import load_settings

    env = tmp_path / ".env"
    env.write_text("YOAKE_TIMEOUT=7\nYOAKE_MAX_RETRIES=5\nYOAKE_LOCAL_MODEL=/from/dotenv.gguf\n")
    monkeypatch.setenv("YOAKE_MAX_RETRIES", "1")
    s = load_settings({"YOAKE_TIMEOUT": 9, "YOAKE_LOCAL_MODEL": "/from/secrets.gguf"}, env_file=env)
    assert (s.timeout, s.max_retries, s.local_model) == (9.0, 1, "/from/secrets.gguf")
    assert load_settings(env_file=env).local_model == "/from/dotenv.gguf"
