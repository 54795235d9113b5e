"""The escalation chain under a controlled clock: primary → (5 min) secondary → (5 min) the managers; an
acknowledgement (the link's POST, the ticket page's button) stops it; the job is safe to run twice."""

from __future__ import annotations

import re
from datetime import timedelta

import time_machine
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import OnCall, TicketEvent
from portal.models.paging import Page, PageAttempt, PageState
from portal.services.paging import pages
from tests.conftest import csrf_from, login
from tests.paging.conftest import T0, payload, post_call, rota, run_jobs
from workers.paging import page_escalations


def _paged(page_id: int) -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(PageAttempt.step, PageAttempt.user_id).where(PageAttempt.page_id == page_id).order_by(PageAttempt.id)
    ).all()
    return [(step, user_id) for step, user_id in rows]


def _notes(ticket_id: int) -> list[str]:
    return list(
        db.session.scalars(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))
    )


def _call(client, team, **over) -> Page:
    response = post_call(client, payload(**over))
    assert response.status_code == 201, response.text
    return db.session.get(Page, response.json["page"]["id"])


def _tick(at) -> None:
    """One run of the periodic job at ``at``, twice (two runners, or a re-run): the second changes nothing."""
    with time_machine.travel(at, tick=False):
        page_escalations()
        page_escalations()
    db.session.expire_all()


def test_no_acknowledgement_pages_the_secondary_then_the_manager(client, team):
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        page = _call(client, team)
    page_id, ticket_id = page.id, page.ticket_id
    assert _paged(page_id) == [("primary", team.primary.id)]

    _tick(T0 + timedelta(minutes=4, seconds=59))
    assert _paged(page_id) == [("primary", team.primary.id)]  # not yet

    _tick(T0 + timedelta(minutes=5))
    assert _paged(page_id) == [("primary", team.primary.id), ("secondary", team.secondary.id)]
    assert any(
        n.startswith("No acknowledgement within 5 minutes: Paged Sam Ray (secondary on-call)")
        for n in _notes(ticket_id)
    )

    _tick(T0 + timedelta(minutes=9, seconds=59))
    assert len(_paged(page_id)) == 2
    _tick(T0 + timedelta(minutes=10))
    assert _paged(page_id)[-1] == ("manager", team.manager.id)
    assert any("Paged Morgan Lee (manager)" in n for n in _notes(ticket_id))
    page = db.session.get(Page, page_id)
    assert page.state is PageState.open and page.next_escalation_at is None  # nowhere further to go

    _tick(T0 + timedelta(hours=1))
    assert len(_paged(page_id)) == 3


def test_escalation_pages_each_step_once_on_every_channel(client, team, channels):
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        page = _call(client, team)
        run_jobs()
    _tick(T0 + timedelta(minutes=5))
    with time_machine.travel(T0 + timedelta(minutes=5, seconds=1), tick=False):
        run_jobs()
        run_jobs()
    assert [m["body"]["to"] for m in channels.sms.received] == ["+14155550101", "+14155550102"]
    paged_mail = [m["To"] for m in channels.mail.messages if m["Subject"].startswith("PAGE")]
    assert paged_mail == [team.primary.email, team.secondary.email]
    assert len([m for m in channels.slack.received if m["text"].startswith("PAGE")]) == 2
    assert page.id


def _ack_link(channels) -> str:
    text = channels.sms.received[0]["body"]["text"]
    return re.search(r"http://[^ ]+/ops/pages/\d+/ack/[^ ]+", text).group(0).split("127.0.0.1:5000", 1)[-1]


