"""Fixtures for the attachment tests: real files of each kind (made here, byte for byte), people in two
organizations with API tokens, and a look at what is on disk in the test instance's attachment directory."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from portal.extensions import db
from portal.services import attachments as attachment_service
from portal.services.accounts import create_api_token


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid PNG (red pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PNG = png_bytes()
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
TEXT = b"Import log\nrow 3: value missing\n"
HTML = b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n"
SVG_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'
SVG_PLAIN = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>\n'
PE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 44
    + b"\x80\x00\x00\x00"
    + b"\x00" * 64
    + b"PE\x00\x00L\x01"
    + b"\x00" * 200
)
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
# Markup quoted inside a log: libmagic calls it HTML; under a .txt name it is kept, and served only as plain text.
TEXT_WITH_HTML = b"Error report\nThe page answered:\n<html><script>alert(1)</script></html>\n"


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


def fetch(client, url: str, **kwargs):
    """GET ``url`` and close the response (a download streams an open file until the response is closed)."""
    with client.get(url, **kwargs) as response:
        response.get_data()
    return response


def stored_files(app) -> set[Path]:
    """Every file under the attachment directory (temporary ones included)."""
    with app.app_context():
        base = attachment_service.storage_dir()
    return {p for p in base.rglob("*") if p.is_file()} if base.is_dir() else set()


@pytest.fixture
def people(make_org, make_user):
    org = make_org("Demo", "demo.test")
    other_org = make_org("Acme", "acme.test")
    return {
        "owner": make_user("customer", organization=org),
        "colleague": make_user("customer", organization=org),
        "stranger": make_user("customer", organization=other_org),
        "agent": make_user("agent"),
        "admin": make_user("admin"),
    }


@pytest.fixture
def tokens(people):
    found = {}
    for key, user in people.items():
        _, plain = create_api_token(user)
        found[key] = {"Authorization": f"Bearer {plain}"}
    db.session.commit()
    return found
