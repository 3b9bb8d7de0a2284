"""Which addresses the app may connect to, and the one way out that connects only to those (server-side
request forgery guard, after OWASP's SSRF cheat sheet). Every outbound request a visitor can cause goes
through `GuardedPools`: the summariser's pages and PDFs (lib/summarize/fetch.py) and model downloads
(lib/engine/models.py), each redirect hop checked again.

A deployed demo fetches URLs typed by visitors, so without a guard they could make it read the
cloud metadata service (credentials), the machine's own admin ports or the private network. The
fetcher resolves the host itself, checks every address here, and connects to exactly the address
it checked (lib/summarize/fetch.py pins it into the connection: no second DNS lookup that could answer
differently). Host literals are parsed the way the C library's `inet_aton` reads them (decimal
`2130706433`, hex `0x7f000001`, octal `0177.0.0.1`, short `127.1`), so no numeric form slips past as
a "name"; and since the resolved address, not the text, is what gets checked and connected to, a
form this parser missed would still be judged by the address it resolves to.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from lib.core.i18n import N_, Msg

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata endpoints that are not link-local (those are refused as link-local anyway).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6 (a unique-local address: "private" without this list)
        "100.100.100.200",  # Alibaba Cloud (carrier-grade NAT space)
        "168.63.129.16",  # Azure wire server (a public address)
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)
# Networks a company or home runs itself (what YOAKE_FETCH_ALLOW_PRIVATE is for). Python's own
# `is_private` also covers documentation, benchmarking and reserved ranges, which are no intranet.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT shared space
        "fc00::/7",  # IPv6 unique local
        "fec0::/10",  # IPv6 site-local (deprecated, still routed inside some networks)
    )
)  # fmt: skip
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this host": Linux connects 0.x to itself
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Categories and how the page names them (`Msg`s: English as text, the visitor's language on the page).
LABELS: dict[str, Msg] = {
    "loopback": Msg("a loopback address (the machine the app runs on)"),
    "private": Msg("a private-network address"),
    "link_local": Msg("a link-local address (169.254.x.x or fe80::, where cloud metadata services hand out credentials)"),
    "metadata": Msg("a cloud metadata service address (it hands out the server's credentials)"),
    "multicast": Msg("a multicast address"),
    "reserved": Msg("a reserved address that is not a public web server"),
    "unspecified": Msg("the unspecified address (0.0.0.0 or ::), which means the machine the app runs on"),
}
# "{ip} is {label}" for an address the URL names itself: one message per category (a message with
# nothing of its own between its fields could not be told apart from other text that has " is " in it).
_NAMED = {
    "loopback": N_("{ip} is a loopback address (the machine the app runs on)"),
    "private": N_("{ip} is a private-network address"),
    "link_local": N_("{ip} is a link-local address (169.254.x.x or fe80::, where cloud metadata services hand out credentials)"),
    "metadata": N_("{ip} is a cloud metadata service address (it hands out the server's credentials)"),
    "multicast": N_("{ip} is a multicast address"),
    "reserved": N_("{ip} is a reserved address that is not a public web server"),
    "unspecified": N_("{ip} is the unspecified address (0.0.0.0 or ::), which means the machine the app runs on"),
}
# What YOAKE_FETCH_ALLOW_PRIVATE opens up; everything else non-public stays refused.
PRIVATE_CATEGORIES = frozenset({"loopback", "private"})

_NUMERIC_PART = r"(?:0x[0-9a-f]*|[0-9]+)"
_NUMERIC_HOST = re.compile(rf"^{_NUMERIC_PART}(?:\.{_NUMERIC_PART}){{0,3}}$", re.IGNORECASE)


def _number(part: str) -> int:
    low = part.lower()
    if low.startswith("0x"):
        return int(low[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)  # raises ValueError for 8 or 9, as inet_aton refuses them
    return int(part)


def parse_ipv4_legacy(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address an all-numeric host means to `inet_aton` (and so to getaddrinfo and
    browsers): `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`. None for a host that is not numeric;
    ValueError for a numeric host that is not a valid address (refused rather than sent to DNS)."""
    if not _NUMERIC_HOST.match(host):
        return None
    parts = [_number(p) for p in host.split(".")]
    *head, last = parts
    if any(p > 255 for p in head) or last >= 1 << (8 * (4 - len(head))):
        raise ValueError(Msg("'{host}' is not a valid IPv4 address", host=host))
    value = 0
    for p in head:
        value = value << 8 | p
    return ipaddress.IPv4Address(value << (8 * (4 - len(head))) | last)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL's host names directly (IPv4 in any inet_aton form, IPv6 with an optional
    zone), or None for a name that needs DNS. ValueError for a malformed numeric host."""
    host = unquote(host).strip("[]")
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]  # "127.0.0.1." is the same address
    if ":" in host:
        return ipaddress.IPv6Address(host)  # ValueError when malformed
    return parse_ipv4_legacy(host)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries and reaches: mapped, NAT64, 6to4, Teredo."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def category(ip: IPAddress) -> str:
    """'public', or why the address is not one (a key of LABELS)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return category(ip.ipv4_mapped)  # an IPv6 socket sends it to the IPv4 address itself
        inner = _embedded_ipv4(ip)
        if inner is not None and category(inner) != "public":
            return category(inner)  # ::ffff:127.0.0.1 is 127.0.0.1
        if ip.scope_id:
            return "link_local"  # a zone (fe80::1%eth0) only makes sense on a local link
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    if any(ip in net for net in PRIVATE_NETWORKS if net.version == ip.version):
        return "private"
    if ip.is_reserved or ip.is_private or not ip.is_global:
        return "reserved"  # 240/4, broadcast, documentation, benchmarking, protocol assignments
    return "public"


