"""Password gate for a deployed demo: constant-time comparison, a growing delay after wrong attempts."""

from __future__ import annotations

import hmac
import threading
import time


def password_matches(given: str, expected: str) -> bool:
    # compare_digest takes the same time wherever the strings differ; encode so non-ASCII works.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class AttemptThrottle:
    """Process-wide: every wrong attempt (from any session) makes the next answer slower, so a
    reload or a new session does not reset the cost of guessing."""

    def __init__(self, base_s: float = 0.5, max_s: float = 8.0) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.failures = 0
        self._lock = threading.Lock()

    def delay_for(self, failures: int) -> float:
        return 0.0 if failures <= 0 else min(self.base_s * 2 ** (failures - 1), self.max_s)

    def check(self, given: str, expected: str, sleep=time.sleep) -> bool:
        ok = password_matches(given, expected)
        with self._lock:
            self.failures = 0 if ok else self.failures + 1
            delay = self.delay_for(self.failures)
        if delay:
            sleep(delay)
        return ok
