"""Which addresses the fetcher may connect to (server-side request forgery guard, after OWASP's SSRF
cheat sheet).

A deployed demo fetches URLs typed by visitors, so without a guard they could make it read the
cloud metadata service (credentials), the machine's own admin ports or the private network. The
fetcher resolves the host itself, checks every address here, and connects to exactly the address
it checked (lib/fetch.py pins it into the connection: no second DNS lookup that could answer
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
from urllib.parse import unquote

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

# Categories and how the page names them.
LABELS = {
    "loopback": "a loopback address (the machine the app runs on)",
    "private": "a private-network address",
    "link_local": "a link-local address (169.254.x.x or fe80::, where cloud metadata services hand out credentials)",
    "metadata": "a cloud metadata service address (it hands out the server's credentials)",
    "multicast": "a multicast address",
    "reserved": "a reserved address that is not a public web server",
    "unspecified": "the unspecified address (0.0.0.0 or ::), which means the machine the app runs on",
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
        raise ValueError(f"'{host}' is not a valid IPv4 address")
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
