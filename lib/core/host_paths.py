"""Which files of the app's machine may be read by path (Docs Q&A's folder indexing).

Only below the roots in `YOAKE_DOCS_ROOTS` (default: the user's home on a laptop; nothing on a
deployment unless set), judged on the path with every symlink followed, and never the app's data
folder (other visitors' collections, the store), the app's own folder, its `.env` and secrets files,
`/proc`, `/sys` or `/dev`. `HostPathAccess.check` is the one function that says yes or why not; the
collection calls it for the path given and again for every file a folder walk finds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lib.core.config import PROJECT_ROOT, Settings
from lib.core.i18n import Msg
from lib.core.policy import Action, Mode, Visitor, decide

# Never read by path, whatever the roots say: the kernel's views and devices, and secrets.
SYSTEM_FORBIDDEN = (Path("/proc"), Path("/sys"), Path("/dev"))


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class PathVerdict:
    path: Path  # the file or folder itself, every symlink followed
    reason: str | None = None  # why it may not be read (a Msg, shown with tr()); None when it may

    @property
    def allowed(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class HostPathAccess:
    """Roots that may be read, places that never may, or a refusal of host paths altogether."""

    roots: tuple[Path, ...] = ()
    forbidden: tuple[Path, ...] = ()
    refusal: str | None = None  # host paths are not offered at all (the mode, a setting)
    unrestricted: bool = False  # the command line with no roots setting: its user owns the machine

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def check(self, path: str | Path) -> PathVerdict:
        """May `path` be read? Judged on the real path (symlinks and `..` resolved)."""
        real = _resolved(Path(path))
        if self.refusal is not None:
            return PathVerdict(real, self.refusal)
        if self.unrestricted:
            return PathVerdict(real)
        for place in self.forbidden:
            if _within(real, place):
                return PathVerdict(real, _forbidden_reason(real, place))
        if not any(_within(real, root) for root in self.roots):
            shown = ", ".join(str(r) for r in self.roots)
            return PathVerdict(
                real,
                Msg("{path} is outside the folders that may be read ({roots}; YOAKE_DOCS_ROOTS)", path=str(real), roots=shown),
            )
        return PathVerdict(real)


def _forbidden_reason(real: Path, place: Path) -> Msg:
    if place in SYSTEM_FORBIDDEN:
        return Msg("{path} is part of the system ({place}), which is never read", path=str(real), place=str(place))
    if place.name in (".env", "secrets.toml"):
        return Msg("{path} holds the app's secrets and is never read", path=str(real))
    return Msg(
        "{path} is inside {place}, the app's own files and data, which are never read by path", path=str(real), place=str(place)
    )


def configured_roots(cfg: Settings) -> tuple[Path, ...] | None:
    """YOAKE_DOCS_ROOTS, resolved; None when not set."""
    roots = cfg.docs_roots
    return None if roots is None else tuple(dict.fromkeys(_resolved(Path(p)) for p in roots))


def forbidden_places(cfg: Settings) -> tuple[Path, ...]:
    env_file = Path(cfg.get("YOAKE_ENV_FILE") or os.environ.get("YOAKE_ENV_FILE") or PROJECT_ROOT / ".env")
    places = [
        cfg.data_dir,
        PROJECT_ROOT,
        env_file,
        Path.cwd() / ".env",
        Path.cwd() / ".streamlit" / "secrets.toml",
        Path.home() / ".streamlit" / "secrets.toml",
        *SYSTEM_FORBIDDEN,
    ]
    return tuple(dict.fromkeys(_resolved(p) for p in places))


def host_path_access(cfg: Settings, who: Visitor) -> HostPathAccess:
    """What this visitor may read by path: the policy first, then the roots."""
    verdict = decide(who, Action.INDEX_HOST_PATHS, cfg)
    if not verdict:
        return HostPathAccess(refusal=verdict.reason)
    roots = configured_roots(cfg)
    if roots is None:
        roots = (_resolved(Path.home()),) if who.mode is Mode.LAPTOP else ()
    if not roots:
        return HostPathAccess(refusal=Msg("No folder of the server may be read here: the operator has not set YOAKE_DOCS_ROOTS."))
    return HostPathAccess(roots=roots, forbidden=forbidden_places(cfg))


def command_line_access(cfg: Settings) -> HostPathAccess:
    """The docs command line: its user owns the machine, so any path, unless YOAKE_DOCS_ROOTS is set."""
    roots = configured_roots(cfg)
    if roots is None:
        return HostPathAccess(unrestricted=True)
    if not roots:
        return HostPathAccess(refusal=Msg("YOAKE_DOCS_ROOTS is set but names no folder."))
    return HostPathAccess(roots=roots, forbidden=forbidden_places(cfg))


# For code run by the machine's owner (tests, benchmarks, scripts): every path.
ANY_PATH = HostPathAccess(unrestricted=True)
