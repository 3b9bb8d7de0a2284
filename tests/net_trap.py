"""A trap for outgoing connections and DNS, for tests about addresses the app must never reach.

`NetTrap.install(monkeypatch)` replaces `socket.socket.connect`, `connect_ex` and
`socket.getaddrinfo` for the test (`socket.create_connection` goes through both). Every connect attempt is recorded
(`trap.connects`) and refused with `BlockedByTest` (an OSError, so code under test handles it like a
refused connection) before any packet is sent, except to the loopback (host, port) pairs listed in
`allow`. Every lookup is recorded (`trap.lookups`) and answered from `trap.dns` (a host's list of
addresses, or a callable returning one): no real DNS, and a name not in the table is unknown.
"""

from __future__ import annotations

import _socket
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pytest


class BlockedByTest(OSError):
    """A connection the test did not allow: refused before it was made."""


Answer = list[str] | Callable[[], list[str]]


@dataclass
class NetTrap:
    allow: set[tuple[str, int]] = field(default_factory=set)  # loopback (host, port) that may be reached
    dns: dict[str, Answer] = field(default_factory=dict)
    connects: list[tuple[str, int]] = field(default_factory=list)  # every attempt, allowed or not
    lookups: list[str] = field(default_factory=list)

    def refused(self) -> list[tuple[str, int]]:
        return [c for c in self.connects if c not in self.allow]

    def _check(self, address: object) -> None:
        host, port = str(address[0]).split("%")[0], int(address[1])  # type: ignore[index]
        self.connects.append((host, port))
        allowed = (host, port) in self.allow and ipaddress.ip_address(host).is_loopback
        if not allowed:
            raise BlockedByTest(f"test: connection to {host}:{port} blocked before sending")

    def _getaddrinfo(
        self, host: object, port: object, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple]:  # noqa: A002 - socket's own parameter names
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        answer = self.dns.get(name)
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            pass
        else:
            answer = answer or [name.strip("[]")]  # a plain address needs no DNS (clients still ask)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, f"test: no DNS for {name!r}")
        addresses = answer() if callable(answer) else answer
        out = []
        for addr in addresses:
            ip = ipaddress.ip_address(addr)
            p = int(port or 0)
            if ip.version == 6:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (str(ip), p, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (str(ip), p)))
        return out

    def install(self, monkeypatch: pytest.MonkeyPatch) -> NetTrap:
        trap = self
        real_connect = _socket.socket.connect
        real_connect_ex = _socket.socket.connect_ex

        def connect(sock: socket.socket, address: object) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                trap._check(address)
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: object) -> int:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                trap._check(address)
            return real_connect_ex(sock, address)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", self._getaddrinfo)
        return self


def trap(monkeypatch: pytest.MonkeyPatch, allow: Iterable[tuple[str, int]] = (), dns: dict[str, Answer] | None = None) -> NetTrap:
    return NetTrap(allow=set(allow), dns=dict(dns or {})).install(monkeypatch)
