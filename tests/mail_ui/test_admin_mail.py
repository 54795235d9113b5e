"""/admin/mail: who may open it, the list with its counts, filters and keyset pages, the raw source served inert,
and the quarantine actions (reprocess, release, discard) that change the state and are audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, InboundMessage, InboundSource, InboundState, Role, Ticket
from portal.services.mail import pipeline
from tests.conftest import csrf_token, login
from tests.mail_ui.conftest import raw_mail

GET_PATHS = ["/admin/mail/", "/admin/mail/{id}", "/admin/mail/{id}/raw"]
POST_PATHS = ["/admin/mail/{id}/reprocess", "/admin/mail/{id}/release", "/admin/mail/{id}/discard"]


@pytest.fixture
def quarantined(make_inbound):
    return make_inbound(
        state=InboundState.quarantined,
        reason="unknown_sender",
        detail="stranger@nowhere.test is no user.",
        from_address="stranger@nowhere.test",
        subject="Help <script>alert(1)</script>",
        body="<html><script>alert('x')</script></html>",
    )


@pytest.mark.parametrize("role", [None, Role.customer, Role.agent, Role.senior_agent, Role.manager, Role.admin])
def test_every_admin_mail_path_is_for_admins_only(client, make_user, quarantined, role):
    if role is not None:
        assert login(client, make_user(role)).status_code == 302
    token = csrf_token(client, "/login" if role is None else "/profile")
    for template in GET_PATHS:
        response = client.get(template.format(id=quarantined.id))
        if role is None:
            assert response.status_code == 302 and "/login" in response.headers["Location"], template
        elif role is Role.admin:
            assert response.status_code == 200, template
        else:
            assert response.status_code == 403, (template, role)
    for template in POST_PATHS:
        response = client.post(template.format(id=quarantined.id), data={"csrf_token": token})
        if role is None:
            assert response.status_code == 302, template
        elif role is not Role.admin:
            assert response.status_code == 403, (template, role)
    db.session.expire_all()
    if role is not Role.admin:
        assert db.session.get(InboundMessage, quarantined.id).state is InboundState.quarantined
    assert client.get("/admin/mail/999999").status_code in (302, 403, 404)


def test_the_list_counts_states_filters_and_pages_by_id(client, make_user, make_inbound, monkeypatch):
    from portal.blueprints.mail import inbox

    monkeypatch.setattr(inbox, "PAGE_SIZE", 2)
    rows = [make_inbound(state=InboundState.processed, subject=f"processed {i}") for i in range(3)]
    q1 = make_inbound(state=InboundState.quarantined, reason="unknown_sender", subject="quarantined one")
    make_inbound(state=InboundState.quarantined, reason="oversize", subject="quarantined two")
    login(client, make_user(Role.admin))
    page = client.get("/admin/mail/")
    assert page.status_code == 200
    assert 'id="state-quarantined"' in page.text and page.text.index("state-quarantined") < page.text.index(
        "state-processed"
    )  # the quarantine comes first
    assert '>Quarantined <span class="count">2</span>' in page.text
    assert '>Processed <span class="count">3</span>' in page.text
    assert "quarantined two" in page.text and "quarantined one" in page.text and "processed 2" not in page.text
    older = client.get(f"/admin/mail/?before={q1.id}")
    assert (
        "processed 2" in older.text
        and "processed 1" in older.text
        and "quarantined" not in older.text.split("<tbody>")[1].split("</tbody>")[0]
    )
    assert f"before={rows[1].id}" in older.text and f"after={rows[2].id}" in older.text
    newer = client.get(f"/admin/mail/?after={rows[2].id}")
    assert "quarantined one" in newer.text and "quarantined two" in newer.text
    only = client.get("/admin/mail/?state=quarantined&reason=oversize")
    assert "quarantined two" in only.text and "quarantined one" not in only.text
    assert client.get("/admin/mail/?state=bogus&before=abc").status_code == 200  # bad filters: ignored, not a 500


def test_the_message_page_and_its_raw_source_served_inert(client, make_user, quarantined):
    quarantined.raw_truncated = True
    db.session.commit()
    login(client, make_user(Role.admin))
    page = client.get(f"/admin/mail/{quarantined.id}")
    assert page.status_code == 200
    assert "Unknown sender" in page.text and "stranger@nowhere.test is no user." in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert 'id="raw-truncated"' in page.text
    assert "Release as a new ticket" in page.text and "Discard" in page.text and "Process again" in page.text

    raw = client.get(f"/admin/mail/{quarantined.id}/raw")
    assert raw.status_code == 200
    assert raw.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert raw.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert raw.headers["Content-Disposition"] == f'inline; filename="message-{quarantined.id}.txt"'
    assert raw.headers["X-Raw-Truncated"] == "yes"
    assert "no-store" in raw.headers["Cache-Control"]
    assert raw.data == quarantined.raw  # byte for byte, never rendered


def _audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_reprocess_release_and_discard_change_the_state_and_are_audited(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_UNKNOWN_SENDERS", "quarantine")
    first = pipeline.ingest(
        raw_mail("nina@nowhere.test", "Printer on fire", "Help!", message_id="<a1@nowhere.test>"),
        source=InboundSource.upload,
    )
    second = pipeline.ingest(
        raw_mail("otto@nowhere.test", "Login broken", "Cannot sign in.", message_id="<a2@nw.test>"),
        source=InboundSource.upload,
    )
    third = pipeline.ingest(
        raw_mail("paul@nowhere.test", "Spam", "Buy now", message_id="<a3@nowhere.test>"), source=InboundSource.upload
    )
    assert {m.state for m in (first, second, third)} == {InboundState.quarantined}
    admin = make_user(Role.admin)
    login(client, admin)
    token = csrf_token(client, f"/admin/mail/{first.id}")

    response = client.post(f"/admin/mail/{first.id}/release", data={"csrf_token": token})
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert "was released" in page.text
    db.session.expire_all()
    released = db.session.get(InboundMessage, first.id)
    assert released.state is InboundState.processed and released.outcome == "released"
    ticket = db.session.get(Ticket, released.ticket_id)
    assert ticket.subject == "Printer on fire"
    [entry] = _audits("mail.released")
    assert entry.actor_id == admin.id and entry.target_id == str(first.id)
    assert entry.before["state"] == "quarantined" and entry.after["state"] == "processed"

    monkeypatch.setitem(app.config, "MAIL_UNKNOWN_SENDERS", "accept")  # e.g. after the policy changed
    response = client.post(f"/admin/mail/{second.id}/reprocess", data={"csrf_token": token})
    assert response.status_code == 303
    assert "processed again" in client.get(response.headers["Location"]).text
    db.session.expire_all()
    assert db.session.get(InboundMessage, second.id).state is InboundState.processed
    assert len(_audits("mail.reprocessed")) == 1

    response = client.post(f"/admin/mail/{third.id}/discard", data={"csrf_token": token})
    assert response.status_code == 303
    assert "was discarded" in client.get(response.headers["Location"]).text
    db.session.expire_all()
    assert db.session.get(InboundMessage, third.id).state is InboundState.discarded
    assert len(_audits("mail.discarded")) == 1

    # a refused action: flashed, nothing changed, nothing audited, never a 500
    again = client.post(f"/admin/mail/{third.id}/release", data={"csrf_token": token})
    assert again.status_code == 303
    assert "only quarantined messages are released" in client.get(again.headers["Location"]).text
    assert len(_audits("mail.released")) == 1
    assert client.post(f"/admin/mail/{third.id}/discard", data={}).status_code == 400  # no CSRF token
    assert client.post("/admin/mail/999999/discard", data={"csrf_token": token}).status_code == 404


def test_the_admin_nav_links_the_mail_page_for_admins_only(client, make_user):
    login(client, make_user(Role.admin))
    assert 'href="/admin/mail/"' in client.get("/admin/outbox").text
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, make_user(Role.manager))
    assert 'href="/admin/mail/"' not in client.get("/admin/outbox").text
