"""Upload points: the customer's new-ticket and reply forms, the agent's htmx composer and the API (multipart). A
refused file loses nothing typed and stores nothing; files are kept with the change they belong to."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Attachment, EventKind, Ticket, TicketEvent
from portal.services import attachments as attachment_service
from tests.attachments.conftest import HTML, PDF, PE, PNG, TEXT, stored_files
from tests.conftest import csrf_from, login

HX = {"HX-Request": "true"}


@pytest.fixture
def small_caps(app, monkeypatch):
    for key, value in {
        "ATTACHMENT_MAX_BYTES": 1000,
        "ATTACHMENT_MAX_FILES": 2,
        "ATTACHMENT_MAX_TOTAL_BYTES": 1500,
    }.items():
        monkeypatch.setitem(app.config, key, value)


def _new_ticket_form(client, files, subject="Export breaks"):
    page = client.get("/portal/tickets/new")
    assert 'enctype="multipart/form-data"' in page.text
    assert re.search(
        r'<input[^>]*type="file"[^>]*name="attachments"|<input[^>]*name="attachments"[^>]*type="file"', page.text
    )
    data = {
        "csrf_token": csrf_from(page.text),
        "subject": subject,
        "description": "The export stops with the error in the attached log.",
        "category": "data",
        "priority": "medium",
        "attachments": files,
    }
    return client.post("/portal/tickets/new", data=data, content_type="multipart/form-data")


def test_customer_files_a_ticket_with_files(app, client, people):
    assert login(client, people["owner"]).status_code == 302
    response = _new_ticket_form(client, [(io.BytesIO(TEXT), "export.log"), (io.BytesIO(PNG), "screen shot.png")])
    assert response.status_code == 303, response.text
    ticket = db.session.scalar(select(Ticket).order_by(Ticket.id.desc()))
    rows = list(db.session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)))
    assert [(r.filename, r.content_type, r.uploader_id) for r in rows] == [
        ("export.log", "text/plain", people["owner"].id),
        ("screen shot.png", "image/png", people["owner"].id),
    ]
    created = db.session.get(TicketEvent, rows[0].event_id)
    assert created.kind is EventKind.created and created.ticket_id == ticket.id
    page = client.get(response.headers["Location"])
    assert "export.log" in page.text and "screen shot.png" in page.text
    assert attachment_service.path_of(rows[0]).read_bytes() == TEXT


def test_a_refused_file_keeps_the_form_text_and_stores_nothing(app, client, people):
    assert login(client, people["owner"]).status_code == 302
    before = stored_files(app)
    response = _new_ticket_form(
        client, [(io.BytesIO(TEXT), "ok.txt"), (io.BytesIO(PE), "holiday.png")], subject="Typed subject stays"
    )
    assert response.status_code == 422
    assert "holiday.png is not accepted" in response.text
    assert 'value="Typed subject stays"' in response.text
    assert "The export stops with the error in the attached log." in response.text
    assert db.session.scalar(select(Ticket)) is None
    assert db.session.scalar(select(Attachment)) is None
    assert stored_files(app) == before


def test_a_file_one_byte_over_the_cap_is_refused_with_the_text_kept(app, client, people, small_caps):
    assert login(client, people["owner"]).status_code == 302
    response = _new_ticket_form(client, [(io.BytesIO(b"a" * 1001), "big.txt")], subject="Over the cap")
    assert response.status_code == 422
    assert "big.txt is larger than" in response.text
    assert 'value="Over the cap"' in response.text
    assert db.session.scalar(select(Ticket)) is None
    exactly = _new_ticket_form(client, [(io.BytesIO(b"a" * 1000), "fits.txt")])
    assert exactly.status_code == 303
    assert db.session.scalar(select(Attachment.size)) == 1000


def test_count_cap_on_the_form(app, client, people, small_caps):
    assert login(client, people["owner"]).status_code == 302
    files = [(io.BytesIO(b"x\n"), f"{i}.txt") for i in range(3)]
    response = _new_ticket_form(client, files, subject="Three files")
    assert response.status_code == 422
    assert "at most 2 files" in response.text and 'value="Three files"' in response.text
    total = _new_ticket_form(client, [(io.BytesIO(b"x" * 900), "a.txt"), (io.BytesIO(b"y" * 900), "b.txt")])
    assert total.status_code == 422 and "in all" in total.text


def test_the_form_shows_the_limits_and_loads_the_script(client, people):
    assert login(client, people["owner"]).status_code == 302
    page = client.get("/portal/tickets/new").text
    assert "Up to 10 files, 25 MB each, 40 MB in all" in page
    assert re.search(r'<label for="attachments">', page)
    assert '<script src="/static/js/attachments.js" defer></script>' in page
    assert 'aria-live="polite"' in page


def test_customer_reply_with_a_file(app, client, people, make_ticket):
    ticket = make_ticket(people["owner"])
    assert login(client, people["colleague"]).status_code == 302
    page = client.get(f"/portal/tickets/{ticket.reference}")
    assert 'enctype="multipart/form-data"' in page.text
    response = client.post(
        f"/portal/tickets/{ticket.reference}/replies",
        data={
            "csrf_token": csrf_from(page.text),
            "body": "Here is the PDF.",
            "attachments": (io.BytesIO(PDF), "r.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    row = db.session.scalar(select(Attachment))
    event = db.session.get(TicketEvent, row.event_id)
    assert event.kind is EventKind.public_reply and event.body == "Here is the PDF."
    assert row.uploader_id == people["colleague"].id


def test_customer_reply_with_a_refused_file_keeps_the_reply_text(app, client, people, make_ticket):
    ticket = make_ticket(people["owner"])
    assert login(client, people["owner"]).status_code == 302
    page = client.get(f"/portal/tickets/{ticket.reference}")
    response = client.post(
        f"/portal/tickets/{ticket.reference}/replies",
        data={"csrf_token": csrf_from(page.text), "body": "My words stay", "attachments": (io.BytesIO(HTML), "x.html")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "My words stay" in response.text and "x.html is not accepted" in response.text
    assert db.session.scalar(select(TicketEvent).where(TicketEvent.kind == EventKind.public_reply)) is None


def _agent_setup(client, people, make_ticket):
    ticket = make_ticket(people["owner"])
    assert login(client, people["agent"]).status_code == 302
    page = client.get(f"/agent/tickets/{ticket.reference}")
    assert 'hx-encoding="multipart/form-data"' in page.text
    assert 'name="attachments"' in page.text
    return ticket, csrf_from(page.text)


def test_agent_composer_htmx_reply_and_internal_note_with_files(app, client, people, make_ticket):
    ticket, token = _agent_setup(client, people, make_ticket)
    reply = client.post(
        f"/agent/tickets/{ticket.reference}/replies",
        headers={**HX, "X-CSRFToken": token},
        data={"body": "Fixed, see screenshot.", "attachments": (io.BytesIO(PNG), "fixed.png")},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 200
    assert reply.text.lstrip().startswith('<ol class="timeline" id="timeline"')
    assert "fixed.png" in reply.text and 'alt="fixed.png"' in reply.text
    note = client.post(
        f"/agent/tickets/{ticket.reference}/replies",
        headers={**HX, "X-CSRFToken": token},
        data={"body": "Internal log", "internal": "y", "attachments": (io.BytesIO(TEXT), "internal.log")},
        content_type="multipart/form-data",
    )
    assert note.status_code == 200 and "internal.log" in note.text
    rows = {r.filename: r for r in db.session.scalars(select(Attachment))}
    assert db.session.get(TicketEvent, rows["fixed.png"].event_id).kind is EventKind.public_reply
    assert db.session.get(TicketEvent, rows["internal.log"].event_id).kind is EventKind.internal_note


def test_agent_composer_refused_file_keeps_the_message(app, client, people, make_ticket):
    ticket, token = _agent_setup(client, people, make_ticket)
    response = client.post(
        f"/agent/tickets/{ticket.reference}/replies",
        headers={**HX, "X-CSRFToken": token},
        data={"body": "Please keep me", "attachments": (io.BytesIO(PE), "tool.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Please keep me" in response.text and "tool.pdf is not accepted" in response.text
    assert db.session.scalar(select(Attachment)) is None
    assert db.session.scalar(select(TicketEvent).where(TicketEvent.kind == EventKind.public_reply)) is None


def test_api_multipart_create_and_reply(app, client, people, tokens):
    created = client.post(
        "/api/v1/tickets",
        headers=tokens["owner"],
        data={
            "subject": "API upload",
            "description": "See the file.",
            "category": "data",
            "attachments": [(io.BytesIO(PDF), "report.pdf"), (io.BytesIO(TEXT), "run.log")],
        },
        content_type="multipart/form-data",
    )
    assert created.status_code == 201, created.text
    body = created.get_json()
    assert [a["filename"] for a in body["attachments"]] == ["report.pdf", "run.log"]
    assert body["attachments"][0]["content_type"] == "application/pdf"
    reference = body["ticket"]["reference"]
    reply = client.post(
        f"/api/v1/tickets/{reference}/replies",
        headers=tokens["agent"],
        data={"body": "Internal look", "internal": "true", "attachments": (io.BytesIO(PNG), "dump.png")},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 201, reply.text
    assert reply.get_json()["event"]["internal"] is True
    listed = client.get(f"/api/v1/tickets/{reference}/attachments", headers=tokens["agent"]).get_json()
    assert [a["filename"] for a in listed["attachments"]] == ["report.pdf", "run.log", "dump.png"]
    # JSON bodies still work as before
    plain = client.post(f"/api/v1/tickets/{reference}/replies", headers=tokens["owner"], json={"body": "thanks"})
    assert plain.status_code == 201 and plain.get_json()["attachments"] == []


def test_api_refusals_are_json_4xx_and_store_nothing(app, client, people, tokens, small_caps):
    before = stored_files(app)
    cases = [
        ({"attachments": (io.BytesIO(PE), "setup.png")}, "setup.png is not accepted"),
        ({"attachments": (io.BytesIO(b"q" * 1001), "big.txt")}, "larger than"),
        ({"attachments": [(io.BytesIO(b"q\n"), f"{i}.txt") for i in range(3)]}, "at most 2 files"),
        ({"other": (io.BytesIO(b"q\n"), "a.txt")}, "Unknown file fields"),
        ({"nonsense": "1"}, "Unknown fields"),
    ]
    for extra, message in cases:
        response = client.post(
            "/api/v1/tickets",
            headers=tokens["owner"],
            data={"subject": "S", "description": "D", "category": "data", **extra},
            content_type="multipart/form-data",
        )
        assert response.status_code == 422, response.text
        error = response.get_json()["error"]
        assert message in error["message"]
    assert db.session.scalar(select(Ticket)) is None
    assert stored_files(app) == before


def test_upload_bodies_may_reach_the_attachment_caps_others_keep_max_content_length(app, client, people, monkeypatch):
    for key, value in {
        "MAX_CONTENT_LENGTH": 3000,
        "ATTACHMENT_MAX_BYTES": 6000,
        "ATTACHMENT_MAX_TOTAL_BYTES": 8000,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    assert login(client, people["owner"]).status_code == 302
    fits = _new_ticket_form(client, [(io.BytesIO(b"f" * 5000), "fits.log")])
    assert fits.status_code == 303
    over = _new_ticket_form(client, [(io.BytesIO(b"o" * 6001), "over.log")], subject="Kept subject")
    assert over.status_code == 422  # the form's message, not a bare 413
    assert "over.log is larger than" in over.text and 'value="Kept subject"' in over.text
    page = client.get("/profile")
    other = client.post(
        "/portal/search", data={"csrf_token": csrf_from(page.text), "q": "x" * 5000}, content_type="multipart/form-data"
    )
    assert other.status_code == 413
