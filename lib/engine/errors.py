"""The local models' expected failures, each its own kind (the usage of a page: a specific message)."""

from __future__ import annotations

from typing import Any

from lib.core.errors import YoakeError
from lib.core.i18n import Msg


class ModelError(YoakeError):
    """Root of the local-model failures."""

    kind = "local_model"
    title = Msg("The local model could not be used.")


class InvalidModelFile(ModelError):
    """A file that is not a usable GGUF (the detail says why: not GGUF, truncated, corrupt header)."""

    kind = "model_invalid"
    title = Msg("That file is not a usable GGUF model.")


class ModelFileMissing(ModelError):
    kind = "model_missing"
    title = Msg("The model file was not found.")


class BadModelURL(ModelError):
    kind = "model_bad_url"
    title = Msg("That link cannot be downloaded.")


class UnsafeModelName(BadModelURL):
    """A file name that would leave the models folder (../, a separator, a hidden file)."""

    kind = "model_unsafe_name"
    title = Msg("That file name is not allowed.")


class NotAGGUF(ModelError):
    kind = "model_not_gguf"
    title = Msg("That link is not a GGUF model file.")


class ModelHTTPError(ModelError):
    kind = "model_http_error"
    title = Msg("The server refused the download.")

    def __init__(self, detail: str, *, status: int, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.status = status


class ModelURLNotFound(ModelHTTPError):
    kind = "model_url_not_found"
    title = Msg("Nothing to download at that link (HTTP 404).")


class DownloadConnectionError(ModelError):
    kind = "model_download_connection"
    title = Msg("Could not reach the download server.")
    retryable = True


class DownloadRefused(BadModelURL):
    kind = "blocked_address"
    title = Msg("This address is not allowed.")


class DownloadInterrupted(ModelError):
    """The transfer stopped before the end; the .part is kept and the next download resumes it."""

    kind = "model_download_interrupted_resumable"
    title = Msg("The download was interrupted. Download again to resume it.")
    retryable = True

    def __init__(self, detail: str, *, done: int, total: int | None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.done = done
        self.total = total


class DownloadCancelled(DownloadInterrupted):
    kind = "model_download_cancelled"
    title = Msg("The download was cancelled.")


class DownloadCorrupt(ModelError):
    """Complete by the server's count but not a readable GGUF (wrong length, truncated): removed."""

    kind = "model_download_corrupt"
    title = Msg("The downloaded file is damaged and was removed.")
    retryable = True


class DiskFull(ModelError):
    kind = "model_disk_full"
    title = Msg("Not enough disk space for this model.")

    def __init__(self, detail: str, *, needed: int | None, free: int, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.needed = needed
        self.free = free


class DownloadBusy(ModelError):
    kind = "model_download_busy"
    title = Msg("This model is already being downloaded.")
    retryable = True


class DeleteRefused(ModelError):
    kind = "model_delete_refused"
    title = Msg("That file cannot be deleted here.")