def allowed(cat: str, allow_private: bool) -> bool:
    return cat == "public" or (allow_private and cat in PRIVATE_CATEGORIES)


@dataclass(frozen=True)
class Target:
    """One checked address to connect to: what `socket.socket(family, SOCK_STREAM).connect(sockaddr)` takes."""

    family: int
    sockaddr: tuple
    ip: IPAddress


@dataclass(frozen=True)
class Refusal:
    host: str
    ip: IPAddress
    category: str
    literal: bool  # the URL named the address itself (no DNS)

    @property
    def opens_with_setting(self) -> bool:
        return self.category in PRIVATE_CATEGORIES


def _target(ip: IPAddress, port: int) -> Target:
    if isinstance(ip, ipaddress.IPv6Address):
        scope = 0
        if ip.scope_id:
            try:
                scope = socket.if_nametoindex(ip.scope_id) if not ip.scope_id.isdigit() else int(ip.scope_id)
            except OSError:
                scope = 0
        return Target(socket.AF_INET6, (str(ip).split("%")[0], port, 0, scope), ip)
    return Target(socket.AF_INET, (str(ip), port), ip)


def resolve(host: str, port: int) -> tuple[list[IPAddress], bool]:
    """(addresses, literal): the host's addresses, by parsing a literal or by one getaddrinfo call.
    Raises ValueError (malformed numeric host) or socket.gaierror (unknown name)."""
    literal = parse_ip_literal(host)
    if literal is not None:
        return [literal], True
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    ips: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        addr = str(sockaddr[0])
        if family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3]:
            addr = f"{addr.split('%')[0]}%{sockaddr[3]}"
        ip = ipaddress.ip_address(addr)
        if ip not in ips:
            ips.append(ip)
    if not ips:
        raise socket.gaierror(socket.EAI_NONAME, "no IPv4 or IPv6 address")
    return ips, False


def check(host: str, port: int, allow_private: bool) -> list[Target] | Refusal:
    """The addresses to connect to, all of them allowed; or the first refused one. A name with
    several addresses is refused if any is (the OS could pick that one, and a name that mixes
    public and private answers is a rebinding trick). ValueError / socket.gaierror from `resolve`."""
    ips, literal = resolve(host, port)
    for ip in ips:
        cat = category(ip)
        if not allowed(cat, allow_private):
            return Refusal(host, ip, cat, literal)
    return [_target(ip, port) for ip in ips]


