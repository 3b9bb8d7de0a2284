"""The fetcher never reaches an address a visitor should not (server-side request forgery).

Every test here runs under a NetTrap (tests/net_trap.py): each connect attempt is counted and refused
before a packet leaves unless it is to the loopback fixture site the test allows, and every DNS
lookup is answered from the test's own table (no real DNS)."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.fixture_site import FixtureSite
from net_trap import NetTrap, trap

from lib.core import netguard
from lib.core.config import Settings
from lib.core.errors import YoakeError, describe_error
from lib.summarize.fetch import FetchError, FetchLimits, fetch, load_url

OFF = FetchLimits(timeout=2.0)  # the default: public addresses only
ON = FetchLimits(timeout=2.0, allow_private=True)  # YOAKE_FETCH_ALLOW_PRIVATE=1

# Names the tests' DNS table answers (nothing here is looked up for real).
HOSTILE_DNS: dict[str, list[str]] = {
    "intranet.example": ["10.0.0.5"],
    "router.example": ["192.168.1.1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "metadata.google.internal": ["169.254.169.254"],
    "localhost": ["::1", "127.0.0.1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "mixed.example": ["93.184.216.34", "10.0.0.5"],  # one public answer does not make a private one safe
    "ula.example": ["fd12:3456::1"],
    "aws6.example": ["fd00:ec2::254"],
    "cgnat.example": ["100.64.0.1"],
    "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
}


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> NetTrap:
    return trap(monkeypatch, dns=HOSTILE_DNS)


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as s:
        yield s


def _refusal(url: str, limits: FetchLimits) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, limits)
    return info.value


# (url, what the address is): each refused with the setting off, no connection attempted.
HOSTILE = [
    ("http://127.0.0.1/", "loopback"),
    ("http://localhost:8501/", "loopback"),
    ("http://2130706433/", "loopback"),  # decimal
    ("http://0x7f000001/", "loopback"),  # hex
    ("http://0177.0.0.1/", "loopback"),  # octal
    ("http://127.1/", "loopback"),  # short form
    ("http://127.0.0.1./", "loopback"),  # trailing dot
    ("http://example.com@127.0.0.1/", "loopback"),  # userinfo in front of the real host
    ("http://[::1]:8080/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped IPv6
    ("http://[::ffff:7f00:1]/", "loopback"),  # the same, in hex
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 wrapping 127.0.0.1
    ("http://mapped.example/", "loopback"),  # DNS answers ::ffff:127.0.0.1
    ("http://127.0.0.1.nip.io/", "loopback"),  # DNS answers 127.0.0.1
    ("http://0/", "unspecified"),
    ("http://0.0.0.0:8501/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[::ffff:169.254.169.254]/latest/meta-data/", "metadata"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "metadata"),  # hex octets
    ("http://2852039166/", "metadata"),  # 169.254.169.254 as one number
    ("http://metadata.example/latest/meta-data/", "metadata"),  # DNS answers 169.254.169.254
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://aws6.example/", "metadata"),  # fd00:ec2::254
    ("http://100.100.100.200/latest/meta-data/", "metadata"),  # Alibaba Cloud
    ("http://169.254.1.1/", "link_local"),
    ("http://[fe80::1]/", "link_local"),
    ("http://[fe80::1%25eth0]/", "link_local"),
    ("http://10.0.0.5/", "private"),
    ("http://012.0.0.5/", "private"),  # octal 10.0.0.5
    ("https://intranet.example/", "private"),  # DNS answers 10.0.0.5
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.254/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://router.example/", "private"),
    ("http://mixed.example/", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://ula.example/", "private"),
    ("http://[64:ff9b::a00:5]/", "private"),  # NAT64 to 10.0.0.5
    ("http://cgnat.example/", "private"),  # 100.64.0.0/10
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://192.0.2.10/", "reserved"),  # documentation range
]


def test_the_table_is_long_enough() -> None:
    assert len(HOSTILE) >= 15
    assert {cat for _, cat in HOSTILE} == set(netguard.LABELS)


@pytest.mark.parametrize(("url", "cat"), HOSTILE)
def test_hostile_urls_are_refused_without_a_connection(net: NetTrap, url: str, cat: str) -> None:
    err = _refusal(url, OFF)
    assert err.kind == "blocked_address", err
    assert net.connects == []  # refused before connecting, not after
    assert netguard.LABELS[cat] in err.detail
    # The page says why, and what the setting would (or would not) change.
    assert "only fetches public web pages" in err.detail
    if cat in ("loopback", "private"):
        assert "set YOAKE_FETCH_ALLOW_PRIVATE=1" in err.detail
    else:
        assert "refused even with YOAKE_FETCH_ALLOW_PRIVATE=1" in err.detail


@pytest.mark.parametrize(("url", "cat"), [(u, c) for u, c in HOSTILE if c not in ("loopback", "private")])
def test_link_local_metadata_and_others_stay_refused_with_the_setting_on(net: NetTrap, url: str, cat: str) -> None:
    err = _refusal(url, ON)
    assert err.kind == "blocked_address" and net.connects == []
    assert netguard.LABELS[cat] in err.detail


def test_the_setting_opens_loopback_and_private_only() -> None:
    for addr in ("127.0.0.1", "::1", "10.0.0.5", "172.16.0.1", "192.168.0.10", "fd12::1", "100.64.0.1"):
        cat = netguard.category(ipaddress.ip_address(addr))
        assert not netguard.allowed(cat, False) and netguard.allowed(cat, True), addr
    for addr in ("169.254.169.254", "fe80::1", "fd00:ec2::254", "0.0.0.0", "224.0.0.1", "240.0.0.1", "::ffff:169.254.169.254"):
        cat = netguard.category(ipaddress.ip_address(addr))
        assert not netguard.allowed(cat, True), addr
    for addr in ("93.184.216.34", "2606:2800:220:1::1", "8.8.8.8", "::ffff:8.8.8.8"):
        assert netguard.category(ipaddress.ip_address(addr)) == "public", addr


def test_public_names_pass_the_check_without_connecting(net: NetTrap) -> None:
    targets = netguard.check("public.example", 443, allow_private=False)
    assert isinstance(targets, list) and [str(t.ip) for t in targets] == ["93.184.216.34", "2606:2800:220:1::1"]
    assert net.lookups == ["public.example"] and net.connects == []
    assert netguard.parse_ip_literal("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert netguard.parse_ip_literal("example.com") is None


@pytest.mark.parametrize("url", ["http://09.1.1.1/", "http://0x1ffffffff/", "http://256.1.1.1/", "http://[::ffff:zz]/"])
def test_malformed_numeric_hosts_are_refused_not_looked_up(net: NetTrap, url: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch(url, OFF)
    assert info.value.kind == "malformed_url"
    assert net.connects == [] and net.lookups == []


def test_unknown_names_fail_without_real_dns(net: NetTrap) -> None:
    with pytest.raises(FetchError) as info:
        fetch("http://nowhere.example/page", OFF)
    assert info.value.kind == "unknown_host" and net.lookups == ["nowhere.example"] and net.connects == []


def test_the_loopback_site_needs_the_setting(monkeypatch: pytest.MonkeyPatch, site: FixtureSite) -> None:
    port = site.server.server_address[1]
    net = trap(monkeypatch, allow={("127.0.0.1", port)})
    err = _refusal(site.url("/article.html"), OFF)
    assert err.kind == "blocked_address" and "YOAKE_FETCH_ALLOW_PRIVATE=1" in err.detail
    assert net.connects == []
    doc = load_url(site.url("/article.html"), ON)  # a laptop user's intranet page
    assert doc.title == "The Lighthouse Keepers of Kestrel Point"
    assert net.connects == [("127.0.0.1", port)]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/to-metadata", "http://169.254.169.254/latest/meta-data/"),
        ("/to-metadata-name", "http://metadata.google.internal/computeMetadata/v1/"),
    ],
)
def test_a_redirect_off_loopback_is_refused_at_the_redirect(
    monkeypatch: pytest.MonkeyPatch, site: FixtureSite, path: str, target: str
) -> None:
    port = site.server.server_address[1]
    net = trap(monkeypatch, allow={("127.0.0.1", port)}, dns={"metadata.google.internal": ["169.254.169.254"]})
    before = site.hits[path]
    err = _refusal(site.url(path), ON)  # the setting is on: loopback allowed, metadata never
    assert err.kind == "blocked_address"
    assert err.title == "The page redirects to an address that is not allowed."
    assert target in err.detail and "refused even with YOAKE_FETCH_ALLOW_PRIVATE=1" in err.detail
    assert net.connects == [("127.0.0.1", port)]  # only the first, loopback connection happened
    assert site.hits[path] == before + 1


def test_a_public_page_redirecting_to_the_private_network_is_refused(monkeypatch: pytest.MonkeyPatch, site: FixtureSite) -> None:
    """With the setting off, a public page that redirects to 10.x is refused at the redirect. The
    fixture site stands in for the public page: its loopback address is judged public here."""
    port = site.server.server_address[1]
    real = netguard.category
    monkeypatch.setattr(netguard, "category", lambda ip: "public" if str(ip) == "127.0.0.1" else real(ip))
    net = trap(monkeypatch, allow={("127.0.0.1", port)})
    err = _refusal(site.url("/to-private"), OFF)
    assert err.kind == "blocked_address" and err.title.startswith("The page redirects")
    assert "10.0.0.5 is a private-network address" in err.detail and "set YOAKE_FETCH_ALLOW_PRIVATE=1" in err.detail
    assert net.connects == [("127.0.0.1", port)]


def test_the_fetcher_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch, site: FixtureSite) -> None:
    """DNS rebinding: a name that answers loopback to the check and the metadata address to any later
    lookup. The fetcher must look it up once and connect to the address it checked."""
    port = site.server.server_address[1]
    answers = iter([["127.0.0.1"]])
    net = trap(monkeypatch, allow={("127.0.0.1", port)}, dns={"rebind.example": lambda: next(answers, ["169.254.169.254"])})
    page = fetch(f"http://rebind.example:{port}/article.html", ON)
    assert page.status == 200 and "Elsie Harrow" in page.html
    assert net.lookups == ["rebind.example"]  # one lookup: nothing asked DNS a second time
    assert net.connects == [("127.0.0.1", port)]
    assert site.hosts[-1] == f"rebind.example:{port}"  # the Host header still names the host
    # The same trap with the order reversed: the first answer is what counts.
    net2 = trap(monkeypatch, allow={("127.0.0.1", port)}, dns={"rebind2.example": ["169.254.169.254"]})
    with pytest.raises(FetchError):
        fetch(f"http://rebind2.example:{port}/article.html", ON)
    assert net2.connects == []


def test_every_redirect_hop_is_looked_up_and_pinned(monkeypatch: pytest.MonkeyPatch, site: FixtureSite) -> None:
    port = site.server.server_address[1]
    net = trap(monkeypatch, allow={("127.0.0.1", port)}, dns={"site.example": ["127.0.0.1"]})
    page = fetch(f"http://site.example:{port}/moved", ON)  # 301 to /article.html on the same host
    assert page.final_url == f"http://site.example:{port}/article.html"
    assert net.lookups == ["site.example", "site.example"]  # checked again at the redirect
    assert set(net.connects) == {("127.0.0.1", port)}


def test_settings_carry_the_limits_and_the_switch() -> None:
    cfg = Settings(
        values={
            "YOAKE_FETCH_ALLOW_PRIVATE": "1",
            "YOAKE_FETCH_TIMEOUT": "3",
            "YOAKE_FETCH_MAX_MB": "2.5",
            "YOAKE_FETCH_MAX_REDIRECTS": "2",
            "YOAKE_FETCH_MAX_PAGES": "40",
        }
    )
    limits = FetchLimits.from_settings(cfg)
    assert limits == FetchLimits(timeout=3.0, max_bytes=2_500_000, max_redirects=2, max_pages=40, allow_private=True)
    assert FetchLimits.from_settings(Settings()).allow_private is False
    for off in ("", "0", "false", "no", "off"):
        assert Settings(values={"YOAKE_FETCH_ALLOW_PRIVATE": off}).fetch_allow_private is False


def test_https_to_a_pinned_address_still_uses_the_host_name_for_sni_and_the_certificate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A TLS server on loopback with a self-signed certificate for secure.example: the fetcher connects
    to the checked address, sends the host name as SNI, and refuses the untrusted certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=secure.example",
            "-addext",
            "subjectAltName=DNS:secure.example",
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    names: list[str | None] = []
    ctx.sni_callback = lambda sock, name, _ctx: names.append(name)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            ctx.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            pass  # the client refuses the certificate mid-handshake
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    net = trap(monkeypatch, allow={("127.0.0.1", port)}, dns={"secure.example": ["127.0.0.1"]})
    try:
        with pytest.raises(FetchError) as info:
            fetch(f"https://secure.example:{port}/", ON)
    finally:
        thread.join(5)
        listener.close()
    assert info.value.kind == "ssl"  # verification is on: a self-signed certificate is refused
    assert names == ["secure.example"]  # SNI names the host, not the address
    assert net.connects == [("127.0.0.1", port)] and net.lookups == ["secure.example"]


def test_international_names_are_looked_up_in_their_dns_form(net: NetTrap) -> None:
    net.dns["xn--bcher-kva.example"] = ["10.0.0.9"]
    err = _refusal("http://bücher.example/", OFF)
    assert err.kind == "blocked_address" and "10.0.0.9" in err.detail
    assert net.lookups == ["xn--bcher-kva.example"] and net.connects == []


def test_fetch_errors_share_the_one_error_root() -> None:
    err = FetchError("blocked_address", "This address is not allowed.", "Because.")
    assert isinstance(err, YoakeError)
    described = describe_error(err)
    assert (described.kind, described.title, described.detail) == ("blocked_address", "This address is not allowed.", "Because.")
    assert str(err) == "This address is not allowed. Because."
