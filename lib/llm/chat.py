"""Chat requests: parameters, history trimming, model routing, the result of a call and its
usage-log line, and one non-streaming call (`complete`). Streamed replies are in lib/llm/streams.py."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from lib.core import usage_log
from lib.core.errors import describe_error
from lib.core.i18n import N_, Msg
from lib.core.identity import LOCAL_OWNER, owner_hash
from lib.core.pricing import Price, estimate_cost
from lib.core.text import CJK_CHARS


@dataclass
class ChatParams:
    model: str
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] = field(default_factory=list)

    def to_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model}
        for name in ("temperature", "top_p", "max_tokens", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        if self.stop:
            kwargs["stop"] = self.stop[:4]  # OpenAI accepts at most 4
        return kwargs


def parse_seed(text: str) -> tuple[int | None, str | None]:
    """(seed, problem) from a seed field: blank means random; a problem is a message for the page."""
    text = (text or "").strip()
    if not text:
        return None, None
    try:
        return int(text), None
    except ValueError:
        return None, Msg("The seed must be a whole number.")


def parse_stop(text: str) -> list[str]:
    """One stop sequence per line; `\\n` typed literally means a newline."""
    return [line.replace("\\n", "\n") for line in text.splitlines() if line.strip()][:4]


# --- token estimates and trimming ---------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """A provider-neutral estimate (~4 chars/token for Latin text, ~1 per CJK char)."""
    if not text:
        return 0
    cjk = len(re.findall(f"[{CJK_CHARS}]", text))
    return max(1, math.ceil((len(text) - cjk) / 4) + cjk)


def estimate_message_tokens(messages: Sequence[ChatCompletionMessageParam]) -> int:
    # ~4 tokens of chat-template overhead per message
    return sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in messages)


@dataclass(frozen=True)
class TrimResult:
    messages: list[ChatCompletionMessageParam]
    dropped: int  # older messages not sent


def trim_history(
    system_prompt: str | None,
    history: Sequence[ChatCompletionMessageParam],
    *,
    max_messages: int = 40,
    max_tokens: int = 6000,
) -> TrimResult:
    """Keep the newest messages within both limits; the system prompt is always kept and the
    newest message always sent (the provider reports it if even that is too long)."""
    system: list[ChatCompletionMessageParam] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    budget = max_tokens - estimate_message_tokens(system)
    kept: list[ChatCompletionMessageParam] = []
    for msg in reversed(history):
        cost = estimate_message_tokens([msg])
        if kept and (len(kept) >= max_messages or cost > budget):
            break
        kept.append(msg)
        budget -= cost
    kept.reverse()
    # Don't open with an orphaned assistant turn: the model would answer its own message.
    # Nor with a tool result whose call was trimmed away (providers reject that).
    while len(kept) > 1 and kept[0].get("role") in ("assistant", "tool"):
        kept.pop(0)
    return TrimResult(system + kept, len(history) - len(kept))


# --- auto routing -------------------------------------------------------------------------------

AUTO_MODEL = "auto"
_HARD_WORDS = re.compile(
    r"\b(explain|why|analy[sz]e|compare|prove|design|debug|step[- ]by[- ]step|refactor|plan)\b|```|説明|なぜ|比較|設計",
    re.IGNORECASE,
)
AUTO_RULE = Msg(
    "Large model when the message is long (over 400 characters), contains code, or asks to "
    "explain/analyse/compare/debug/design; otherwise the small model."
)
_LONG = N_("long message")
_SIMPLE = N_("short, simple message")
_REASONING = N_("asks for reasoning ('{word}')")


def route_model(message: str, small: str, large: str) -> tuple[str, str]:
    """(model, reason) for the 'auto' choice: a simple rule a user can predict. The reason is a `Msg`
    (English as a `str`, which is what a reply's saved meta keeps; `route_reason` words it again)."""
    if len(message) > 400:
        return large, Msg(_LONG)
    match = _HARD_WORDS.search(message)
    if match:
        return large, Msg(_REASONING, word=match.group(0).strip("`") or Msg("code"))
    return small, Msg(_SIMPLE)


def route_reason(saved: str) -> str:
    """A routing reason as saved (its English text) as a `Msg` again, to show in the visitor's language;
    text it does not recognise is returned as it is."""
    if saved in (_LONG, _SIMPLE):
        return Msg(saved)
    match = re.fullmatch(r"asks for reasoning \('(.*)'\)", saved, re.DOTALL)
    if match:
        word = match.group(1)
        return Msg(_REASONING, word=Msg("code") if word == "code" else word)
    return saved


# --- streaming ----------------------------------------------------------------------------------


@dataclass
class ChatResult:
    text: str = ""
    usage: CompletionUsage | None = None
    usage_estimated: bool = False
    resolved_model: str | None = None
    request_id: str | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    finish_reason: str | None = None
    cost_usd: float | None = None
    error: BaseException | None = None
    error_kind: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # the model's calls (OpenAI message format)
    logprobs: list[Any] | None = None  # ChatCompletionTokenLogprob per generated token, when asked for

    @classmethod
    def from_counts(cls, text: str, input_tokens: int | None, output_tokens: int | None, **fields: Any) -> ChatResult:
        """A result rebuilt from what was saved (the answer cache, a compare cell): usage only when both counts are known."""
        usage = None
        if input_tokens is not None and output_tokens is not None:
            usage = CompletionUsage(
                prompt_tokens=input_tokens, completion_tokens=output_tokens, total_tokens=input_tokens + output_tokens
            )
        return cls(text=text, usage=usage, **fields)

    @property
    def complete(self) -> bool:
        return self.error is None and self.finish_reason is not None

    @property
    def tokens_per_s(self) -> float | None:
        if not self.usage or not self.duration_ms or self.ttft_ms is None:
            return None
        gen_s = (self.duration_ms - self.ttft_ms) / 1000
        return self.usage.completion_tokens / gen_s if gen_s > 0 and self.usage.completion_tokens > 1 else None


@dataclass(frozen=True)
class CallContext:
    """Who is calling, for the usage log (`owner` is logged as its hash only)."""

    page: str
    provider_id: str
    local: bool
    log_path: Path | None
    prices: dict[str, Price] | None = None
    owner: str = LOCAL_OWNER
    prompt: str | None = None  # `name@version` of the prompt version being run (lib.prompts), logged with the call


def cached_tokens(usage: CompletionUsage | None) -> int | None:
    """`usage.prompt_tokens_details.cached_tokens` (also in a stream's final usage chunk), when reported."""
    details = usage.prompt_tokens_details if usage else None
    return details.cached_tokens if details and details.cached_tokens is not None else None


def finalize_and_log(
    ctx: CallContext,
    params: ChatParams,
    messages: Sequence[ChatCompletionMessageParam],
    res: ChatResult,
    *,
    stream: bool,
    cache_hit: bool = False,
) -> None:
    """Fill in estimated usage and cost, then append the call's usage-log line."""
    if res.usage is None and (res.text or res.error is None):
        prompt = estimate_message_tokens(messages)
        completion = estimate_tokens(res.text)
        res.usage = CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
        res.usage_estimated = True
    usage = res.usage
    cached = cached_tokens(usage)
    res.cost_usd = (
        0.0
        if cache_hit
        else estimate_cost(
            res.resolved_model or params.model,
            usage.prompt_tokens if usage else None,
            usage.completion_tokens if usage else None,
            local=ctx.local,
            prices=ctx.prices,
            cached_tokens=cached,
        )
    )
    if ctx.log_path is None:
        return
    usage_log.append(
        ctx.log_path,
        usage_log.UsageRecord(
            page=ctx.page,
            provider=ctx.provider_id,
            model=params.model,
            resolved_model=res.resolved_model,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stream=stream,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            total_tokens=usage.total_tokens if usage else None,
            cached_tokens=cached,
            ttft_ms=round(res.ttft_ms, 1) if res.ttft_ms is not None else None,
            duration_ms=round(res.duration_ms, 1) if res.duration_ms is not None else None,
            cost_usd=res.cost_usd,
            status="error" if res.error else "ok",
            error_type=res.error_kind,
            request_id=res.request_id,
            usage_estimated=res.usage_estimated,
            cache_hit=cache_hit,
            owner=owner_hash(ctx.owner),
            prompt=ctx.prompt,
            tool_calls=len(res.tool_calls) or None,
            tool_results=sum(1 for m in messages if m.get("role") == "tool") or None,
        ),
    )


def complete(
    client: openai.OpenAI,
    messages: Sequence[ChatCompletionMessageParam],
    params: ChatParams,
    ctx: CallContext,
    **extra: Any,
) -> tuple[ChatCompletion, ChatResult]:
    """One non-streaming call, logged like a streamed one. Raises the SDK's exceptions after logging."""
    res = ChatResult()
    start = time.perf_counter()
    try:
        raw = client.chat.completions.with_raw_response.create(messages=list(messages), **(params.to_kwargs() | extra))
        completion = raw.parse()
    except BaseException as exc:
        res.error, res.error_kind = exc, describe_error(exc).kind
        raise
    else:
        res.request_id = raw.request_id or completion.id
        res.resolved_model = completion.model
        res.usage = completion.usage
        if completion.choices:
            choice = completion.choices[0]
            res.text = choice.message.content or ""
            res.finish_reason = choice.finish_reason
            res.tool_calls = [c.model_dump(exclude_none=True) for c in choice.message.tool_calls or []]
            if choice.logprobs and choice.logprobs.content is not None:
                res.logprobs = list(choice.logprobs.content)
        return completion, res
    finally:
        res.duration_ms = (time.perf_counter() - start) * 1000
        res.ttft_ms = res.duration_ms  # not streamed: the first token arrives with the last
        finalize_and_log(ctx, params, messages, res, stream=False)
