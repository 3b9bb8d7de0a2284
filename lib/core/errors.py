"""Map the SDK's exception classes to specific, human messages (shown at the page boundary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib.core.i18n import Msg

if TYPE_CHECKING:
    import openai


class YoakeError(Exception):
    """The root of every expected failure: a stable `kind` (also the usage log's error_type), a short
    `title` and a `detail` fit for the page. `describe_error` turns any of them into page text.
    Title and detail are `Msg`s where they are worded here, so the page shows them in the visitor's
    language (as `str`s they are English: logs and the command line)."""

    kind: str = "error"
    title: str = Msg("The request failed.")
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


def describe_error(exc: BaseException, provider_label: str | None = None) -> UserError:
    """A specific message for each failure a user can meet; never a stack trace. Title and detail are
    `Msg`s: `render(lang)` words them for the visitor."""
    import openai  # here, not at the top: command-line tools that only need YoakeError start faster

    provider = provider_label or Msg("The provider")

    if isinstance(exc, YoakeError):
        return UserError(exc.kind, exc.title, exc.detail, exc.retryable)
    if isinstance(exc, openai.APITimeoutError):
        return UserError(
            "timeout",
            Msg("The model took too long to answer."),
            Msg(
                "{provider} did not answer before the timeout. Try again, ask for a shorter reply, or raise YOAKE_TIMEOUT.",
                provider=provider,
            ),
            True,
        )
    if isinstance(exc, openai.APIConnectionError):
        return UserError(
            "connection",
            Msg("Could not reach {provider}.", provider=provider),
            Msg("The connection failed or was cut. Check the network or that the server is running, then re-send."),
            True,
        )
    if isinstance(exc, openai.AuthenticationError):
        return UserError(
            "authentication",
            Msg("The API key was rejected."),
            Msg("{provider} did not accept the key. Check the key in your environment, .env or secrets.toml.", provider=provider),
            False,
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return UserError(
            "permission",
            Msg("This key may not use that model or endpoint."),
            Msg("{provider} refused the request: {said}", provider=provider, said=_server_said(exc)),
            False,
        )
    if isinstance(exc, openai.NotFoundError):
        return UserError(
            "not_found",
            Msg("Model or endpoint not found."),
            Msg(
                "{provider} does not know this model or URL. Pick another model or check the base URL. ({said})",
                provider=provider,
                said=_server_said(exc),
            ),
            False,
        )
    if isinstance(exc, openai.RateLimitError):
        return UserError(
            "rate_limit",
            Msg("Rate limit or quota reached."),
            Msg(
                "{provider} is throttling requests (retried automatically). Wait a moment and re-send, or check your quota.",
                provider=provider,
            ),
            True,
        )
    if isinstance(exc, openai.BadRequestError):
        said = _server_said(exc)
        low = said.lower()
        if "context" in low or "too long" in low or "maximum" in low and "token" in low:
            return UserError(
                "context_length",
                Msg("The conversation is too long for this model."),
                Msg("Start a new chat, lower 'max tokens', or lower the history budget. ({said})", said=said),
                False,
            )
        return UserError(
            "bad_request",
            Msg("The request was rejected."),
            Msg("{provider} rejected a parameter or the input: {said}", provider=provider, said=said),
            False,
        )
    if isinstance(exc, openai.InternalServerError):
        return UserError(
            "server_error",
            Msg("{provider} had a server error.", provider=provider),
            Msg("The server answered {status} (retried automatically). Re-send in a moment.", status=exc.status_code),
            True,
        )
    if isinstance(exc, openai.APIStatusError):
        return UserError(
            "http_error",
            Msg("{provider} answered HTTP {status}.", provider=provider, status=exc.status_code),
            _server_said(exc),
            True,
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return UserError("bad_response", Msg("The server sent a reply we could not read."), str(exc.message), True)
    if isinstance(exc, ValueError):  # e.g. a malformed server-sent event the SDK could not decode
        return UserError(
            "bad_response",
            Msg("The server sent a reply we could not read."),
            Msg("{provider} sent a malformed stream. What arrived before it is kept; re-send to try again.", provider=provider),
            True,
        )
    if isinstance(exc, openai.OpenAIError):
        return UserError("openai_error", Msg("The request failed."), str(exc), True)
    return UserError("unexpected", Msg("Something went wrong."), f"{type(exc).__name__}: {exc}", True)
