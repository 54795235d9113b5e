"""The Atom 1.0 and RSS 2.0 feeds parse as XML, carry the public facts only, escape every text and give
machine-readable instants."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from portal.models import ComponentState, utcnow
from tests.status.conftest import add_incident, add_update, add_window

ATOM = "{http://www.w3.org/2005/Atom}"


def _facts(components):
    incident = add_incident("Reports <fail> & time out", [(components["Reporting"], ComponentState.degraded)])
    add_update(incident, "We are on it: <script>alert(1)</script> \x07bell & more.")
    hidden = add_incident("Internal only", [(components["API"], ComponentState.degraded)], public=False)
    add_update(hidden, "Not for the public.")
    now = utcnow()
    add_window("Network work", now + timedelta(days=1), now + timedelta(days=1, hours=1), [components["API"]])
    return incident


def test_atom_feed(client, components):
    incident = _facts(components)
    response = client.get("/status/feed.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.data)
    assert root.tag == f"{ATOM}feed"
    assert root.find(f"{ATOM}id").text.endswith("/status")
    datetime.fromisoformat(root.find(f"{ATOM}updated").text)
    entries = root.findall(f"{ATOM}entry")
    titles = [e.find(f"{ATOM}title").text for e in entries]
    assert f"{incident.reference} Reports <fail> & time out: Investigating" in titles
    assert "Maintenance: Network work" in titles
    assert not any("Internal only" in t for t in titles)
    update = next(e for e in entries if "Reports" in e.find(f"{ATOM}title").text)
    assert update.find(f"{ATOM}summary").text == "We are on it: <script>alert(1)</script> bell & more."
    assert update.find(f"{ATOM}link").get("href").endswith(f"/status/incidents/{incident.id}")
    for entry in entries:
        assert entry.find(f"{ATOM}id").text and entry.find(f"{ATOM}updated").text.endswith("Z")
        datetime.fromisoformat(entry.find(f"{ATOM}updated").text)
    assert len({e.find(f"{ATOM}id").text for e in entries}) == len(entries)


def test_rss_feed(client, components):
    _facts(components)
    response = client.get("/status/feed.rss")
    assert response.status_code == 200 and response.mimetype == "application/rss+xml"
    root = ET.fromstring(response.data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel.find("title").text and channel.find("link").text.endswith("/status")
    items = channel.findall("item")
    assert len(items) == 2
    for item in items:
        assert parsedate_to_datetime(item.find("pubDate").text).tzinfo is not None
        assert item.find("guid").text
    assert "Not for the public." not in response.text
    assert "<script>" not in response.text  # escaped
