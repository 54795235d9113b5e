"""The on-call schedule page, overrides (who is paged follows them), the hotline form and the ticket page slot."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Priority, Role, Ticket, TicketEvent, utcnow
from portal.models.paging import OnCallOverride, Page, PageAttempt
from portal.services.paging import schedule
from tests.conftest import csrf_from, login
from tests.paging.conftest import T0, payload, post_call, rota


def _local(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M")  # the editors' zone is UTC (the default)


def test_customers_and_anonymous_users_cannot_see_the_schedule(app, client, team):
    assert app.test_client().get("/ops/on-call").status_code == 302  # the sign-in page
    login(client, team.customer)
    assert client.get("/ops/on-call").status_code == 404
    assert client.get("/ops/hotline/new").status_code == 404
    token = csrf_from(client.get("/profile").text)
    assert client.post("/ops/on-call/overrides", data={"csrf_token": token}).status_code == 404
    assert client.post("/ops/pages/1/ack", data={"csrf_token": token}).status_code == 404


def test_staff_see_who_is_on_call_now_and_next(client, team):
    rota(team)
    now = utcnow()
    db.session.add(
        OnCallOverride(
            level="primary",
            user_id=team.stand_in.id,
            starts_at=now + timedelta(hours=2),
            ends_at=now + timedelta(hours=4),
        )
    )
    db.session.commit()
    login(client, team.secondary)
    page = client.get("/ops/on-call")
    assert page.status_code == 200
    row = page.text.split('id="on-call-now"', 1)[1].split("</table>", 1)[0]
    primary_row, secondary_row = row.split('<th scope="row">')[1:3]
    assert "Priya Shah" in primary_row and "Olive Stand" in primary_row and "override" in primary_row
    assert "Sam Ray" in secondary_row
    assert 'id="override-form"' not in page.text  # agents read, managers edit


def test_effective_follows_overrides_the_newest_first(team):
    with time_machine.travel(T0, tick=False):
        rota(team, around=T0)
        assert schedule.effective("primary").id == team.primary.id
        db.session.add(
            OnCallOverride(level="primary", user_id=team.stand_in.id, starts_at=T0 - timedelta(hours=1),
                           ends_at=T0 + timedelta(hours=1), created_at=T0 - timedelta(days=1))
        )  # fmt: skip
        db.session.commit()
        assert schedule.effective("primary").id == team.stand_in.id
        assert schedule.effective("secondary").id == team.secondary.id
        assert schedule.effective("primary", T0 + timedelta(hours=2)).id == team.primary.id
        covers = schedule.timeline("primary", T0)
        assert covers[0].user.id == team.stand_in.id and covers[0].ends_at == T0 + timedelta(hours=1)
        assert covers[1].user.id == team.primary.id and covers[1].source == "rotation"
        team.stand_in.is_active_account = False  # a disabled account covers nothing
        db.session.commit()
        assert schedule.effective("primary").id == team.primary.id


def test_a_manager_adds_an_override_and_it_changes_who_is_paged(client, team):
    rota(team)
    login(client, team.manager)
    form = client.get("/ops/on-call")
    assert 'id="override-form"' in form.text
    now = utcnow()
    response = client.post(
        "/ops/on-call/overrides",
        data={
            "csrf_token": csrf_from(form.text),
            "level": "primary",
            "user_id": team.stand_in.id,
            "starts_at": _local(now - timedelta(hours=1)),
            "ends_at": _local(now + timedelta(hours=3)),
            "note": "swap with Priya",
        },
    )
    assert response.status_code == 303
    assert "Olive Stand" in client.get("/ops/on-call").text.split('id="overrides"', 1)[1]
    call = post_call(client, payload())
    assert call.json["page"]["paged"][0]["name"] == "Olive Stand"
    notes = db.session.scalars(select(TicketEvent.body).where(TicketEvent.ticket_id == call.json["ticket"]["id"]))
    assert any(n.startswith("Paged Olive Stand (primary on-call)") for n in notes)


def test_override_validation(client, team, make_user):
    login(client, team.manager)
    token = csrf_from(client.get("/ops/on-call").text)
    now = utcnow()
    inactive = make_user(Role.agent, name="Gone Agent", is_active_account=False)

    def add(**over):
        data = {
            "csrf_token": token,
            "level": "primary",
            "user_id": team.stand_in.id,
            "starts_at": _local(now + timedelta(hours=1)),
            "ends_at": _local(now + timedelta(hours=2)),
        }
        data.update(over)
        return client.post("/ops/on-call/overrides", data=data)

    before_after = add(ends_at=_local(now))
    assert before_after.status_code == 422 and "The end must be after the start." in before_after.text
    assert add(user_id=team.customer.id).status_code == 422
    assert "Choose an active staff member." in add(user_id=inactive.id).text
    assert add(level="tertiary").status_code == 422
    assert add(starts_at="soon").status_code == 422
    assert db.session.scalar(select(func.count()).select_from(OnCallOverride)) == 0
    assert add().status_code == 303


def test_agents_cannot_change_overrides_managers_remove_them(client, team, app):
    override = OnCallOverride(
        level="secondary", user_id=team.stand_in.id, starts_at=utcnow(), ends_at=utcnow() + timedelta(hours=1)
    )
    db.session.add(override)
    db.session.commit()
    login(client, team.secondary)
    token = csrf_from(client.get("/ops/on-call").text)
    assert client.post(f"/ops/on-call/overrides/{override.id}/delete", data={"csrf_token": token}).status_code == 403
    assert client.post("/ops/on-call/overrides", data={"csrf_token": token}).status_code == 403
    assert client.post("/ops/on-call/rotation", data={"csrf_token": token}).status_code == 403
    manager = app.test_client()
    login(manager, team.manager)
    token = csrf_from(manager.get("/ops/on-call").text)
    assert manager.post(f"/ops/on-call/overrides/{override.id}/delete", data={"csrf_token": token}).status_code == 303
    assert db.session.scalar(select(func.count()).select_from(OnCallOverride)) == 0


def test_a_manager_adds_a_secondary_rotation_entry(client, team):
    login(client, team.manager)
    token = csrf_from(client.get("/ops/on-call").text)
    now = utcnow()
    response = client.post(
        "/ops/on-call/rotation",
        data={
            "csrf_token": token,
            "level": "secondary",
            "user_id": team.stand_in.id,
            "starts_at": _local(now - timedelta(minutes=5)),
            "ends_at": _local(now + timedelta(hours=8)),
        },
    )
    assert response.status_code == 303
    assert schedule.effective("secondary").id == team.stand_in.id
    assert schedule.effective("primary") is None


def test_open_pages_are_listed_on_the_schedule(client, team):
    rota(team)
    call = post_call(client, payload())
    login(client, team.secondary)
    page = client.get("/ops/on-call")
    assert call.json["ticket"]["reference"] in page.text.split('id="open-pages"', 1)[1]


def test_an_agent_files_a_call_by_hand(client, team):
    rota(team)
    login(client, team.secondary)
    form = client.get("/ops/hotline/new")
    assert form.status_code == 200
    refused = client.post(
        "/ops/hotline",
        data={"csrf_token": csrf_from(form.text), "number": "", "caller_email": "nope", "summary": "Down"},
    )
    assert refused.status_code == 422 and "Not an email address." in refused.text
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    response = client.post(
        "/ops/hotline",
        data={
            "csrf_token": csrf_from(form.text),
            "number": "+1 555 555 0199",
            "caller_name": "Casey",
            "summary": "Everything is down",
        },
    )
    assert response.status_code == 303
    ticket = db.session.scalar(select(Ticket))
    assert ticket.priority is Priority.critical and ticket.requester_id == team.customer.id
    created = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
    assert created.author_id == team.secondary.id  # the agent who took the call
    page = db.session.scalar(select(Page).where(Page.ticket_id == ticket.id))
    assert [a.user_id for a in db.session.scalars(select(PageAttempt).where(PageAttempt.page_id == page.id))] == [
        team.primary.id
    ]


def test_the_slot_shows_nothing_to_customers_and_nothing_without_a_page(client, team, make_ticket, app):
    rota(team)
    call = post_call(client, payload())
    reference = call.json["ticket"]["reference"]
    plain = make_ticket(team.customer)
    login(client, team.customer)
    mine = client.get(f"/portal/tickets/{reference}")
    assert mine.status_code == 200 and "Hotline page" not in mine.text and "/ops/pages/" not in mine.text
    assert client.get(f"/agent/tickets/{reference}").status_code in (403, 404)
    staff = app.test_client()
    login(staff, team.secondary)
    assert "Hotline page" in staff.get(f"/agent/tickets/{reference}").text
    assert "Hotline page" not in staff.get(f"/agent/tickets/{plain.reference}").text
