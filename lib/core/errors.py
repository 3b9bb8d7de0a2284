"""Map the SDK's exception classes to specific, human messages (shown at the page boundary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai


class YoakeError(Exception):
    """The root of every expected failure: a stable `kind` (also the usage log's error_type), a short
    `title` and a `detail` fit for the page. `describe_error` turns any of them into page text."""

    kind: str = "error"
    title: str = "The request failed."
    retryable: bool = False

    def __init__(self, detail: str, *, kind: str | None = None, title: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if kind is not None:
            self.kind = kind
        if title is not None:
            self.title = title
        if retryable is not None:
            self.retryable = retryable


@dataclass(frozen=True)
class UserError:
    kind: str  # stable name, also written to the usage log as error_type
    title: str
    detail: str
    retryable: bool


def _server_said(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        msg = (
            body.get("message") or (body.get("error") or {}).get("message")
            if isinstance(body.get("error"), dict)
            else body.get("message")
        )
        if msg:
            return str(msg)
    return str(exc.message or "")


def describe_error(exc: BaseException, provider_label: str = "The provider") -> UserError:
    """A specific message for each failure a user can meet; never a stack trace."""
    import openai  # here, not at the top: command-line tools that only need YoakeError start faster

    if isinstance(exc, YoakeError):
        return UserError(exc.kind, exc.title, exc.detail, exc.retryable)
    if isinstance(exc, openai.APITimeoutError):
        return UserError(
            "timeout",
            "The model took too long to answer.",
            f"{provider_label} did not answer before the timeout. Try again, ask for a shorter reply, or raise YOAKE_TIMEOUT.",
            True,
        )
    if isinstance(exc, openai.APIConnectionError):
        return UserError(
            "connection",
            f"Could not reach {provider_label}.",
            "The connection failed or was cut. Check the network or that the server is running, then re-send.",
            True,
        )
    if isinstance(exc, openai.AuthenticationError):
        return UserError(
            "authentication",
            "The API key was rejected.",
            f"{provider_label} did not accept the key. Check the key in your environment, .env or secrets.toml.",
            False,
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return UserError(
            "permission",
            "This key may not use that model or endpoint.",
            f"{provider_label} refused the request: {_server_said(exc)}",
            False,
        )
    if isinstance(exc, openai.NotFoundError):
        return UserError(
            "not_found",
            "Model or endpoint not found.",
            f"{provider_label} does not know this model or URL. Pick another model or check the base URL. ({_server_said(exc)})",
            False,
        )
    if isinstance(exc, openai.RateLimitError):
        return UserError(
            "rate_limit",
            "Rate limit or quota reached.",
            f"{provider_label} is throttling requests (retried automatically). Wait a moment and re-send, or check your quota.",
            True,
        )
    if isinstance(exc, openai.BadRequestError):
        said = _server_said(exc)
        low = said.lower()
        if "context" in low or "too long" in low or "maximum" in low and "token" in low:
            return UserError(
                "context_length",
                "The conversation is too long for this model.",
                f"Start a new chat, lower 'max tokens', or lower the history budget. ({said})",
                False,
            )
        return UserError(
            "bad_request", "The request was rejected.", f"{provider_label} rejected a parameter or the input: {said}", False
        )
    if isinstance(exc, openai.InternalServerError):
        return UserError(
            "server_error",
            f"{provider_label} had a server error.",
            f"The server answered {exc.status_code} (retried automatically). Re-send in a moment.",
            True,
        )
    if isinstance(exc, openai.APIStatusError):
        return UserError("http_error", f"{provider_label} answered HTTP {exc.status_code}.", _server_said(exc), True)
    if isinstance(exc, openai.APIResponseValidationError):
        return UserError("bad_response", "The server sent a reply we could not read.", str(exc.message), True)
    if isinstance(exc, ValueError):  # e.g. a malformed server-sent event the SDK could not decode
        return UserError(
            "bad_response",
            "The server sent a reply we could not read.",
            f"{provider_label} sent a malformed stream. What arrived before it is kept; re-send to try again.",
            True,
        )
    if isinstance(exc, openai.OpenAIError):
        return UserError("openai_error", "The request failed.", str(exc), True)
    return UserError("unexpected", "Something went wrong.", f"{type(exc).__name__}: {exc}", True)