def test_the_link_acknowledges_on_post_only_and_stops_the_chain(client, team, channels, app):
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        page = _call(client, team)
        run_jobs()
    page_id, ticket_id = page.id, page.ticket_id
    link = _ack_link(channels)
    anonymous = app.test_client()
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        shown = anonymous.get(link)  # a mail scanner following the link
        assert shown.status_code == 200 and "Acknowledge: I am on it" in shown.text
        db.session.expire_all()
        assert db.session.get(Page, page_id).state is PageState.open
        done = anonymous.post(link, data={"csrf_token": csrf_from(shown.text)})
        assert done.status_code == 200 and "the escalation stopped" in done.text
    db.session.expire_all()
    page = db.session.get(Page, page_id)
    assert page.state is PageState.acknowledged and page.acknowledged_by_id == team.primary.id
    ack = db.session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.body.like("Page acknowledged%"))
    )
    assert ack.author_id == team.primary.id and ack.kind.value == "internal_note"
    assert "with the link" in ack.body and "2 minutes" in ack.body
    _tick(T0 + timedelta(minutes=30))
    assert _paged(page_id) == [("primary", team.primary.id)]
    # a second acknowledgement changes nothing
    with time_machine.travel(T0 + timedelta(minutes=31), tick=False):
        again = anonymous.get(link)
        assert "was acknowledged" in again.text and "Acknowledge: I am on it" not in again.text
        anonymous.post(link, data={"csrf_token": csrf_from(again.text)})
    assert len([n for n in _notes(ticket_id) if n.startswith("Page acknowledged")]) == 1


def test_the_button_on_the_ticket_page_acknowledges(client, team):
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        page = _call(client, team)
        page_id, reference = page.id, page.ticket.reference
        login(client, team.secondary)
        ticket_page = client.get(f"/agent/tickets/{reference}")
        assert "Hotline page" in ticket_page.text and "Acknowledge the page" in ticket_page.text
        response = client.post(
            f"/ops/pages/{page_id}/ack",
            data={"csrf_token": csrf_from(ticket_page.text)},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200
        assert "Acknowledged" in response.text and "Acknowledge the page" not in response.text
    _tick(T0 + timedelta(minutes=20))
    page = db.session.get(Page, page_id)
    assert page.state is PageState.acknowledged and page.acknowledged_by_id == team.secondary.id
    assert _paged(page_id) == [("primary", team.primary.id)]


def test_a_link_acknowledges_only_its_own_page(client, team, channels, app):
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        first = _call(client, team)
        second = _call(client, team, call_id="CA-OTHER")
        run_jobs()
        first_id, second_id = first.id, second.id
        link = _ack_link(channels)  # the first page's SMS
        assert f"/ops/pages/{first_id}/ack/" in link
        token = link.rsplit("/", 1)[1]
        anonymous = app.test_client()
        assert anonymous.get(f"/ops/pages/{second_id}/ack/{token}").status_code == 404
        form = anonymous.get(link)
        response = anonymous.post(f"/ops/pages/{second_id}/ack/{token}", data={"csrf_token": csrf_from(form.text)})
        assert response.status_code == 404
        assert anonymous.get(f"/ops/pages/{first_id}/ack/{token[:-2]}xx").status_code == 404
    db.session.expire_all()
    assert db.session.get(Page, second_id).state is PageState.open
    assert db.session.get(Page, first_id).state is PageState.open


def test_the_link_expires(client, team, channels, app):
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        _call(client, team)
        run_jobs()
    link = _ack_link(channels)
    with time_machine.travel(T0 + timedelta(hours=25), tick=False):
        response = app.test_client().get(link)
    assert response.status_code == 404 and "expired" in response.text


def test_nobody_on_call_pages_the_manager_at_once_and_says_so(client, team):
    with time_machine.travel(T0, tick=False):
        page = _call(client, team)
    assert _paged(page.id) == [("manager", team.manager.id)]
    assert any(
        n.startswith("Nobody is on call: paging at once. Paged Morgan Lee (manager)") for n in _notes(page.ticket_id)
    )


def test_only_a_secondary_on_call_pages_the_secondary_at_once(client, team):
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        db.session.execute(OnCall.__table__.delete().where(OnCall.user_id == team.primary.id))
        db.session.commit()
        page = _call(client, team)
    assert _paged(page.id) == [("secondary", team.secondary.id)]
    assert any(n.startswith("Nobody is primary on-call: paging at once.") for n in _notes(page.ticket_id))


def test_an_escalation_someone_else_made_first_is_not_repeated(client, team):
    """Two runners: the one whose conditional UPDATE finds the page moved already writes nothing."""
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        page = _call(client, team)
    page_id = page.id
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        page = db.session.get(Page, page_id)
        assert page.step == 0
        with db.engine.begin() as other:  # another runner moved it meanwhile
            other.execute(update(Page).where(Page.id == page_id).values(step=1))
        assert pages.escalate(page_id) is False
        db.session.commit()
    assert _paged(page_id) == [("primary", team.primary.id)]
