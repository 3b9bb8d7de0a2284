"""The embedded engine's model files as a visitor may touch them.

The engine and its models folder are shared by every visitor of the app, so switching, downloading
and deleting are host-level actions: each call asks lib/core/policy.py again (a disabled widget or a
crafted session state is not what stops a visitor), downloads go through the address guard with the
deployment's YOAKE_FETCH_ALLOW_PRIVATE, and a switch takes only a model the catalog lists.
"""

from __future__ import annotations

from pathlib import Path

from lib.core.config import LOCAL_MODEL_ALIAS, Settings
from lib.core.i18n import Msg
from lib.core.policy import Action, Decision, Visitor, decide, require
from lib.engine import models as lm
from lib.engine.download import DownloadResult, ProgressCallback, download_model
from lib.engine.errors import ModelFileMissing
from lib.engine.server import LocalServer, default_model_path


class SharedModels:
    def __init__(self, server: LocalServer, cfg: Settings, who: Visitor) -> None:
        self.server, self.cfg, self.who = server, cfg, who
        self.folder = lm.models_folder(cfg)

    @property
    def manageable(self) -> Decision:
        return decide(self.who, Action.MANAGE_MODELS, self.cfg)

    def choices(self) -> dict[str, lm.LocalModel]:
        """The usable models by path, the running one included."""
        by_path = {str(m.path): m for m in lm.list_models(self.folder) if m.usable}
        by_path.setdefault(str(self.server.model_path), lm.describe_model(self.server.model_path))
        return by_path

    def switch(self, path: str | Path) -> None:
        require(self.who, Action.MANAGE_MODELS, self.cfg)
        chosen = Path(path)
        if str(chosen) not in self.choices():
            raise ModelFileMissing(Msg("{name} is not one of the models in the models folder.", name=chosen.name))
        if chosen != self.server.model_path:
            self.server.switch_model(chosen, LOCAL_MODEL_ALIAS if chosen == default_model_path() else None)

    def download(self, url: str, progress: ProgressCallback | None = None) -> DownloadResult:
        require(self.who, Action.MANAGE_MODELS, self.cfg)
        return download_model(url, folder=self.folder, progress=progress, allow_private=self.cfg.fetch_allow_private)

    def delete(self, path: str | Path) -> int:
        require(self.who, Action.MANAGE_MODELS, self.cfg)
        return lm.delete_model(path, self.folder)
