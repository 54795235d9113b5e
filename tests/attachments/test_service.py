"""The attachment service: types from the content, the allow-list, caps, random storage paths, display names, and
no file left behind by a rolled-back row."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from werkzeug.datastructures import FileStorage

from portal.extensions import db
from portal.models import Attachment
from portal.services import attachments as attachment_service
from portal.services import tickets as ticket_service
from portal.services.errors import ValidationFailed
from tests.attachments.conftest import (
    ELF,
    HTML,
    PDF,
    PE,
    PNG,
    SVG_PLAIN,
    SVG_SCRIPT,
    TEXT,
    TEXT_WITH_HTML,
    docx_bytes,
    stored_files,
    xlsx_bytes,
)


@pytest.fixture
def ticket(people, make_ticket):
    return make_ticket(people["owner"])


def _store(data: bytes, name: str, ticket, uploader):
    return attachment_service.store(data, name, uploader=uploader, ticket=ticket)


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (PNG, "screen.png", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "photo.jpg", "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00" + b"\x00" * 32, "a.gif", "image/gif"),
        (PDF, "report.pdf", "application/pdf"),
        (TEXT, "import.log", "text/plain"),
        (b"a,b,c\n1,2,3\n4,5,6\n", "rows.csv", "text/csv"),
        (b'{"rows": [1, 2, {"x": null}]}', "data.json", "application/json"),
        (b'<?xml version="1.0"?>\n<report><row/></report>\n', "report.xml", "text/xml"),
        (b"#!/bin/sh\necho hello\n", "fix.sh", "text/plain"),  # source code is kept as plain text
        (docx_bytes(), "letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (xlsx_bytes(), "sheet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (b"From: a@example.test\nTo: b@example.test\nSubject: hi\n\nbody\n", "mail.eml", "message/rfc822"),
        (TEXT_WITH_HTML, "error.txt", "text/plain"),
        # the claimed name does not matter: a PDF named .png is a PDF
        (PDF, "picture.png", "application/pdf"),
    ],
    ids=lambda v: v if isinstance(v, str) and "/" not in v else "",
)
def test_type_is_detected_from_the_content(ticket, people, data, name, expected):
    attachment = _store(data, name, ticket, people["owner"])
    assert attachment.content_type == expected
    assert attachment.size == len(data)
    path = attachment_service.path_of(attachment)
    assert path.read_bytes() == data


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (HTML, "page.html"),
        (HTML, "page.txt"),  # a whole page stays a page whatever it is called
        (HTML, "notes.png"),
        (SVG_SCRIPT, "logo.svg"),
        (SVG_SCRIPT, "logo.png"),
        (SVG_PLAIN, "logo.svg"),  # SVG even without a script
        (SVG_PLAIN, "drawing.xml"),
        (PE, "setup.exe"),
        (PE, "screenshot.png"),  # a renamed executable
        (ELF, "tool.png"),
        (ELF, "tool"),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 100, "app.jpg"),  # Mach-O
        (b"#!/usr/bin/env node\nconsole.log(1)\n", "run.txt"),  # JavaScript
        (b"function f() { return 1; }\n", "app.js"),  # JavaScript by name (libmagic sees plain text)
        (TEXT, "readme.html"),  # plain text that would open as a page once saved
        (b"", "empty.txt"),
        (bytes(range(256)) * 8, "blob.bin"),  # not on the allow-list
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_dangerous_or_unknown_types_are_refused(app, ticket, people, data, name):
    before = stored_files(app)
    with pytest.raises(ValidationFailed) as refused:
        _store(data, name, ticket, people["owner"])
    assert "attachments" in refused.value.fields
    assert refused.value.message
    assert db.session.query(Attachment).count() == 0
    assert stored_files(app) == before  # not even a temporary file


def test_the_allow_list_is_a_setting(app, ticket, people, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_TYPES", "image/png")
    with pytest.raises(ValidationFailed, match="application/pdf"):
        _store(PDF, "report.pdf", ticket, people["owner"])
    assert _store(PNG, "a.png", ticket, people["owner"]).content_type == "image/png"
    monkeypatch.setitem(app.config, "ATTACHMENT_TYPES", "image/png,text/html,image/svg+xml")  # never, even listed
    with pytest.raises(ValidationFailed):
        _store(HTML, "page.html", ticket, people["owner"])
    with pytest.raises(ValidationFailed):
        _store(SVG_PLAIN, "logo.svg", ticket, people["owner"])


def test_size_cap_reads_at_most_one_byte_more(app, ticket, people, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 1000)
    assert _store(b"x" * 1000, "ok.txt", ticket, people["owner"]).size == 1000
    with pytest.raises(ValidationFailed, match="larger than"):
        _store(b"x" * 1001, "big.txt", ticket, people["owner"])

    class Counting(io.BytesIO):
        read_total = 0

        def read(self, size=-1):
            data = super().read(size)
            Counting.read_total += len(data)
            return data

    stream = Counting(b"y" * 50_000)
    with pytest.raises(ValidationFailed):
        attachment_service.store_uploads(
            [FileStorage(stream, filename="huge.txt")], uploader=people["owner"], ticket=ticket
        )
    assert Counting.read_total == 1001


def test_count_and_total_caps(app, ticket, people, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_FILES", 2)
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_TOTAL_BYTES", 100)
    three = [FileStorage(io.BytesIO(b"hello\n"), filename=f"{i}.txt") for i in range(3)]
    assert "at most 2 files" in attachment_service.check_uploads(three)["attachments"]
    with pytest.raises(ValidationFailed, match="at most 2 files"):
        attachment_service.store_uploads(three, uploader=people["owner"], ticket=ticket)
    heavy = [FileStorage(io.BytesIO(b"z" * 60 + b"\n"), filename=f"{i}.txt") for i in range(2)]
    assert "in all" in attachment_service.check_uploads(heavy)["attachments"]
    with pytest.raises(ValidationFailed, match="in all"):
        attachment_service.store_uploads(heavy, uploader=people["owner"], ticket=ticket)
    db.session.rollback()
    assert db.session.query(Attachment).count() == 0
    # check_uploads rewinds: the same files can then be stored whole
    two = [FileStorage(io.BytesIO(b"hello\n"), filename=f"{i}.txt") for i in range(2)]
    assert attachment_service.check_uploads(two) == {}
    stored = attachment_service.store_uploads(two, uploader=people["owner"], ticket=ticket)
    assert [a.size for a in stored] == [6, 6]


def test_an_empty_file_input_is_no_file(ticket, people):
    empty = FileStorage(io.BytesIO(b""), filename="")
    assert attachment_service.check_uploads([empty]) == {}
    assert attachment_service.store_uploads([empty], uploader=people["owner"], ticket=ticket) == []


def test_storage_path_is_random_and_outside_static_the_name_never_touches_disk(app, ticket, people):
    names = ["../../etc/passwd.txt", "..\\..\\win.ini.txt", "/abs/path/report.txt", "a\x00b\r\nc.txt"]
    rows = [_store(TEXT, name, ticket, people["owner"]) for name in names]
    db.session.commit()
    base = attachment_service.storage_dir().resolve()
    static = os.path.realpath(app.static_folder)
    paths = set()
    for row in rows:
        path = attachment_service.path_of(row)
        assert base in path.parents
        assert not str(path).startswith(static)
        assert row.storage_path.count("/") == 2 and len(row.storage_path.rsplit("/", 1)[1]) == 32
        assert all(part not in row.storage_path for part in ("passwd", "win", "report", "..", "abs"))
        paths.add(row.storage_path)
        assert len(row.token) == 43
    assert len(paths) == len(rows)
    assert [r.filename for r in rows] == ["passwd.txt", "win.ini.txt", "report.txt", "ab c.txt"]
    on_disk = {p.name for p in stored_files(app)}
    assert not any(name in on_disk for name in ("passwd.txt", "win.ini.txt", "report.txt"))


def test_display_name_is_one_short_line():
    clean = attachment_service.clean_filename
    assert clean("  quarterly\treport\u202e.pdf  ") == "quarterly report.pdf"
    assert clean("") == "attachment"
    assert clean("...") == "attachment"
    long_name = "x" * 400 + ".xlsx"
    assert clean(long_name).endswith(".xlsx") and len(clean(long_name)) == attachment_service.NAME_MAX
    assert "\n" not in clean("a\nb.txt")


def test_rollback_removes_the_file(app, ticket, people):
    before = stored_files(app)
    row = _store(TEXT, "notes.txt", ticket, people["owner"])
    path = attachment_service.path_of(row)
    assert path.is_file()
    db.session.rollback()
    assert not path.exists()
    assert stored_files(app) == before


def test_commit_keeps_the_file_and_a_later_rollback_does_not_touch_it(app, ticket, people):
    row = _store(TEXT, "notes.txt", ticket, people["owner"])
    path = attachment_service.path_of(row)
    db.session.commit()
    db.session.rollback()
    assert path.is_file()


def test_savepoint_rollback_removes_only_its_files(app, ticket, people):
    outer = _store(TEXT, "outer.txt", ticket, people["owner"])
    savepoint = db.session.begin_nested()
    inner = _store(TEXT, "inner.txt", ticket, people["owner"])
    inner_path, outer_path = attachment_service.path_of(inner), attachment_service.path_of(outer)
    savepoint.rollback()
    assert not inner_path.exists()
    assert outer_path.is_file()
    db.session.commit()
    assert outer_path.is_file()


def test_released_savepoint_then_outer_rollback_removes_the_file(app, ticket, people):
    savepoint = db.session.begin_nested()
    row = _store(TEXT, "inner.txt", ticket, people["owner"])
    path = attachment_service.path_of(row)
    savepoint.commit()
    assert path.is_file()
    db.session.rollback()
    assert not path.exists()


def test_closing_the_session_without_commit_removes_the_file(app, ticket, people):
    row = _store(TEXT, "notes.txt", ticket, people["owner"])
    path = attachment_service.path_of(row)
    db.session.close()
    assert not path.exists()


def test_a_failed_flush_leaves_no_file(app, ticket, people):
    first = _store(TEXT, "a.txt", ticket, people["owner"])
    db.session.commit()
    before = stored_files(app)
    original = attachment_service.secrets.token_urlsafe
    attachment_service.secrets.token_urlsafe = lambda n: first.token  # a duplicate token: the flush fails
    try:
        with pytest.raises(Exception):  # noqa: B017 - the database's integrity error, whatever its class
            _store(TEXT, "b.txt", ticket, people["owner"])
    finally:
        attachment_service.secrets.token_urlsafe = original
    db.session.rollback()
    assert stored_files(app) == before


def test_sweep_removes_orphans_only(app, ticket, people):
    attachment_service.sweep_orphans(older_than=timedelta(0))  # files of earlier tests lost their rows at cleanup
    kept = _store(TEXT, "kept.txt", ticket, people["owner"])
    db.session.commit()
    base = attachment_service.storage_dir()
    orphan = base / "zz" / "zz" / ("z" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a crash")
    stale_temp = base / ".upload-crashed"
    stale_temp.write_bytes(b"partial")
    fresh = base / ".upload-in-progress"
    fresh.write_bytes(b"being written")
    old = (attachment_service.utcnow() - timedelta(hours=2)).timestamp()
    for path in (orphan, stale_temp, attachment_service.path_of(kept)):
        os.utime(path, (old, old))
    assert attachment_service.sweep_orphans(older_than=timedelta(hours=1)) == 2
    assert not orphan.exists() and not stale_temp.exists()
    assert fresh.exists() and attachment_service.path_of(kept).is_file()
    fresh.unlink()


def test_for_events_is_one_query(ticket, people):
    event = ticket_service.reply_to_ticket(people["owner"], ticket, "here are two files")
    db.session.flush()
    first_event = attachment_service.creation_event(ticket)
    a = attachment_service.store(TEXT, "a.txt", uploader=people["owner"], ticket=ticket, event=first_event)
    b = attachment_service.store(PNG, "b.png", uploader=people["owner"], ticket=ticket, event=event)
    c = attachment_service.store(PDF, "c.pdf", uploader=people["owner"], ticket=ticket, event=event)
    db.session.commit()
    ids = [first_event.id, event.id, 999_999]
    statements = []

    def count(*_args):
        statements.append(1)

    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        found = attachment_service.for_events(ids)
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert [x.id for x in found[first_event.id]] == [a.id]
    assert [x.id for x in found[event.id]] == [b.id, c.id]
    assert 999_999 not in found
    assert attachment_service.for_events([]) == {}


def test_store_for_mail_inline_and_quarantine(app, people):
    from portal.models import InboundMessage, InboundSource

    inbound = InboundMessage(source=list(InboundSource)[0], from_address="x@example.test", subject="s")
    db.session.add(inbound)
    db.session.flush()
    row = attachment_service.store(
        PNG, "logo.png", uploader=None, inbound=inbound, inline=True, content_id="<logo\r\n@mail>"
    )
    db.session.commit()
    assert row.ticket_id is None and row.inbound_id == inbound.id and row.inline
    assert row.content_id == "<logo @mail>"
    assert attachment_service.can_read(people["admin"], row)
    assert not attachment_service.can_read(people["agent"], row)
    assert not attachment_service.can_read(people["owner"], row)


def test_commit_with_a_savepoint_still_open_keeps_the_files(app, ticket, people):
    db.session.begin_nested()
    row = _store(TEXT, "inner.txt", ticket, people["owner"])
    path = attachment_service.path_of(row)
    db.session.commit()
    db.session.rollback()
    assert path.is_file()
    assert db.session.get(Attachment, row.id) is not None


def test_sweep_command_and_hourly_job(app, runner):
    from workers import periodic

    attachment_service.sweep_orphans(older_than=timedelta(0))  # files of earlier tests lost their rows at cleanup
    base = attachment_service.storage_dir()
    orphan = base / "yy" / "yy" / ("y" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    old = (attachment_service.utcnow() - timedelta(hours=3)).timestamp()
    os.utime(orphan, (old, old))
    result = runner.invoke(args=["attachments", "sweep", "--hours", "4"])
    assert result.exit_code == 0 and "Removed 0 orphaned files." in result.output
    result = runner.invoke(args=["attachments", "sweep", "--hours", "2"])
    assert result.exit_code == 0 and "Removed 1 orphaned file." in result.output
    assert not orphan.exists()
    assert (periodic.attachment_sweep, 3600, "sweeps") in periodic.SCHEDULE
    assert periodic.attachment_sweep() == 0
