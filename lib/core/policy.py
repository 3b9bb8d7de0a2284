"""What a visitor may do, stated once for the three ways Yoake is run.

- **laptop** (no password, no sign-in): one owner, who owns the machine too: everything.
- **password** (`YOAKE_PASSWORD`): everyone with the password shares one workspace, but none of them
  owns the host: host-level actions (reading the server's files, changing the shared engine's model)
  are off unless the operator opts in with `YOAKE_PASSWORD_HOST_ACTIONS=1`.
- **sign-in** (an `[auth]` section): each visitor has their own workspace; host-level actions and
  everyone's usage belong to the e-mails in `YOAKE_ADMINS` alone (a password on top changes nothing).

Pages ask `decide()` to show or hide a control, and `lib/` asks `require()` again where the action is
carried out (docs host paths, the shared models), so a crafted session state or a direct call of the
page's code cannot get around a hidden widget.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lib.core.config import Settings
from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.core.identity import LOCAL_OWNER, Identity, is_admin, owner_hash


class Mode(StrEnum):
    LAPTOP = "laptop"
    PASSWORD = "password"
    SIGN_IN = "sign-in"


class Action(StrEnum):
    INDEX_HOST_PATHS = "index host paths"  # Docs Q&A reads folders and files of the app's machine
    MANAGE_MODELS = "manage models"  # download, switch and delete the shared engine's model files
    SEE_ALL_USAGE = "see all usage"  # the usage page shows every owner's calls


# Host-level actions: what touches the machine or what every visitor shares.
HOST_ACTIONS = frozenset({Action.INDEX_HOST_PATHS, Action.MANAGE_MODELS})


@dataclass(frozen=True)
class Visitor:
    mode: Mode
    identity: Identity | None = None  # signed in (sign-in mode only)
    admin: bool = False  # a signed-in e-mail in YOAKE_ADMINS

    @property
    def owner(self) -> str:
        return self.identity.owner if self.identity else LOCAL_OWNER


LAPTOP = Visitor(Mode.LAPTOP)


def mode_of(cfg: Settings, *, sign_in_configured: bool) -> Mode:
    if sign_in_configured:
        return Mode.SIGN_IN
    return Mode.PASSWORD if cfg.password else Mode.LAPTOP


def visitor(cfg: Settings, *, sign_in_configured: bool, identity: Identity | None) -> Visitor:
    mode = mode_of(cfg, sign_in_configured=sign_in_configured)
    if mode is not Mode.SIGN_IN:
        return Visitor(mode)
    return Visitor(mode, identity, admin=identity is not None and is_admin(identity.email, cfg.admins))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # why not, for the page (a Msg: the page shows it with tr())

    def __bool__(self) -> bool:
        return self.allowed


_WHAT = {
    Action.INDEX_HOST_PATHS: Msg("Reading folders and files of the server"),
    Action.MANAGE_MODELS: Msg("Downloading, switching and deleting the shared model"),
    Action.SEE_ALL_USAGE: Msg("Seeing every visitor's usage"),
}


def decide(who: Visitor, action: Action, cfg: Settings) -> Decision:
    if action is Action.INDEX_HOST_PATHS and not cfg.docs_allow_paths:
        return Decision(False, Msg("Reading folders and files of the server is switched off here (YOAKE_DOCS_ALLOW_PATHS=0)."))
    if who.mode is Mode.LAPTOP:
        return Decision(True)
    if who.mode is Mode.PASSWORD:
        if action not in HOST_ACTIONS or cfg.password_host_actions:
            return Decision(True)  # one shared workspace: its usage is everyone's
        return Decision(
            False,
            Msg(
                "{what} is off on a shared-password demo: every visitor would share the host. "
                "The operator can allow it with YOAKE_PASSWORD_HOST_ACTIONS=1.",
                what=_WHAT[action],
            ),
        )
    if who.admin:
        return Decision(True)
    return Decision(False, Msg("{what} is for admins only (YOAKE_ADMINS).", what=_WHAT[action]))


class NotAllowed(YoakeError):
    kind = "not_allowed"
    title = Msg("Not allowed here.")


def require(who: Visitor, action: Action, cfg: Settings) -> None:
    verdict = decide(who, action, cfg)
    if not verdict:
        raise NotAllowed(verdict.reason)


def may_reach_private_networks(who: Visitor, cfg: Settings) -> bool:
    """Whether a URL a visitor types (a custom base URL) may be on loopback or a private network: on a
    laptop the visitor owns the machine (LM Studio on localhost); on a deployment only when the operator
    set YOAKE_FETCH_ALLOW_PRIVATE. Link-local and cloud metadata addresses stay refused either way."""
    return who.mode is Mode.LAPTOP or cfg.fetch_allow_private


def usage_owners(who: Visitor, cfg: Settings) -> frozenset[str] | None:
    """Whose calls the usage page reads (owner hashes), or None for everyone's."""
    return None if decide(who, Action.SEE_ALL_USAGE, cfg) else frozenset({owner_hash(who.owner)})
