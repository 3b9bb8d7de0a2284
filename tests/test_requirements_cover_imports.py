"""Every package the app imports (lib/, ui/, pages/, the entry point) is installed by requirements.txt on a
host that installs nothing else (Streamlit Community Cloud): listed there, or a dependency of what is.
A package that only the test tools happen to bring (httpx came with a dev tool, not with openai 3.x)
fails here in a second instead of in the requirements-only browser test."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OURS = {"lib", "ui", "pages", "tests", "streamlit_app"}


def _imported_top_levels() -> dict[str, str]:
    found: dict[str, str] = {}
    files = [ROOT / "streamlit_app.py", *(p for d in ("lib", "ui", "pages") for p in (ROOT / d).rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in OURS and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _closure(names: set[str]) -> set[str]:
    """The distributions `names` install, with their dependencies (for this Python, no extras)."""
    seen: set[str] = set()
    todo = [metadata.distribution(n).metadata["Name"] for n in names]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                try:
                    todo.append(metadata.distribution(req.name).metadata["Name"])
                except metadata.PackageNotFoundError:
                    continue
    return seen


def test_the_app_imports_only_what_requirements_txt_installs() -> None:
    listed = {
        Requirement(line.split("#")[0].strip()).name
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    }
    installed = _closure(listed)
    providers = metadata.packages_distributions()
    missing = {
        f"{top} (in {where})": providers.get(top, ["?"])
        for top, where in _imported_top_levels().items()
        if not any(re.sub(r"[-_.]+", "-", d).lower() in installed for d in providers.get(top, []))
    }
    assert missing == {}, "add these to requirements.txt (pinned), or stop importing them in the app"
