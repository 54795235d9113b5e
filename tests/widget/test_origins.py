"""Exact origins: what an admin may save, and how it is normalized."""

from __future__ import annotations

import pytest

from portal.services.errors import ValidationFailed
from portal.services.widget.sites import allows, normalize_origin, parse_origins


@pytest.mark.parametrize(
    ("given", "saved"),
    [
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("  https://app.example.com  ", "https://app.example.com"),
    ],
)
def test_origins_are_normalized(given, saved):
    assert normalize_origin(given) == saved


@pytest.mark.parametrize(
    "bad",
    [
        "https://*.example.com",
        "*",
        "app.example.com",
        "ftp://app.example.com",
        "javascript:alert(1)",
        "https://app.example.com/path",
        "https://app.example.com?x=1",
        "https://app.example.com#top",
        "https://user@app.example.com",
        "https://app.example.com:99999",
        "https://app.example.com:abc",
        "https://app..example.com",
        "https://-bad-.example.com",
        "https://app example.com",
        "https://",
        "null",
    ],
)
def test_bad_origins_are_refused(bad):
    with pytest.raises(ValueError):
        normalize_origin(bad)


def test_parse_origins_names_the_bad_line_and_drops_repeats():
    assert parse_origins("https://a.example\n\nhttps://A.example:443\nhttp://localhost:5001") == [
        "https://a.example",
        "http://localhost:5001",
    ]
    with pytest.raises(ValidationFailed) as refused:
        parse_origins("https://a.example\nhttps://*.example")
    assert "Line 2" in refused.value.fields["origins"]


def test_allows_is_exact_not_a_substring_or_suffix_match():
    class Site:
        origins = ["https://app.example.com"]

    assert allows(Site, "https://app.example.com")
    assert allows(Site, "https://APP.example.com:443")
    for other in (
        "https://app.example.com.evil.test",
        "https://evil-app.example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://sub.app.example.com",
        "null",
        "",
        None,
    ):
        assert not allows(Site, other), other
