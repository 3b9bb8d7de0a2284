"""Who owns stored work: the signed-in identity (OpenID Connect issuer + subject) or, without
sign-in, the one laptop owner `local`.

The owner string is what the store, the docs collections and the usage log are keyed by. It is
built from the issuer and the subject, never from the e-mail alone: an e-mail can be reassigned
or be the same at two providers, the (issuer, subject) pair is stable and unique per account.
The usage log and directory names get `owner_hash(owner)`, so neither holds a raw subject or e-mail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

LOCAL_OWNER = "local"
OWNER_HASH_CHARS = 16  # 64 bits of sha256: no collision among any plausible number of visitors


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    email: str | None = None
    name: str | None = None

    @property
    def owner(self) -> str:
        """The store's owner key. An OIDC issuer is an https URL, where '|' is not a valid
        character, so two (issuer, subject) pairs never give the same string."""
        return f"{self.issuer}|{self.subject}"

    @property
    def display(self) -> str:
        """What the sidebar shows: the name, else the e-mail, else the subject."""
        return self.name or self.email or self.subject


def owner_hash(owner: str) -> str:
    """A short, stable, non-reversible name for an owner (usage log, directory names)."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:OWNER_HASH_CHARS]


def is_admin(email: str | None, admins: Iterable[str]) -> bool:
    """Whether an e-mail is one of the admins (case and surrounding spaces ignored)."""
    if not email or not email.strip():
        return False
    wanted = email.strip().casefold()
    return any(a.strip().casefold() == wanted for a in admins if a and a.strip())
