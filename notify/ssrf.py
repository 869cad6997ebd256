"""Keep outbound calls to subscriber-supplied URLs off our own network.

Push endpoints and webhook URLs come from residents' browsers and from operators' forms, so a
hostile one could point the notifier at the metadata service (169.254.169.254), Postgres on
loopback or a router on the private network. Every such URL is checked twice: the literal host
before any request (``check_url``), and every address a name resolves to (``resolve_url`` for
one-off validation, ``GuardedResolver`` inside aiohttp so the address actually connected to is the
address checked — a DNS answer that changes between a check and the connect cannot slip past).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import TypeAlias

from aiohttp import TCPConnector
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

__all__ = [
    "EndpointPolicy",
    "GuardedResolver",
    "UnsafeURLError",
    "check_address",
    "check_url",
    "guarded_connector",
    "resolve_url",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits; it reaches that IPv4 host.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeURLError(ValueError):
    """A URL the notifier must not call; ``reason`` says why, for logs and the operator."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refused {url[:200]!r}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EndpointPolicy:
    """What outbound URLs may reach.

    Parameters
    ----------
    allow_hosts
        Host names or IP literals (lower case) exempt from the address check, e.g. a push gateway
        inside the municipality's own network. They still need https.
    allow_insecure_loopback
        Allow loopback targets, and plain http to a literal loopback IP. For tests with a local
        push service; never in production.
    max_url_chars
        Longest URL accepted. Real push endpoints are a few hundred characters.
    resolve_timeout_s
        Longest a name lookup may take, in seconds.
    """

    allow_hosts: frozenset[str] = field(default_factory=frozenset)
    allow_insecure_loopback: bool = False
    max_url_chars: int = 2048
    resolve_timeout_s: float = 5.0


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address really reaches (mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _blocked_kind(ip: IPAddress) -> str | None:
    """Why an address is off limits, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        return _blocked_kind(inner)
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


def check_address(ip: IPAddress, policy: EndpointPolicy, *, url: str = "") -> None:
    """Raise ``UnsafeURLError`` unless the policy lets us connect to ``ip``."""
    kind = _blocked_kind(ip)
    if kind is None or (kind == "loopback" and policy.allow_insecure_loopback):
        return
    raise UnsafeURLError(url or str(ip), f"address {ip} is {kind}")


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def check_url(url: str, policy: EndpointPolicy) -> URL:
    """The parsed URL if its form and literal host are acceptable; no network access.

    A host name still has to pass ``resolve_url`` or ``GuardedResolver`` at connect time.
    """
    if len(url) > policy.max_url_chars:
        raise UnsafeURLError(url, f"longer than {policy.max_url_chars} characters")
    try:
        parsed = URL(url)
    except ValueError as exc:
        raise UnsafeURLError(url, f"not a URL ({exc})") from None
    host = parsed.raw_host
    if not parsed.absolute or not host:
        raise UnsafeURLError(url, "no host")
    if parsed.user is not None or parsed.password is not None:
        raise UnsafeURLError(url, "credentials in the URL")
    literal = _literal_ip(host)
    _check_scheme(parsed.scheme, literal, policy, url)
    if literal is not None and host.lower() not in policy.allow_hosts:
        check_address(literal, policy, url=url)
    return parsed


def _check_scheme(scheme: str, literal: IPAddress | None, policy: EndpointPolicy, url: str) -> None:
    if scheme == "https":
        return
    loopback_ok = policy.allow_insecure_loopback and literal is not None and literal.is_loopback
    if scheme == "http" and loopback_ok:
        return
    raise UnsafeURLError(url, f"scheme {scheme!r} is not https")


async def _lookup(host: str, port: int, family: int, timeout_s: float) -> list[tuple]:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        return await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)


def _checked_addresses(
    host: str, infos: list[tuple], policy: EndpointPolicy, url: str
) -> list[tuple[int, IPAddress]]:
    """(family, address) for every answer, or ``UnsafeURLError`` if any one is off limits.

    One bad answer refuses the whole name: a name that mixes public and private addresses is
    either misconfigured or an attempt to get lucky on the connect.
    """
    if not infos:
        raise UnsafeURLError(url, "name resolves to no address")
    exempt = host.lower() in policy.allow_hosts
    found: list[tuple[int, IPAddress]] = []
    for fam, _, _, _, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not exempt:
            check_address(ip, policy, url=url)
        found.append((fam, ip))
    return found


async def resolve_url(url: str, policy: EndpointPolicy) -> list[IPAddress]:
    """The addresses ``url`` would reach, once form, literal host and every answer pass.

    For validating a webhook or push endpoint when it is registered; the sender checks again
    at connect time through ``GuardedResolver``.
    """
    parsed = check_url(url, policy)
    host = parsed.raw_host or ""
    if _literal_ip(host) is not None:
        return [ipaddress.ip_address(host.split("%", 1)[0])]
    try:
        infos = await _lookup(host, parsed.port or 443, socket.AF_UNSPEC, policy.resolve_timeout_s)
    except TimeoutError:
        msg = f"name lookup took longer than {policy.resolve_timeout_s} s"
        raise UnsafeURLError(url, msg) from None
    except OSError as exc:
        raise UnsafeURLError(url, f"name lookup failed ({exc})") from None
    return list(dict.fromkeys(ip for _, ip in _checked_addresses(host, infos, policy, url)))


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses names resolving to addresses the policy forbids.

    aiohttp skips the resolver for IP literals, so ``check_url`` must run before the request.
    """

    def __init__(self, policy: EndpointPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve through the event loop's ``getaddrinfo``, refusing any forbidden answer.

        A failed or slow lookup raises ``OSError`` or ``TimeoutError`` as usual, which the
        sender treats as transient; only a forbidden answer raises ``UnsafeURLError``.
        """
        infos = await _lookup(host, port, family, self._policy.resolve_timeout_s)
        found = _checked_addresses(host, infos, self._policy, host)
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=fam,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for fam, ip in found
        ]

    async def close(self) -> None:
        """Nothing to release: lookups go through the event loop."""


def guarded_connector(
    policy: EndpointPolicy, *, limit: int = 100, limit_per_host: int = 0
) -> TCPConnector:
    """A connector whose name lookups go through ``GuardedResolver``."""
    return TCPConnector(
        resolver=GuardedResolver(policy), limit=limit, limit_per_host=limit_per_host
    )
