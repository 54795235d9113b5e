"""Older tickets (created before the period): what happened to them before it still decides first contact
resolution, first responses and who held them; reopens after the period's end count up to "now"."""

from __future__ import annotations

from datetime import date

import pytest

from portal.extensions import db
from portal.models import Role
from portal.services import reports
from portal.services.reports import Period
from tests.reports.conftest import at

MAY = Period(date(2026, 5, 1), date(2026, 6, 1), "UTC")
NOW = at(20, 12, month=6)


@pytest.fixture
def may(history, make_user):
    h = history
    a, b, manager, customer = (
        make_user(Role.agent, name="Amy"),
        make_user(Role.agent, name="Ben"),
        make_user(Role.manager),
        h.customer,
    )
    # o1: answered (once) in April, solved in May: a first contact resolution held by Amy since April.
    o1 = h.ticket(at(20, 10, month=4), status="solved")
    h.assign(o1, at(20, 10, 5, month=4), manager, a)
    h.reply(o1, at(20, 11, month=4), a)
    h.status(o1, at(20, 11, month=4), a, "new", "open")
    h.status(o1, at(3, 10, month=5), a, "open", "solved")
    # o2: reopened in April, solved again in May: not a first contact resolution.
    o2 = h.ticket(at(10, 9, month=4), status="solved")
    h.assign(o2, at(10, 9, 5, month=4), manager, a)
    h.reply(o2, at(10, 11, month=4), a)
    h.status(o2, at(10, 11, month=4), a, "new", "open")
    h.status(o2, at(12, 9, month=4), a, "open", "solved")
    h.status(o2, at(13, 9, month=4), customer, "solved", "open")
    h.status(o2, at(2, 9, month=5), a, "open", "solved")
    # o3: created, answered and solved in May, reopened in June (after the period, before now).
    o3 = h.ticket(at(5, 9, month=5), status="open")
    h.assign(o3, at(5, 9, 1, month=5), manager, b)
    h.reply(o3, at(5, 10, month=5), b)
    h.status(o3, at(5, 10, month=5), b, "new", "open")
    h.status(o3, at(5, 12, month=5), b, "open", "solved")
    h.status(o3, at(2, 9, month=6), customer, "solved", "open")
    # o4: answered in April and again in May, solved in May: two replies, and no first response in May.
    o4 = h.ticket(at(25, 9, month=4), status="solved")
    h.assign(o4, at(25, 9, 1, month=4), manager, b)
    h.reply(o4, at(26, 9, month=4), b)
    h.status(o4, at(26, 9, month=4), b, "new", "open")
    h.reply(o4, at(6, 9, month=5), b)
    h.status(o4, at(7, 9, month=5), b, "open", "solved")
    db.session.commit()
    return {"a": a, "b": b, "o1": o1.id, "o2": o2.id, "o3": o3.id, "o4": o4.id}


@pytest.mark.parametrize("later_tickets", [0, 12])  # reopens after the end: found by instant, or by ticket
def test_older_tickets_keep_their_history(may, history, later_tickets):
    for n in range(later_tickets):
        history.ticket(at(10, n, month=6))
    db.session.commit()
    figures = reports.summary(MAY, now=NOW)
    assert figures["tickets_solved"] == 4
    assert reports.tickets_behind("fcr", MAY, now=NOW) == [may["o1"]]
    assert figures["fcr_rate"] == 1 / 4
    assert reports.tickets_behind("first_responses", MAY, now=NOW) == [may["o3"]]
    assert figures["avg_first_response_minutes"] == 60
    assert figures["reopen_rate"] == 0  # o2 was reopened in April, o3 in June
    resolution = [13 * 24 * 60, 22 * 24 * 60, 3 * 60, 12 * 24 * 60]  # o1 o2 o3 o4: last solve − creation
    assert figures["avg_resolution_minutes"] == pytest.approx(sum(resolution) / 4)
    # Judged at the end of May, o3 had not been reopened yet.
    assert reports.tickets_behind("fcr", MAY, now=at(1, 1, month=6)) == sorted([may["o1"], may["o3"]])
    rows = {r["id"]: r for r in reports.agents(MAY, now=NOW)}
    amy, ben = rows[may["a"].id], rows[may["b"].id]
    assert (amy["resolved"], amy["fcr_rate"], amy["first_responses"]) == (2, 0.5, 0)
    assert (ben["resolved"], ben["fcr_rate"], ben["first_responses"]) == (2, 0.0, 1)
