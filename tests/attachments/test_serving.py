"""Files are served inert: the detected type (text always as plain UTF-8 text), nosniff, a sandboxing CSP, a
download unless a raster image, private caching with an ETag; the timeline lists them escaped, previews only
raster images, and loads the files of all events with one query."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

import pytest
from sqlalchemy import event as sa_event

from portal.extensions import db
from portal.services import attachments as attachment_service
from portal.services import tickets as ticket_service
from tests.attachments.conftest import PDF, PNG, TEXT_WITH_HTML, fetch
from tests.conftest import login


@pytest.fixture(autouse=True)
def _request(app):
    with app.test_request_context():  # links as a page builds them (relative)
        yield


@pytest.fixture
def ticket(people, make_ticket):
    return make_ticket(people["owner"])


def _attach(ticket, people, data, name, event=None):
    event = event or attachment_service.creation_event(ticket)
    row = attachment_service.store(data, name, uploader=people["owner"], ticket=ticket, event=event)
    db.session.commit()
    return row


def _url(row):
    return attachment_service.download_url(row)


def test_text_with_html_is_plain_text_download_nosniff_sandboxed(client, people, ticket):
    row = _attach(ticket, people, TEXT_WITH_HTML, "error.txt")
    assert login(client, people["owner"]).status_code == 302
    response = fetch(client, _url(row))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["Content-Disposition"] == "attachment; filename=\"error.txt\"; filename*=UTF-8''error.txt"
    assert response.headers["Cache-Control"] == "private, max-age=0"
    assert response.data == TEXT_WITH_HTML


def test_raster_image_inline_pdf_attachment_and_etag(client, people, ticket):
    image = _attach(ticket, people, PNG, "screen.png")
    pdf = _attach(ticket, people, PDF, 'Bericht für Q3 "final".pdf')
    assert login(client, people["owner"]).status_code == 302
    shown = fetch(client, _url(image))
    assert shown.headers["Content-Type"] == "image/png"
    assert shown.headers["Content-Disposition"].startswith("inline; ")
    assert shown.headers["ETag"] == f'"{hashlib.sha256(PNG).hexdigest()}"'
    again = fetch(client, _url(image), headers={"If-None-Match": shown.headers["ETag"]})
    assert again.status_code == 304
    download = fetch(client, _url(pdf))
    assert download.headers["Content-Type"] == "application/pdf"
    name = 'Bericht für Q3 "final".pdf'
    assert download.headers["Content-Disposition"] == (
        f"attachment; filename=\"Bericht f_r Q3 _final_.pdf\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    assert download.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_timeline_lists_files_escaped_with_previews_only_for_images(client, people, ticket):
    evil = '<img src=x onerror="alert(1)">.png'
    image = _attach(ticket, people, PNG, evil)
    text = _attach(ticket, people, TEXT_WITH_HTML, "<b>log<i>.txt")
    assert login(client, people["owner"]).status_code == 302
    page = client.get(f"/portal/tickets/{ticket.reference}").text
    assert "<img src=x" not in page and "<b>log" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;.png" in page
    assert "&lt;b&gt;log&lt;i&gt;.txt" in page
    previews = re.findall(r'<img src="([^"]+)" alt="([^"]*)"', page)
    assert previews == [(_url(image), "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;.png")]
    assert f'href="{_url(text)}"' in page
    assert f"image/png, {len(PNG)} bytes" in page


def test_timeline_loads_files_with_one_query(client, people, ticket, app):
    for i in range(6):
        event = ticket_service.reply_to_ticket(people["owner"], ticket, f"reply {i}")
        db.session.flush()
        attachment_service.store(PDF, f"r{i}.pdf", uploader=people["owner"], ticket=ticket, event=event)
    db.session.commit()
    assert login(client, people["agent"]).status_code == 302
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = client.get(f"/agent/tickets/{ticket.reference}").text
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert all(f"r{i}.pdf" in page for i in range(6))
    assert len([s for s in statements if "FROM attachments" in s]) == 1


def test_missing_file_on_disk_is_404(client, people, ticket):
    row = _attach(ticket, people, PDF, "gone.pdf")
    attachment_service.path_of(row).unlink()
    assert login(client, people["owner"]).status_code == 302
    assert fetch(client, _url(row)).status_code == 404
