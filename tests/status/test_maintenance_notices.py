"""Maintenance notices to subscribers: "scheduled" and "cancelled" when a manager acts, "started" and "completed"
from the periodic task, each exactly once (however often the task and the job run), to the subscribers of the
window's components only. A window entered after the fact, and the demo's, announce nothing."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, Role, StatusSubscriber, utcnow
from portal.services.status import components as component_service
from portal.services.status import maintenance
from workers.registry import dispatch
from workers.status import maintenance_notices

UTC_ZONE = ZoneInfo("UTC")


def _subscriber(email: str, component_ids: list[int] | None = None) -> StatusSubscriber:
    row = StatusSubscriber(
        email=email,
        all_components=component_ids is None,
        component_ids=component_ids or [],
        confirmed_at=utcnow(),
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.commit()
    return row


def _rows(notice: str) -> list[OutboxMessage]:
    return [
        m
        for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "status.maintenance"))
        if m.payload["notice"] == notice
    ]


def _run(message: OutboxMessage) -> None:
    dispatch(message.kind, message.payload, message.id)


def test_each_notice_once_to_the_windows_subscribers(components, make_user, mailbox):
    manager = make_user(Role.manager)
    _subscriber("api@example.test", [components["API"].id])
    _subscriber("login@example.test", [components["Login"].id])
    _subscriber("all@example.test")
    start = (utcnow() + timedelta(hours=1)).replace(second=0, microsecond=0)
    window = maintenance.schedule(
        manager,
        title="API upgrade",
        body="Short interruptions.",
        starts=start.strftime("%Y-%m-%dT%H:%M"),
        ends=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        component_ids=[str(components["API"].id)],
        zone="UTC",
    )
    db.session.commit()
    [scheduled] = _rows("scheduled")
    _run(scheduled)
    _run(scheduled)
    assert sorted(m["To"] for m in mailbox.messages) == ["all@example.test", "api@example.test"]
    assert all(m["List-Unsubscribe"] for m in mailbox.messages)

    assert maintenance.announce_due(start - timedelta(minutes=1)) == 0
    assert maintenance.announce_due(start + timedelta(minutes=1)) == 1
    assert maintenance.announce_due(start + timedelta(minutes=2)) == 0  # once
    db.session.commit()
    [started] = _rows("started")
    _run(started)
    _run(started)
    assert maintenance.announce_due(start + timedelta(hours=1)) == 1
    assert maintenance.announce_due(start + timedelta(hours=1, minutes=5)) == 0
    db.session.commit()
    [completed] = _rows("completed")
    _run(completed)
    subjects = sorted(m["Subject"] for m in mailbox.to("api@example.test"))
    assert subjects == [
        "Maintenance completed: API upgrade",
        "Maintenance scheduled: API upgrade",
        "Maintenance started: API upgrade",
    ]
    assert not mailbox.to("login@example.test")
    assert maintenance.announce_due(start + timedelta(days=3)) == 0
    assert window.id


def test_a_cancelled_window_is_not_announced_as_started(components, make_user):
    manager = make_user(Role.manager)
    start = utcnow() + timedelta(minutes=30)
    window = maintenance.schedule(
        manager,
        title="Cancelled one",
        body="",
        starts=start.strftime("%Y-%m-%dT%H:%M"),
        ends=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        component_ids=[str(components["API"].id)],
    )
    maintenance.cancel(manager, window.id)
    db.session.commit()
    assert len(_rows("cancelled")) == 1
    assert maintenance.announce_due(start + timedelta(minutes=10)) == 0


def test_the_periodic_task_and_the_demo_window(app, components):
    added = component_service.seed_demo()
    db.session.commit()
    assert added == {"components": 0, "maintenance": 1}  # the fixture made the components already
    assert component_service.seed_demo() == {"components": 0, "maintenance": 0}
    assert maintenance_notices() == 0  # entered after it ended: history, not news
    assert not _rows("completed")
