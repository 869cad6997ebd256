"""Endpoint URLs cannot reach loopback, private, link-local or other internal addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import aiohttp
import pytest

from notify.ssrf import (
    EndpointPolicy,
    UnsafeURLError,
    check_address,
    check_url,
    guarded_connector,
    resolve_url,
)

STRICT = EndpointPolicy()
LOOPBACK = EndpointPolicy(allow_insecure_loopback=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://push.example.net/x", "not https"),
        ("ftp://push.example.net/x", "not https"),
        ("https://10.0.0.1/x", "private"),
        ("https://192.168.1.1/x", "private"),
        ("https://172.16.0.1/x", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://127.0.0.1:5432/", "loopback"),
        ("https://[::1]/x", "loopback"),
        ("https://[::ffff:127.0.0.1]/x", "loopback"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "link-local"),
        ("https://[fe80::1]/x", "link-local"),
        ("https://[fd00::1]/x", "private"),
        ("https://0.0.0.0/x", "unspecified"),
        ("https://224.0.0.251/x", "multicast"),
        ("https://100.64.0.1/x", "not globally routable"),
        ("https://user:pw@push.example.net/x", "credentials"),
        ("https:///x", "no host"),
        ("/relative/path", "no host"),
        ("https://push.example.net/" + "a" * 3000, "longer than"),
    ],
)
def test_unsafe_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURLError, match=reason):
        check_url(url, STRICT)


@pytest.mark.parametrize(
    "url",
    [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
        "https://8.8.8.8/x",
        "https://[2001:4860:4860::8888]/x",
    ],
)
def test_public_https_urls_pass(url: str) -> None:
    assert str(check_url(url, STRICT)) == url


def test_insecure_loopback_is_only_for_literal_loopback() -> None:
    check_url("http://127.0.0.1:8080/push/x", LOOPBACK)
    check_url("https://[::1]:8443/push/x", LOOPBACK)
    for url in ("http://10.0.0.1/x", "http://push.example.net/x", "http://localhost:8080/x"):
        with pytest.raises(UnsafeURLError):
            check_url(url, LOOPBACK)
    with pytest.raises(UnsafeURLError, match="private"):
        check_url("https://10.0.0.1/x", LOOPBACK)


def test_allow_hosts_exempts_the_address_but_not_the_scheme() -> None:
    policy = EndpointPolicy(allow_hosts=frozenset({"10.0.0.1", "127.0.0.1"}))
    check_url("https://10.0.0.1/push", policy)
    check_url("https://127.0.0.1/push", policy)
    with pytest.raises(UnsafeURLError, match="not https"):
        check_url("http://127.0.0.1/push", policy)
    with pytest.raises(UnsafeURLError, match="private"):
        check_url("https://10.0.0.2/push", policy)


def test_check_address_names_the_kind() -> None:
    with pytest.raises(UnsafeURLError, match=r"address 169\.254\.169\.254 is link-local"):
        check_address(ipaddress.ip_address("169.254.169.254"), STRICT)
    check_address(ipaddress.ip_address("::1"), LOOPBACK)


async def test_names_resolving_to_loopback_are_refused(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["localtest.example.net"] = ["127.0.0.1"]
    fake_dns["v6.example.net"] = ["::1"]
    for url in ("https://localhost/x", "https://localtest.example.net/", "https://v6.example.net/"):
        with pytest.raises(UnsafeURLError, match="loopback"):
            await resolve_url(url, STRICT)
    assert ipaddress.ip_address("127.0.0.1") in await resolve_url("https://localhost/x", LOOPBACK)
    exempt = EndpointPolicy(allow_hosts=frozenset({"localhost"}))
    assert await resolve_url("https://localhost/x", exempt)


async def test_literal_addresses_need_no_lookup() -> None:
    assert await resolve_url("https://8.8.8.8/x", STRICT) == [ipaddress.ip_address("8.8.8.8")]
    with pytest.raises(UnsafeURLError, match="link-local"):
        await resolve_url("https://169.254.169.254/x", STRICT)


@pytest.fixture
async def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Answers for made-up names, so no test depends on the network."""
    answers: dict[str, list[str]] = {}
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str, port: Any, **kwargs: Any) -> list[tuple]:
        if host not in answers:
            return await real(host, port, **kwargs)
        if answers[host] == ["hang"]:
            await asyncio.Event().wait()
        if not answers[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_info(ip, port) for ip in answers[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return answers


def _info(ip: str, port: int) -> tuple:
    if ":" in ip:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))


async def test_one_private_answer_refuses_the_whole_name(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["push.example.net"] = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    fake_dns["rebind.example.net"] = ["93.184.215.14", "10.1.2.3"]
    fake_dns["metadata.example.net"] = ["fd00:ec2::254"]
    assert len(await resolve_url("https://push.example.net/x", STRICT)) == 2
    with pytest.raises(UnsafeURLError, match=r"10\.1\.2\.3 is private"):
        await resolve_url("https://rebind.example.net/x", STRICT)
    with pytest.raises(UnsafeURLError, match="private"):
        await resolve_url("https://metadata.example.net/x", STRICT)


async def test_lookups_are_bounded_and_failures_explained(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["slow.example.net"] = ["hang"]
    fake_dns["nxdomain.example.net"] = []
    quick = EndpointPolicy(resolve_timeout_s=0.05)
    with pytest.raises(UnsafeURLError, match=r"longer than 0\.05 s"):
        await resolve_url("https://slow.example.net/x", quick)
    with pytest.raises(UnsafeURLError, match="name lookup failed"):
        await resolve_url("https://nxdomain.example.net/x", quick)


async def test_the_connector_refuses_what_the_name_resolves_to(
    fake_dns: dict[str, list[str]],
) -> None:
    fake_dns["internal.example.net"] = ["192.168.0.10"]
    async with aiohttp.ClientSession(connector=guarded_connector(STRICT)) as session:
        for url in ("https://internal.example.net/x", "https://localhost:9/x"):
            with pytest.raises(UnsafeURLError, match=r"private|loopback"):
                await session.post(url, data=b"x")
