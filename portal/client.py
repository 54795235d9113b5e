"""Who is asking: the client's address (forwarded headers trusted only from configured proxies) and the
request id every log line, error page and audit row carries."""

from __future__ import annotations

import ipaddress
import secrets
from functools import lru_cache

from flask import current_app, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"


@lru_cache(maxsize=32)
def _networks(setting: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for part in setting.split(","):
        part = part.strip()
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return tuple(networks)


def _trusted(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def is_trusted_proxy(address: str) -> bool:
    """``address`` is one of the configured TRUSTED_PROXIES (whose forwarded headers we believe)."""
    return _trusted(address, _networks(current_app.config.get("TRUSTED_PROXIES") or ""))


def client_ip() -> str:
    """The address of the client that sent this request. ``X-Forwarded-For`` is read right to left, skipping the
    configured trusted proxies, and only when the direct peer is one of them; a client cannot choose its own
    address by sending the header."""
    if not has_request_context():
        return ""
    peer = request.remote_addr or ""
    networks = _networks(current_app.config.get("TRUSTED_PROXIES") or "")
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: the proxy itself is the best we know
    return hops[0] if hops else peer


def request_id() -> str:
    """This request's id: random, made on first use, sent back in ``X-Request-Id``."""
    if not has_request_context():
        return ""
    rid = g.get("request_id")
    if rid is None:
        rid = secrets.token_hex(8)
        g.request_id = rid
    return rid