def describe(refusal: Refusal) -> Msg:
    """Which address was refused and why, for the page (a `Msg`: English as text, `render(lang)` words it)."""
    if refusal.literal:
        return Msg(_NAMED[refusal.category], ip=str(refusal.ip))
    return Msg("'{host}' resolves to {ip}, {label}", host=refusal.host, ip=str(refusal.ip), label=LABELS[refusal.category])


class AddressRefused(Exception):
    """A URL whose host is (or resolves to) an address the app may not connect to; nothing was sent."""

    def __init__(self, refusal: Refusal, url: str) -> None:
        self.message = describe(refusal)  # a `Msg`: the page renders it in the visitor's language
        super().__init__(self.message)
        self.refusal, self.url = refusal, url


def checked_url(url: str, allow_private: bool) -> tuple[str, str, int, list[Target]]:
    """(scheme, host, port, targets) of an http(s) URL whose every address is allowed. Raises
    AddressRefused, ValueError (malformed host) or socket.gaierror / UnicodeError (unknown host)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    if not host.isascii():  # an international name: its DNS form, for the lookup and the Host header alike
        host = host.encode("idna").decode("ascii")
    verdict = check(host, port, allow_private)
    if isinstance(verdict, Refusal):
        raise AddressRefused(verdict, url)
    return scheme, host, port, verdict


# --- connecting only to checked addresses -------------------------------------------------------


class _PinnedConnectionMixin:
    """A urllib3 connection whose socket goes to addresses checked beforehand, without asking DNS
    again; everything else (Host header, TLS SNI and certificate check) uses the host name."""

    targets: list[Target]

    def __init__(self, *args: object, targets: list[Target], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.targets = targets

    def _new_conn(self) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else None  # type: ignore[attr-defined]
        error: OSError | None = None
        for target in self.targets:  # like socket.create_connection, over the checked addresses only
            sock = socket.socket(target.family, socket.SOCK_STREAM)
            try:
                for option in self.socket_options or ():  # type: ignore[attr-defined]
                    sock.setsockopt(*option)
                sock.settimeout(timeout)
                sock.connect(target.sockaddr)
                return sock
            except TimeoutError as exc:
                sock.close()
                raise urllib3.exceptions.ConnectTimeoutError(self, f"Connection to {target.ip} timed out.") from exc
            except OSError as exc:
                sock.close()
                error = exc
        raise urllib3.exceptions.NewConnectionError(self, f"Failed to establish a new connection: {error}") from error


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class GuardedPools:
    """One download's connection pools (use it as a context manager), keyed by origin and the addresses
    checked for it: a redirect to the same origin reuses the connection; nothing outlives the download
    (no stale pinned address). `urlopen` checks the URL's addresses first and connects only to them."""

    def __init__(self, allow_private: bool, user_agent: str) -> None:
        self.allow_private = allow_private
        self.user_agent = user_agent
        self.pools: dict[tuple, HTTPConnectionPool] = {}

    def urlopen(self, url: str, *, headers: dict[str, str], timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        """GET `url` (no redirect followed: the caller checks each hop by calling again). Raises what
        `checked_url` raises, and urllib3's errors."""
        scheme, host, port, targets = checked_url(url, self.allow_private)
        key = (scheme, host, port, tuple(t.sockaddr for t in targets))
        if key not in self.pools:
            cls = _PinnedHTTPSPool if scheme == "https" else _PinnedHTTPPool
            self.pools[key] = cls(host, port, maxsize=1, headers={"User-Agent": self.user_agent}, targets=targets)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.pools[key].urlopen(
            "GET", path, headers=headers, redirect=False, retries=False, preload_content=False,
            assert_same_host=False, timeout=timeout,
        )  # fmt: skip

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()

    def __enter__(self) -> GuardedPools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
