"""The ticket page's email parts: participants (add, remove), how each mail was threaded, merge suggestions and the
merge itself, the "by email" marker and who may open a mail's full original."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditEntry,
    CsatSurvey,
    EventKind,
    InboundState,
    OutboxMessage,
    Role,
    Status,
    Ticket,
    TicketEvent,
)
from portal.models.mail import MailDirection, TicketMailId, TicketParticipant
from portal.services import tickets as ticket_service
from portal.services.errors import ValidationFailed
from portal.services.mail import merge as merge_service
from tests.conftest import csrf_token, login


def _created(ticket: Ticket) -> TicketEvent:
    return db.session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.created)
    )


@pytest.fixture
def scene(make_org, make_user, make_ticket, make_inbound):
    org = make_org()
    customer = make_user(Role.customer, organization=org, email="cora@org.test")
    agent = make_user(Role.agent)
    ticket = make_ticket(customer, subject="Export broken", description="The export button does nothing.")
    inbound = make_inbound(
        ticket=ticket,
        event=_created(ticket),
        sender=customer,
        subject="Export broken",
        body="The export button does nothing.\n\n> quoted <b>history</b> from before\n-- \nCora's signature",
        thread_method="none",
        thread_detail="No reply token, no known Message-ID, no ticket reference in the subject.",
        outcome="new_ticket",
    )
    return dict(org=org, customer=customer, agent=agent, ticket=ticket, inbound=inbound)


def test_staff_add_and_remove_participants(client, scene):
    ticket = scene["ticket"]
    login(client, scene["agent"])
    page = client.get(f"/agent/tickets/{ticket.reference}")
    assert page.status_code == 200 and 'id="ticket-mail"' in page.text
    token = csrf_token(client, f"/agent/tickets/{ticket.reference}")
    url = f"/mail/tickets/{ticket.reference}/participants"

    added = client.post(url, data={"csrf_token": token, "email": "Pat@Partner.TEST"}, headers={"HX-Request": "true"})
    assert added.status_code == 200 and "pat@partner.test is copied" in added.text
    [row] = db.session.scalars(select(TicketParticipant).where(TicketParticipant.ticket_id == ticket.id))
    assert (row.email, row.source, row.added_by_id) == ("pat@partner.test", "agent", scene["agent"].id)

    bad = client.post(url, data={"csrf_token": token, "email": "not an address"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    twice = client.post(url, data={"csrf_token": token, "email": "pat@partner.test"}, headers={"HX-Request": "true"})
    assert twice.status_code == 422 and "already copied" in twice.text
    requester = client.post(url, data={"csrf_token": token, "email": "cora@org.test"})
    assert requester.status_code == 303  # a plain post: back to the ticket with the message
    assert "This is the requester." in client.get(requester.headers["Location"]).text

    removed = client.post(f"{url}/{row.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert "no longer copied" in client.get(removed.headers["Location"]).text
    assert db.session.scalar(select(TicketParticipant).where(TicketParticipant.ticket_id == ticket.id)) is None


def test_customers_cannot_manage_participants_or_merge(client, scene):
    ticket = scene["ticket"]
    login(client, scene["customer"])
    token = csrf_token(client)
    url = f"/mail/tickets/{ticket.reference}/participants"
    assert client.post(url, data={"csrf_token": token, "email": "x@y.test"}).status_code == 403
    assert client.post(f"/mail/tickets/{ticket.reference}/merge", data={"csrf_token": token}).status_code == 403


def test_the_ticket_page_shows_how_each_mail_was_threaded(client, make_inbound, scene):
    ticket = scene["ticket"]
    reply = ticket_service.reply_to_ticket(scene["customer"], ticket, "Still broken today.")
    db.session.commit()
    make_inbound(
        ticket=ticket,
        event=reply,
        sender=scene["customer"],
        subject=f"Re: [{ticket.reference}] Export broken",
        thread_method="token",
        thread_detail="Signed reply token of Cora (r-…) in In-Reply-To.",
        outcome="reply",
    )
    login(client, scene["agent"])
    page = client.get(f"/agent/tickets/{ticket.reference}").text
    assert "Threaded by the signed reply token of one of our emails: Signed reply token of Cora" in page
    assert "Not threaded: it started a new ticket: No reply token, no known Message-ID" in page
    assert page.count("By email") == 2 and "Show the full original" in page

    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, scene["customer"])
    mine = client.get(f"/portal/tickets/{ticket.reference}").text
    assert mine.count("By email") == 2 and "Show the full original" in mine
    assert "threaded" not in mine.lower()  # how it was threaded is for staff


def test_full_original_access_rules(client, make_org, make_user, scene):
    inbound, ticket = scene["inbound"], scene["ticket"]
    url = f"/mail/messages/{inbound.id}/original"
    assert client.get(url).status_code == 302  # anonymous: sign in first

    login(client, scene["customer"])
    own = client.get(url)
    assert own.status_code == 200
    assert "quoted &lt;b&gt;history&lt;/b&gt; from before" in own.text and "<b>history</b>" not in own.text
    assert "Cora&#39;s signature" in own.text or "Cora's signature" in own.text
    assert "/raw" not in own.text  # the raw source is for admins
    partial = client.get(url, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<pre>" in partial.text and "<html" not in partial.text
    client.post("/logout", data={"csrf_token": csrf_token(client)})

    stranger = make_user(Role.customer, organization=make_org())
    login(client, stranger)
    assert client.get(url).status_code == 404  # another organization's customer: as if it did not exist
    client.post("/logout", data={"csrf_token": csrf_token(client)})

    note = ticket_service.reply_to_ticket(scene["agent"], ticket, "Internal", internal=True)
    db.session.commit()
    inbound.event_id = note.id
    db.session.commit()
    login(client, scene["customer"])
    assert client.get(url).status_code == 404  # a mail that became an internal note: never for customers
    client.post("/logout", data={"csrf_token": csrf_token(client)})

    login(client, scene["agent"])
    assert client.get(url).status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, make_user(Role.admin))
    page = client.get(url)
    assert page.status_code == 200 and f"/admin/mail/{inbound.id}/raw" in page.text


def test_quarantined_mail_originals_are_for_admins_only(client, make_user, make_inbound):
    inbound = make_inbound(state=InboundState.quarantined, reason="unknown_sender")
    login(client, make_user(Role.agent))
    assert client.get(f"/mail/messages/{inbound.id}/original").status_code == 404


def test_merge_suggestion_and_merge(client, make_inbound, make_ticket, scene):
    customer, agent = scene["customer"], scene["agent"]
    target = scene["ticket"]
    source = make_ticket(customer, subject="Export broken", description="Sent again: the export does nothing!")
    mail = make_inbound(
        ticket=source,
        event=_created(source),
        sender=customer,
        subject="Export broken",
        thread_method="none",
        suggested_ticket_id=target.id,
        outcome="new_ticket",
    )
    db.session.add(
        TicketMailId(message_id="old-out@support.test", ticket_id=source.id, direction=MailDirection.outbound)
    )
    db.session.add(TicketParticipant(ticket_id=source.id, email="pat@partner.test", source="email"))
    db.session.commit()

    login(client, agent)
    page = client.get(f"/agent/tickets/{source.reference}").text
    assert "This mail may belong to" in page and f"Merge {source.reference} into {target.reference}" in page
    other_side = client.get(f"/agent/tickets/{target.reference}").text
    assert f"Merge {source.reference} into {target.reference}" in other_side

    token = csrf_token(client, f"/agent/tickets/{source.reference}")
    form = {
        "csrf_token": token,
        "target": target.reference,
        "source_version": source.version,
        "target_version": target.version,
    }
    confirm = client.post(f"/mail/tickets/{source.reference}/merge", data=form)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    db.session.expire_all()
    assert db.session.get(Ticket, source.id).status is not Status.closed  # nothing happened yet

    done = client.post(f"/mail/tickets/{source.reference}/merge", data={**form, "confirm": "yes"})
    assert done.status_code == 303 and target.reference in done.headers["Location"]
    db.session.expire_all()
    source, target = db.session.get(Ticket, source.id), db.session.get(Ticket, target.id)
    assert source.status is Status.closed
    moved = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == target.id, TicketEvent.kind == EventKind.public_reply)
    ).all()
    assert len(moved) == 1 and moved[0].author_id == customer.id
    assert "Sent again: the export does nothing!" in moved[0].body and source.reference in moved[0].body
    source_events = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == source.id).order_by(TicketEvent.id)
    ).all()
    assert any(
        e.kind is EventKind.internal_note and e.body == f"Merged into {target.reference}." for e in source_events
    )
    statuses = [e.new_value for e in source_events if e.field == "status"]
    assert statuses[-2:] == ["solved", "closed"]
    # the duplicate closes quietly: no "solved"/"closed" mail and no satisfaction survey for it (the requester hears
    # of the ticket it went into); the reply on the target is announced as usual
    kinds = [(m.kind, m.payload.get("ticket_id")) for m in db.session.scalars(select(OutboxMessage))]
    assert ("notify.ticket_status", source.id) not in kinds
    assert db.session.scalar(select(CsatSurvey).where(CsatSurvey.ticket_id == source.id)) is None
    db.session.refresh(mail)
    assert (mail.ticket_id, mail.event_id, mail.suggested_ticket_id) == (target.id, moved[0].id, None)
    assert (
        db.session.scalar(select(TicketMailId.ticket_id).where(TicketMailId.message_id == "old-out@support.test"))
        == target.id
    )
    assert db.session.scalar(
        select(TicketParticipant).where(
            TicketParticipant.ticket_id == target.id, TicketParticipant.email == "pat@partner.test"
        )
    )
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "mail.merged")) is not None
    assert "was merged into" in client.get(done.headers["Location"]).text
    assert f"Merge {source.reference}" not in client.get(f"/agent/tickets/{target.reference}").text

    # a second try: the source is closed now
    again = client.post(
        f"/mail/tickets/{source.reference}/merge",
        data={**form, "confirm": "yes", "source_version": source.version, "target_version": target.version},
    )
    assert again.status_code == 303
    assert "Closed tickets cannot be merged" in client.get(again.headers["Location"]).text


def test_merge_refuses_other_organizations_and_stale_versions(make_org, make_user, make_ticket, scene):
    agent, target = scene["agent"], scene["ticket"]
    foreign = make_ticket(make_user(Role.customer, organization=make_org()), subject="Export broken")
    with pytest.raises(ValidationFailed, match="different organizations"):
        merge_service.merge_into(agent, foreign, target, (foreign.version, target.version))
    db.session.rollback()
    same = make_ticket(scene["customer"], subject="Export broken")
    from portal.services.errors import Conflict

    with pytest.raises(Conflict):
        merge_service.merge_into(agent, same, target, (same.version, target.version - 1 if target.version > 1 else 99))
    db.session.rollback()
    assert db.session.get(Ticket, same.id).status is not Status.closed
