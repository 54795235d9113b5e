"""The live dashboard on a hand-made desk: tickets filed, answered, escalated and assigned through the ticket
services at chosen instants (the clock engine keeps their SLA columns), one breach recorded when the ticket next
changed and two left for the sweep, ratings on both sides of the viewer's midnight. Every figure is worked out by
hand below."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Ticket
from portal.services import live_dashboard, reports
from portal.services import tickets as svc
from portal.services.queries import is_open
from portal.services.reports.periods import Period
from portal.services.sla_sweep import run_sweep
from tests.conftest import login
from tests.reports_pages.conftest import Desk

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday, the EMEA shift (08:00-16:00 UTC)
BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 in March: today began at 2026-03-09 23:00 UTC


def file(people, at, priority, *, reply_after=None, assignee=None, tier=None, status=None):
    """A ticket filed by the customer at ``at`` (by an agent for critical ones), optionally answered, escalated,
    assigned (``assignee`` None: nobody) and moved to ``status``."""
    with time_machine.travel(at, tick=False):
        actor = people["agent"] if priority == "critical" else people["customer"]
        ticket = svc.create_ticket(
            actor,
            subject=f"{priority} filed {at:%d %H:%M}",
            description="The export stops.",
            category="general",
            priority=priority,
            requester=people["customer"] if actor is not people["customer"] else None,
        )
        fields = {"assignee": assignee.id if assignee else None}
        if tier:
            fields["tier"] = tier
        svc.update_ticket(people["manager"], ticket, expected_version=ticket.version, **fields)
        db.session.commit()
    if reply_after is not None:
        with time_machine.travel(at + reply_after, tick=False):
            svc.reply_to_ticket(people["agent"], ticket, "We are on it.")
            db.session.commit()
    if status:
        with time_machine.travel(at + (reply_after or timedelta(0)) + timedelta(minutes=1), tick=False):
            svc.update_ticket(people["agent"], ticket, expected_version=ticket.version, status=status)
            db.session.commit()
    return ticket


@pytest.fixture
def board(people, make_user):
    agent, senior = people["agent"], people["senior"]
    tickets = {
        # at risk: its first response (15 min) is at 80 % now, due at 12:03
        "a": file(people, NOW - timedelta(minutes=12), "critical"),
        # at risk: answered, its resolution (8 h) passed 75 % at 11:00, due at 13:00
        "b": file(
            people,
            datetime(2026, 3, 10, 5, 0, tzinfo=UTC),
            "high",
            reply_after=timedelta(minutes=10),
            assignee=senior,
            tier="L2",
        ),
        # fine: answered, resolution far away
        "c": file(people, NOW - timedelta(hours=1), "medium", reply_after=timedelta(minutes=10), assignee=agent),
        # unanswered: its first response (24 h) ran out today at 10:00 UTC; the sweep has not run since
        "d": file(people, datetime(2026, 3, 9, 10, 0, tzinfo=UTC), "low", assignee=agent),
        # first response (1 h) breached at 03:00 today, recorded when it was answered late at 04:00; the
        # resolution (8 h) ran out at 10:00 today, not recorded yet
        "e": file(people, datetime(2026, 3, 10, 2, 0, tzinfo=UTC), "high", tier="manager"),
        # breached the day before yesterday and yesterday: not today
        "f": file(people, datetime(2026, 3, 8, 8, 0, tzinfo=UTC), "medium", assignee=agent),
        # solved: not open any more
        "g": file(
            people, NOW - timedelta(hours=2), "high", reply_after=timedelta(minutes=5), assignee=agent, status="solved"
        ),
    }
    with time_machine.travel(datetime(2026, 3, 10, 4, 0, tzinfo=UTC), tick=False):
        svc.reply_to_ticket(agent, tickets["e"], "Sorry for the wait.")
        db.session.commit()
    assert tickets["e"].first_response_breached_at == datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # recorded
    assert tickets["e"].resolution_breached_at is None and tickets["d"].first_response_breached_at is None
    desk = Desk(make_user)
    desk.customer = people["customer"]
    for instant, rating in (
        (datetime(2026, 3, 9, 22, 30, tzinfo=UTC), 1),  # 23:30 in Berlin, yesterday there
        (datetime(2026, 3, 9, 23, 30, tzinfo=UTC), 3),  # 00:30 in Berlin: today
        (datetime(2026, 3, 10, 10, 0, tzinfo=UTC), 4),
        (datetime(2026, 3, 10, 11, 0, tzinfo=UTC), 5),
    ):
        desk.rating(tickets["g"], instant, rating, cycle=10 + rating)
    db.session.commit()
    return tickets


def test_every_figure_of_the_hand_made_desk(board, people):
    figures = live_dashboard.dashboard(BERLIN, NOW)

    assert figures.open_matrix == {
        "critical": {"L1": 1, "L2": 0, "manager": 0, "engineering": 0},
        "high": {"L1": 0, "L2": 1, "manager": 1, "engineering": 0},
        "medium": {"L1": 2, "L2": 0, "manager": 0, "engineering": 0},
        "low": {"L1": 1, "L2": 0, "manager": 0, "engineering": 0},
    }
    assert figures.open_total == 6 and figures.open_by_tier == {"L1": 4, "L2": 1, "manager": 1, "engineering": 0}
    assert figures.unassigned_by_tier == {"L1": 1, "L2": 0, "manager": 1, "engineering": 0}

    assert figures.at_risk_count == 2
    assert figures.at_risk_by_target == {"first_response": 1, "resolution": 1}
    assert [(row.ticket_id, row.target) for row in figures.at_risk] == [
        (board["a"].id, "first_response"),  # due 12:03
        (board["b"].id, "resolution"),  # due 13:00
    ]

    assert figures.breached_today == {
        "critical": {"first_response": 0, "resolution": 0},
        "high": {"first_response": 1, "resolution": 1},
        "medium": {"first_response": 0, "resolution": 0},
        "low": {"first_response": 1, "resolution": 0},
    }
    assert figures.day == date(2026, 3, 10) and figures.day_start == datetime(2026, 3, 9, 23, 0, tzinfo=UTC)

    assert figures.shift == "EMEA"
    loads = {row.name: row.load for row in figures.on_shift}
    assert loads == {people["agent"].name: 3, people["senior"].name: 1}
    assert (figures.csat_responses, figures.csat_average) == (3, 4.0)


def test_the_matrix_and_the_breaches_agree_with_the_plain_queries_and_the_daily_report(board):
    figures = live_dashboard.dashboard(BERLIN, NOW)
    plain = db.session.execute(
        select(Ticket.priority, Ticket.tier, func.count()).where(is_open()).group_by(Ticket.priority, Ticket.tier)
    ).all()
    assert {(p.value, t.value): n for p, t, n in plain} == {
        (p, t): n for p, row in figures.open_matrix.items() for t, n in row.items() if n
    }
    today = reports.summary(Period.day(date(2026, 3, 10), BERLIN), NOW)
    assert figures.breached_today == today["sla_violations"]
    assert figures.csat_responses == today["csat"]["responses"]


def test_today_follows_the_viewer_zone(board):
    in_utc = live_dashboard.dashboard(ZoneInfo("UTC"), NOW)
    assert (in_utc.csat_responses, in_utc.csat_average) == (2, 4.5)  # 23:30 UTC was yesterday in UTC
    assert in_utc.breached_today_total == 3


def test_a_breach_the_sweep_records_later_is_counted_once(board):
    before = live_dashboard.dashboard(BERLIN, NOW).breached_today
    with time_machine.travel(NOW, tick=False):
        run_sweep()
        db.session.commit()
    assert live_dashboard.dashboard(BERLIN, NOW).breached_today == before


@pytest.mark.parametrize(("role", "status"), [("customer", 403), ("agent", 403), ("senior", 403)])
def test_the_dashboard_and_its_board_are_for_managers_and_admins(client, people, role, status):
    login(client, people[role])
    assert client.get("/reports/live").status_code == status
    assert client.get("/reports/live/board", headers={"HX-Request": "true"}).status_code == status


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/reports/live", "/reports/live/board"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_the_page_polls_its_board_and_the_board_shows_the_figures(client, people, board, role):
    people[role].timezone = "Europe/Berlin"
    db.session.commit()
    with time_machine.travel(NOW, tick=False):
        login(client, people[role])
        page = client.get("/reports/live")
        partial = client.get("/reports/live/board", headers={"HX-Request": "true"})
    assert page.status_code == 200 and partial.status_code == 200
    assert 'hx-trigger="every 30s"' in page.text and 'hx-get="/reports/live/board"' in page.text
    assert 'aria-live="polite"' in page.text
    assert "<html" not in partial.text and 'hx-swap-oob="innerHTML"' in partial.text
    for html in (page.text, partial.text):
        assert re.search(r'id="live-open">6<', html) and re.search(r'id="live-at-risk">2<', html)
        assert re.search(r'id="live-breached">3<', html) and re.search(r'id="live-unassigned">2<', html)
        assert re.search(r'data-cell="medium-L1">2<', html) and re.search(r'data-cell="high-manager">1<', html)
        assert re.search(r'id="live-csat">4.00 / 5<', html)
    # today's breaches link to the day's violation lists in the viewer's zone
    assert "figure=sla_violations.high.resolution&amp;from=2026-03-10&amp;to=2026-03-11&amp;tz=Europe/Berlin" in (
        partial.text
    )
