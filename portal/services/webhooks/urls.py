"""The URL guard for outgoing webhooks, and the one way a webhook leaves: a POST pinned to the address that was
checked.

A subscription URL is checked when it is saved (a clear form error) and again before every attempt (DNS may have
changed since): http or https only, https unless the host is allow-listed, and every address the host resolves to
must be a public one — loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10), the cloud
metadata addresses (169.254.169.254, fd00:ec2::254), multicast, reserved, unspecified, CGNAT (100.64/10) and the
IPv4-mapped IPv6 forms of those are refused. ``WEBHOOK_ALLOW_HOSTS`` (exact host names or CIDR
networks) lets development and internal receivers through.

The connection goes to the address that passed the check (no second lookup between check and connect: the Host
header and, for https, SNI and certificate checks use the name). Redirects are followed only up to
``WEBHOOK_MAX_REDIRECTS``, each target checked the same way; the body is POSTed again unchanged.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from flask import current_app

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
EXCERPT_BYTES = 512
REDIRECTS = (301, 302, 303, 307, 308)


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks (scheme, credentials, an internal address...): retrying cannot help."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # the checked addresses the connection goes to (IPv4 first), tried in turn


@dataclass
class Response:
    status: int
    excerpt: str
    retry_after: str | None
    duration_ms: int
    url: str  # the URL that answered (after redirects)


# --------------------------------------------------------------------------- the allow-list and the address rules


def _allow_list(entries: Iterable[str] | None = None) -> tuple[set[str], list]:
    hosts: set[str] = set()
    networks = []
    source = current_app.config.get("WEBHOOK_ALLOW_HOSTS", ()) if entries is None else entries
    if isinstance(source, str):
        source = source.split(",")
    for entry in source:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.strip("[]"))
    return hosts, networks


def forbidden_reason(address: Address) -> str | None:
    """Why ``address`` may not receive webhooks, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return forbidden_reason(address.ipv4_mapped)
    if address in _METADATA:
        return "a cloud metadata address"
    checks = (
        ("is_loopback", "a loopback address"),
        ("is_unspecified", "an unspecified address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute):
            return reason
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a shared (CGNAT) address"
    if not address.is_global:
        return "a non-public address"
    return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LookupError(f"{host} does not resolve ({exc.strerror or exc})") from None
    seen: dict[str, Address] = {}
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone
        seen.setdefault(text, ipaddress.ip_address(text))
    if not seen:
        raise LookupError(f"{host} does not resolve")
    return list(seen.values())


def check_url(url: str, *, allow: Iterable[str] | None = None) -> Target:
    """The target ``url`` names, if webhooks may go there: raises ``UnsafeUrl`` (with a message for the admin) or
    ``LookupError`` (the name does not resolve now: a send is retried, a save is refused)."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        raise UnsafeUrl("This is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("Use an https:// URL.")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Credentials in the URL are not allowed; authenticate with the signature instead.")
    if parts.fragment:
        raise UnsafeUrl("The URL may not have a #fragment.")
    port = port or (443 if parts.scheme == "https" else 80)
    hosts, networks = _allow_list(allow)
    addresses = resolve(host, port)
    host_allowed = host in hosts
    nets_allowed = bool(networks) and all(any(a in n for n in networks if a.version == n.version) for a in addresses)
    allowed = host_allowed or nets_allowed
    if parts.scheme != "https" and not allowed:
        raise UnsafeUrl("Use an https:// URL (plain http only for allow-listed development hosts).")
    if not allowed:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason:
                raise UnsafeUrl(f"{host} resolves to {reason} ({address}); webhooks only go to public addresses.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    ordered = sorted(addresses, key=lambda a: a.version)
    return Target(parts.scheme, host, port, path, tuple(str(a) for a in ordered))


def redact(url: str) -> str:
    """``url`` without any user:password part (for pages and logs)."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "(invalid URL)"


# --------------------------------------------------------------------------- the pinned POST


def _connect(addresses: tuple[str, ...], port: int, timeout: float) -> socket.socket:
    """A connection to the first of the checked ``addresses`` that answers (never a fresh lookup)."""
    error: OSError | None = None
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((address, port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = target.addresses

    def connect(self):
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext):
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._addresses = target.addresses

    def connect(self):
        sock = _connect(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _post_once(target: Target, body: bytes, headers: dict[str, str], timeout: float):
    if target.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(target, timeout, ssl.create_default_context())
    else:
        connection = _PinnedHTTPConnection(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES)
        return response.status, excerpt.decode("utf-8", "replace"), response.getheader("Retry-After"), response
    finally:
        connection.close()


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    check: Callable[[str], Target] = check_url,
    max_redirects: int | None = None,
) -> Response:
    """POST ``body`` to ``url`` (checked, pinned), following up to ``max_redirects`` redirects (each checked).
    Raises ``UnsafeUrl`` for a refused target, ``LookupError``/``OSError``/``http.client.HTTPException`` for network
    trouble."""
    limit = current_app.config.get("WEBHOOK_MAX_REDIRECTS", 3) if max_redirects is None else max_redirects
    started = time.monotonic()
    current = url
    for hop in range(limit + 1):
        target = check(current)
        status, excerpt, retry_after, response = _post_once(target, body, headers, timeout)
        location = response.getheader("Location")
        if status in REDIRECTS and location:
            if hop == limit:
                raise UnsafeUrl(f"More than {limit} redirects (last to {redact(urljoin(current, location))}).")
            current = urljoin(current, location)
            continue
        return Response(status, excerpt, retry_after, int((time.monotonic() - started) * 1000), current)
    raise AssertionError("unreachable")
