"""The client's address (portal.client.client_ip): X-Forwarded-For counts only when the direct peer is a trusted
proxy, read right to left skipping trusted hops; garbage never becomes an address."""

from __future__ import annotations

import pytest

from portal.client import client_ip


@pytest.fixture
def address(app, monkeypatch):
    def ask(peer: str, forwarded: str | None = None, trusted: str = "") -> str:
        monkeypatch.setitem(app.config, "TRUSTED_PROXIES", trusted)
        headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
        with app.test_request_context("/", headers=headers, environ_base={"REMOTE_ADDR": peer}):
            return client_ip()

    return ask


def test_without_trusted_proxies_the_peer_is_the_client(address):
    assert address("203.0.113.7") == "203.0.113.7"
    assert address("203.0.113.7", "198.51.100.1") == "203.0.113.7"  # anyone can send the header


def test_an_untrusted_peers_forwarded_header_is_ignored(address):
    assert address("203.0.113.7", "198.51.100.1", trusted="10.0.0.1") == "203.0.113.7"
    assert address("10.0.0.2", "198.51.100.1", trusted="10.0.0.1") == "10.0.0.2"


def test_a_trusted_peers_header_is_read_right_to_left_skipping_trusted_hops(address):
    trusted = "10.0.0.1, 10.0.0.2"
    assert address("10.0.0.1", "198.51.100.1", trusted=trusted) == "198.51.100.1"
    # The client typed its own "1.2.3.4" on the left; the proxies appended what they saw: the real client.
    assert address("10.0.0.1", "1.2.3.4, 198.51.100.1, 10.0.0.2", trusted=trusted) == "198.51.100.1"
    assert address("10.0.0.1", " 198.51.100.1 ,10.0.0.2 ", trusted=trusted) == "198.51.100.1"


def test_cidr_networks_and_ipv6(address):
    trusted = "10.0.0.0/8, 192.168.0.0/16, fd00::/8"
    assert address("10.20.30.40", "198.51.100.9, 192.168.1.1, 10.1.1.1", trusted=trusted) == "198.51.100.9"
    assert address("fd00::1", "2001:db8::5", trusted=trusted) == "2001:db8::5"
    assert address("11.0.0.1", "198.51.100.9", trusted=trusted) == "11.0.0.1"  # outside the networks
    assert address("10.0.0.1", "2001:DB8:0:0::5", trusted=trusted) == "2001:db8::5"  # normalised


def test_garbage_in_the_header_falls_back_to_the_proxy(address):
    trusted = "10.0.0.0/8"
    assert address("10.0.0.1", "not-an-address", trusted=trusted) == "10.0.0.1"
    assert address("10.0.0.1", "198.51.100.1, <script>", trusted=trusted) == "10.0.0.1"
    assert address("10.0.0.1", "999.1.1.1", trusted=trusted) == "10.0.0.1"
    assert address("10.0.0.1", ", ,", trusted=trusted) == "10.0.0.1"  # no hops at all
    assert address("10.0.0.1", "", trusted=trusted) == "10.0.0.1"
    assert address("10.0.0.1", trusted=trusted) == "10.0.0.1"  # no header


def test_every_hop_trusted_gives_the_leftmost(address):
    assert address("10.0.0.1", "10.0.0.3, 10.0.0.2", trusted="10.0.0.0/8") == "10.0.0.3"


def test_outside_a_request_there_is_no_address(app):
    assert client_ip() == ""
