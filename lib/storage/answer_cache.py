"""The answer cache: identical temperature-0 requests replayed, per owner unless shared."""

from __future__ import annotations

import time

from lib.llm.chat import ChatResult
from lib.storage.db import Database


class AnswerCacheRepository(Database):
    # --- answer cache -----------------------------------------------------------------------------

    def cache_get(self, key: str) -> ChatResult | None:
        """This owner's cached answer for `key`; with a shared cache, anyone's (this owner's first)."""
        with self._read() as conn:
            if self.shared_answer_cache:
                row = conn.execute(
                    "SELECT * FROM answer_cache WHERE key = ? ORDER BY owner = ? DESC, created_at DESC LIMIT 1",
                    (key, self.owner),
                ).fetchone()
            else:
                row = conn.execute("SELECT * FROM answer_cache WHERE owner = ? AND key = ?", (self.owner, key)).fetchone()
        if row is None:
            return None
        with self._write() as conn:
            conn.execute("UPDATE answer_cache SET hits = hits + 1 WHERE owner = ? AND key = ?", (row["owner"], key))
        return ChatResult.from_counts(
            row["text"], row["prompt_tokens"], row["completion_tokens"],
            resolved_model=row["resolved_model"], finish_reason=row["finish_reason"] or "stop",
        )  # fmt: skip

    def cache_put(self, key: str, provider: str, model: str, result: ChatResult) -> None:
        usage = result.usage
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO answer_cache (owner, key, provider, model, text, resolved_model, prompt_tokens,"
                " completion_tokens, finish_reason, created_at, hits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    self.owner,
                    key,
                    provider,
                    model,
                    result.text,
                    result.resolved_model,
                    usage.prompt_tokens if usage and not result.usage_estimated else None,
                    usage.completion_tokens if usage and not result.usage_estimated else None,
                    result.finish_reason,
                    time.time(),
                ),
            )

    def cache_clear(self) -> int:
        """Forget this owner's cached answers (never another owner's, shared cache or not)."""
        with self._write() as conn:
            return conn.execute("DELETE FROM answer_cache WHERE owner = ?", (self.owner,)).rowcount
