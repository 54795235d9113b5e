"""The team summary, the agents report and the drill-down lists on one hand-made month (March 2026, UTC) whose
every figure is worked out by hand below. ``now`` is 5 April 2026: verdicts and reopens are as of then."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from portal.extensions import db
from portal.models import Role
from portal.services import reports
from portal.services.reports import FIGURES, Period
from tests.reports.conftest import at

NOW = at(5, 12, month=4)
T0 = at(10, 9)
MARCH = Period(date(2026, 3, 1), date(2026, 4, 1), "UTC")
H, M = timedelta(hours=1), timedelta(minutes=1)


@pytest.fixture
def march(history, make_user):
    h = history
    s = SimpleNamespace(
        A=make_user(Role.agent, name="Amy Agent"),
        B=make_user(Role.agent, name="Ben Agent"),
        S=make_user(Role.senior_agent, name="Sam Senior"),
        M=make_user(Role.manager, name="Mia Manager"),
        Ad=make_user(Role.admin, name="Ada Admin"),
        X=make_user(Role.agent, name="Xavier Former", is_active_account=False),
        idle=make_user(Role.agent, name="Ivy Idle", is_active_account=False),
    )
    A, B, S, M_, Ad, X, C = s.A, s.B, s.S, s.M, s.Ad, s.X, h.customer

    # t1: one reply, solved, never reopened (first contact resolution); rated 5.
    t1 = h.ticket(T0, "high", "solved")
    h.assign(t1, T0 + M, M_, A)
    h.reply(t1, T0 + 10 * M, A)
    h.status(t1, T0 + 10 * M, A, "new", "open")
    h.status(t1, T0 + 30 * M, A, "open", "solved")
    h.facts(t1, "first_response", achieved=T0 + 10 * M)
    h.facts(t1, "resolution", achieved=T0 + 30 * M)
    h.rating(t1, T0 + 2 * H, 5)

    # t2: raised to critical (first response breached at the raise), solved by B, reopened by the customer,
    # reassigned to A, escalated by S, solved again by A after the resolution breach at its due instant; rated 2.
    t2 = h.ticket(T0 + H, "critical", "solved", tier="L2")
    h.assign(t2, T0 + H + M, M_, B)
    h.priority(t2, T0 + 2 * H, M_, "medium", "critical")
    h.reply(t2, T0 + 3 * H, B)
    h.status(t2, T0 + 3 * H, B, "new", "open")
    h.status(t2, T0 + 4 * H, B, "open", "solved")
    h.reply(t2, T0 + 5 * H, C)
    h.status(t2, T0 + 5 * H, C, "solved", "open")
    h.assign(t2, T0 + 5 * H + M, M_, A)
    h.tier(t2, T0 + 5 * H + 30 * M, S, "L1", "L2")
    h.reply(t2, T0 + 6 * H, A)
    h.status(t2, T0 + 7 * H, A, "open", "solved")
    h.facts(t2, "first_response", achieved=T0 + 3 * H, breached=T0 + 2 * H, priority="critical")
    h.facts(t2, "resolution", achieved=T0 + 7 * H, breached=T0 + 6 * H, priority="critical")
    h.rating(t2, T0 + 8 * H, 2)

    # t13: a raise and a reassignment at the same instant (the breach belongs to the assignee before the
    # reassignment, which applies after the raise), and a solve and a reassignment at the same instant.
    t13 = h.ticket(T0 + 10 * H, "critical", "solved")
    h.assign(t13, T0 + 10 * H, M_, B)
    h.priority(t13, T0 + 12 * H, M_, "medium", "critical")
    h.assign(t13, T0 + 12 * H, M_, S)
    h.reply(t13, T0 + 13 * H, S)
    h.status(t13, T0 + 13 * H, S, "new", "open")
    h.status(t13, T0 + 13 * H + 30 * M, S, "open", "solved")
    h.assign(t13, T0 + 13 * H + 30 * M, M_, A)
    h.facts(t13, "first_response", achieved=T0 + 13 * H, breached=T0 + 12 * H, priority="critical")
    h.facts(t13, "resolution", achieved=T0 + 13 * H + 30 * M)

    # t3: created before the period, raised to high then; open since.
    t3 = h.ticket(at(20, 10, month=2), "high", "new")
    h.priority(t3, at(21, 10, month=2), M_, "low", "high")
    h.facts(t3, "first_response", breached=at(21, 10, month=2), priority="high")
    h.facts(t3, "resolution", breached=at(21, 10, month=2), priority="high")

    # t4: resolution breached at its due instant, solved in the period, closed after it (no reopen).
    t4 = h.ticket(at(20, 8), "medium", "closed")
    h.assign(t4, at(20, 8, 5), M_, A)
    h.reply(t4, at(20, 9), A)
    h.status(t4, at(20, 9), A, "new", "open")
    h.status(t4, at(25, 8), A, "open", "solved")
    h.status(t4, at(3, 8, month=4), None, "solved", "closed")
    h.facts(t4, "first_response", achieved=at(20, 9))
    h.facts(t4, "resolution", achieved=at(25, 8), breached=at(21, 8), priority="medium")

    # t5: pending at the end, raised and solved after it: open at the end with the priority then (medium).
    t5 = h.ticket(at(28, 12), "high", "solved")
    h.assign(t5, at(28, 12, 10), M_, B)
    h.reply(t5, at(28, 13), B)
    h.status(t5, at(28, 13), B, "new", "pending")
    h.priority(t5, at(1, 0, 30, month=4), M_, "medium", "high")
    h.status(t5, at(2, 10, month=4), C, "pending", "solved")
    h.facts(t5, "first_response", achieved=at(28, 13))
    h.facts(t5, "resolution", achieved=at(2, 10, month=4))

    # t6: solved exactly at the end instant: not solved in the period, open at its end.
    t6 = h.ticket(at(30, 12), "low", "solved")
    h.reply(t6, at(30, 13, 30), M_)
    h.status(t6, at(30, 13, 30), M_, "new", "open")
    h.status(t6, at(1, month=4), M_, "open", "solved")
    h.facts(t6, "first_response", achieved=at(30, 13, 30))
    h.facts(t6, "resolution", achieved=at(1, month=4))

    # t7: no answer; its first response ran past its due instant (in the period) unrecorded by the sweep; the
    # resolution is due exactly at the end (not in the period). Escalated by the system.
    t7 = h.ticket(at(31, 20), "critical", "new", tier="L2")
    h.tier(t7, at(31, 20, 20), None, "L1", "L2")
    h.facts(t7, "first_response", due=at(31, 20, 15))
    h.facts(t7, "resolution", due=at(1, month=4))

    # t8: solved by the customer without any staff reply (first response achieved by the solve); an internal note.
    t8 = h.ticket(at(12, 10), "low", "solved")
    h.note(t8, at(12, 10, 30), A)
    h.status(t8, at(12, 11), C, "new", "solved")
    h.facts(t8, "first_response", achieved=at(12, 11))
    h.facts(t8, "resolution", achieved=at(12, 11))

    # t9: solved in February, reopened in the period, its resolution clock ran past its new due instant unrecorded.
    t9 = h.ticket(at(25, month=2), "low", "open")
    h.assign(t9, at(25, 0, 30, month=2), M_, B)
    h.reply(t9, at(25, 1, month=2), B)
    h.status(t9, at(25, 1, month=2), B, "new", "open")
    h.status(t9, at(26, month=2), B, "open", "solved")
    h.status(t9, at(2), C, "solved", "open")
    h.facts(t9, "first_response", achieved=at(25, 1, month=2))
    h.facts(t9, "resolution", due=at(4))
    h.rating(t9, at(26, 12, month=2), 1)

    # t10: first contact resolution closed later in the period (solved → closed is no reopen); rated 4.
    t10 = h.ticket(at(1, 0, 30), "low", "closed")
    h.assign(t10, at(1, 0, 31), M_, A)
    h.reply(t10, at(1, 1), A)
    h.status(t10, at(1, 1), A, "new", "open")
    h.status(t10, at(3, 0, 30), A, "open", "solved")
    h.status(t10, at(7, 0, 30), None, "solved", "closed")
    h.facts(t10, "first_response", achieved=at(1, 1))
    h.facts(t10, "resolution", achieved=at(3, 0, 30))
    h.rating(t10, at(4), 4)
    h.rating(t10, at(5), None, cycle=2)  # offered, not answered

    # t11: created in February, first staff reply in the period (48 h later), a second one; escalated by A.
    t11 = h.ticket(at(27, 12, month=2), "medium", "open", tier="L2")
    h.reply(t11, at(1, 12), A)
    h.status(t11, at(1, 12), A, "new", "open")
    h.reply(t11, at(2, 12), A)
    h.tier(t11, at(5), A, "L1", "L2")
    h.facts(t11, "first_response", achieved=at(1, 12), breached=at(27, 16, month=2), priority="medium")
    h.facts(t11, "resolution", breached=at(28, 12, month=2), priority="medium")

    # t12: first staff reply before the period, another in it; escalated by a former agent, lowered again by S.
    t12 = h.ticket(at(10, 9, month=2), "low", "open")
    h.reply(t12, at(10, 10, month=2), S)
    h.status(t12, at(10, 10, month=2), S, "new", "open")
    h.reply(t12, at(15, 10), S)
    h.tier(t12, at(16, 10), X, "L1", "L2")
    h.tier(t12, at(16, 11), S, "L2", "L1")
    h.facts(t12, "first_response", achieved=at(10, 10, month=2))
    h.facts(t12, "resolution", breached=at(13, 9, month=2), priority="low")

    # Knowledge base: published in the period and edited after; a draft; an older article edited in the period.
    k1 = h.article(A, at(5), published=at(6), slug="k1")
    h.revision(k1, Ad, at(8))
    h.article(B, at(9), slug="k2-draft")
    k3 = h.article(S, at(10, month=1), published=at(10, month=1), slug="k3")
    h.revision(k3, S, at(1, month=2))
    h.revision(k3, S, at(15))
    db.session.commit()
    s.t = SimpleNamespace(
        **{
            f"t{n}": v.id
            for n, v in [
                (1, t1),
                (2, t2),
                (3, t3),
                (4, t4),
                (5, t5),
                (6, t6),
                (7, t7),
                (8, t8),
                (9, t9),
                (10, t10),
                (11, t11),
                (12, t12),
                (13, t13),
            ]
        }
    )
    return s


def test_team_summary_of_the_month(march):
    figures = reports.summary(MARCH, now=NOW)
    assert figures["period"] == {
        "from": "2026-03-01",
        "to": "2026-04-01",
        "tz": "UTC",
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-04-01T00:00:00Z",
        "days": 31,
        "hours": 744.0,
    }
    assert figures["tickets_created"] == 9  # t1 t2 t4 t5 t6 t7 t8 t10 t13
    assert figures["tickets_solved"] == 6  # t1 t2 t4 t8 t10 t13 (t6 is solved at the end instant)
    assert figures["response_sla"] == {"met": 6, "breached": 3, "rate": 6 / 9}
    assert figures["resolution_sla"] == {"met": 4, "breached": 3, "rate": 4 / 7}
    assert figures["sla_compliance"] == 10 / 16
    assert figures["sla_violations"] == {
        "critical": {"first_response": 3, "resolution": 1},
        "high": {"first_response": 0, "resolution": 0},
        "medium": {"first_response": 0, "resolution": 1},
        "low": {"first_response": 0, "resolution": 1},
    }
    # First replies: 10, 120, 180, 60, 60, 90, 30 and 2880 minutes; the median of eight is (60 + 90) / 2.
    assert figures["avg_first_response_minutes"] == pytest.approx(3430 / 8)
    assert figures["median_first_response_minutes"] == pytest.approx(75.0)
    # Last solve in the period − creation: 30, 360, 210, 7200, 60, 2880.
    assert figures["avg_resolution_minutes"] == pytest.approx(10740 / 6)
    assert figures["fcr_rate"] == 4 / 6  # t1 t4 t10 t13
    assert figures["escalation_rate"] == 2 / 9  # t2 (by S), t7 (by the system)
    assert figures["reopen_rate"] == 2 / 6  # t2, and t9 (solved in February)
    assert figures["csat"] == {"responses": 3, "average": pytest.approx(11 / 3), "satisfied_rate": 2 / 3}
    assert figures["open_at_end"] == 7  # t3 t5 t6 t7 t9 t11 t12
    assert figures["open_at_end_by_priority"] == {"critical": 1, "high": 1, "medium": 2, "low": 3}
    assert figures["kb_contributions"] == {
        "total": 3,
        "published": 1,
        "updated": 2,
        "by_author": [
            {"id": march.Ad.id, "name": "Ada Admin", "count": 1, "published": 0, "updated": 1},
            {"id": march.A.id, "name": "Amy Agent", "count": 1, "published": 1, "updated": 0},
            {"id": march.S.id, "name": "Sam Senior", "count": 1, "published": 0, "updated": 1},
        ],
    }
    assert figures["cost_per_ticket"] == pytest.approx(949_000 * 31 / 365 / 9)
    assert figures["targets"] == {"response_sla": 0.95, "resolution_sla": 0.90, "csat": 4.5}
    assert figures["targets_met"] == {"response_sla": False, "resolution_sla": False, "csat": False}


def _agent(rows, user):
    return next(r for r in rows if r["id"] == user.id)


def test_agents_report_of_the_month(march):
    rows = reports.agents(MARCH, now=NOW)
    a = _agent(rows, march.A)
    assert a == {
        "id": march.A.id,
        "name": "Amy Agent",
        "email": march.A.email,
        "role": "agent",
        "active": True,
        "resolved": 4,  # t1, t2 (second solve), t4, t10
        "resolved_per_day": 4 / 31,
        "avg_resolution_minutes": pytest.approx((30 + 360 + 7200 + 2880) / 4),
        "fcr_rate": 3 / 4,
        "first_responses": 4,  # t1 t4 t10 t11
        "avg_first_response_minutes": pytest.approx((10 + 60 + 30 + 2880) / 4),
        "sla_met": 5,
        "sla_breached": 2,
        "sla_compliance": 5 / 7,
        "csat_average": pytest.approx(11 / 3),
        "csat_responses": 3,
        "escalations_made": 1,
        "kb_contributions": 1,
    }
    b = _agent(rows, march.B)
    assert (b["resolved"], b["avg_resolution_minutes"], b["fcr_rate"]) == (1, 360, 0.0)  # t2's first solve
    assert (b["first_responses"], b["avg_first_response_minutes"]) == (2, 90)  # t2, t5
    assert (b["sla_met"], b["sla_breached"], b["sla_compliance"]) == (1, 3, 0.25)  # t5 / t2, t13 (raise), t9
    assert (b["csat_average"], b["csat_responses"], b["escalations_made"], b["kb_contributions"]) == (None, 0, 0, 0)
    s = _agent(rows, march.S)
    assert (s["resolved"], s["fcr_rate"], s["first_responses"], s["sla_met"], s["sla_breached"]) == (1, 1.0, 1, 1, 0)
    assert (s["escalations_made"], s["kb_contributions"]) == (1, 1)
    m = _agent(rows, march.M)
    assert (m["resolved"], m["first_responses"], m["avg_first_response_minutes"], m["sla_compliance"]) == (
        0,
        1,
        90,
        None,
    )
    ad = _agent(rows, march.Ad)
    assert ad["role"] == "admin" and ad["kb_contributions"] == 1 and ad["resolved_per_day"] == 0
    assert (ad["avg_resolution_minutes"], ad["fcr_rate"], ad["csat_average"]) == (None, None, None)


def test_every_active_staff_member_appears_and_former_ones_only_with_work(march, make_user):
    ids = {r["id"] for r in reports.agents(MARCH, now=NOW)}
    assert {march.A.id, march.B.id, march.S.id, march.M.id, march.Ad.id} <= ids
    former = _agent(reports.agents(MARCH, now=NOW), march.X)
    assert former["active"] is False and former["escalations_made"] == 1
    assert march.idle.id not in ids
    assert march.t  # customers never appear
    roles = {r["role"] for r in reports.agents(MARCH, now=NOW)}
    assert roles <= {"agent", "senior_agent", "manager", "admin"}
    # A month without any ticket still lists everyone active, with zeros and nulls.
    quiet = reports.agents(Period(date(2025, 1, 1), date(2025, 2, 1), "UTC"), now=NOW)
    assert {r["id"] for r in quiet} == {march.A.id, march.B.id, march.S.id, march.M.id, march.Ad.id}
    assert all(r["resolved"] == 0 and r["sla_compliance"] is None for r in quiet)


def test_an_empty_period_counts_nothing_and_divides_by_nothing(march):
    figures = reports.summary(Period(date(2025, 1, 1), date(2025, 2, 1), "UTC"), now=NOW)
    assert figures["tickets_created"] == figures["tickets_solved"] == 0
    for key in (
        "sla_compliance",
        "avg_first_response_minutes",
        "median_first_response_minutes",
        "avg_resolution_minutes",
        "fcr_rate",
        "escalation_rate",
        "reopen_rate",
        "cost_per_ticket",
    ):
        assert figures[key] is None, key
    assert figures["response_sla"] == {"met": 0, "breached": 0, "rate": None}
    assert figures["csat"] == {"responses": 0, "average": None, "satisfied_rate": None}
    assert set(figures["sla_violations"]) == {"critical", "high", "medium", "low"}
    assert figures["open_at_end_by_priority"] == {"critical": 0, "high": 0, "medium": 0, "low": 0}


SUMMARY_COUNT = {
    "tickets_created": lambda f: f["tickets_created"],
    "tickets_solved": lambda f: f["tickets_solved"],
    "avg_resolution_minutes": lambda f: f["tickets_solved"],
    "response_sla.met": lambda f: f["response_sla"]["met"],
    "response_sla.breached": lambda f: f["response_sla"]["breached"],
    "resolution_sla.met": lambda f: f["resolution_sla"]["met"],
    "resolution_sla.breached": lambda f: f["resolution_sla"]["breached"],
    "open_at_end": lambda f: f["open_at_end"],
    "csat": lambda f: f["csat"]["responses"],
    "reopen": lambda f: round(f["reopen_rate"] * f["tickets_solved"]),
    "escalation": lambda f: round(f["escalation_rate"] * f["tickets_created"]),
    "fcr": lambda f: round(f["fcr_rate"] * f["tickets_solved"]),
    **{
        f"sla_violations.{p}.{t}": (lambda f, p=p, t=t: f["sla_violations"][p][t])
        for p in ("critical", "high", "medium", "low")
        for t in ("first_response", "resolution")
    },
    **{
        f"open_at_end_by_priority.{p}": (lambda f, p=p: f["open_at_end_by_priority"][p])
        for p in ("critical", "high", "medium", "low")
    },
}


def test_every_team_figure_lists_as_many_tickets_as_it_counts(march):
    data = reports.facts(MARCH, now=NOW)
    figures = reports.summary(data)
    for figure, count in SUMMARY_COUNT.items():
        assert len(reports.tickets_behind(figure, data)) == count(figures), figure
    assert len(reports.tickets_behind("first_responses", data)) == 8
    team_figures = [f for f in FIGURES if not f.startswith("agent.")]
    assert set(team_figures) <= set(SUMMARY_COUNT) | {"first_responses"}


def test_the_lists_name_the_right_tickets(march):
    t = march.t
    behind = lambda figure, **key: reports.tickets_behind(figure, MARCH, now=NOW, **key)  # noqa: E731
    assert behind("open_at_end") == sorted([t.t3, t.t5, t.t6, t.t7, t.t9, t.t11, t.t12])
    assert behind("open_at_end_by_priority.medium") == sorted([t.t5, t.t11])
    assert behind("response_sla.breached") == sorted([t.t2, t.t7, t.t13])
    assert behind("resolution_sla.breached") == sorted([t.t2, t.t4, t.t9])
    assert behind("sla_violations.low.resolution") == [t.t9]
    assert behind("fcr") == sorted([t.t1, t.t4, t.t10, t.t13])
    assert behind("reopen") == sorted([t.t2, t.t9])
    assert behind("escalation") == sorted([t.t2, t.t7])
    assert behind("csat") == sorted([t.t1, t.t2, t.t10])
    assert behind("agent.resolved", agent_id=march.A.id) == sorted([t.t1, t.t2, t.t4, t.t10])
    assert behind("agent.first_responses", agent_id=march.A.id) == sorted([t.t1, t.t4, t.t10, t.t11])
    assert behind("agent.sla_breached", agent_id=march.B.id) == sorted([t.t2, t.t9, t.t13])
    assert behind("agent.resolved", agent_id=march.Ad.id) == []


def test_every_agent_figure_lists_as_many_tickets_as_it_counts(march):
    data = reports.facts(MARCH, now=NOW)
    pairs = {
        "agent.resolved": "resolved",
        "agent.first_responses": "first_responses",
        "agent.sla_met": "sla_met",
        "agent.sla_breached": "sla_breached",
        "agent.csat": "csat_responses",
        "agent.escalations": "escalations_made",
    }
    for row in reports.agents(data):
        for figure, field in pairs.items():
            assert len(reports.tickets_behind(figure, data, agent_id=row["id"])) == row[field], (row["name"], figure)
        fcr = reports.tickets_behind("agent.fcr", data, agent_id=row["id"])
        assert row["fcr_rate"] == (len(fcr) / row["resolved"] if row["resolved"] else None)


def test_an_unknown_figure_is_refused(march):
    with pytest.raises(reports.UnknownFigure):
        reports.tickets_behind("tickets_lost", MARCH, now=NOW)
    with pytest.raises(reports.UnknownFigure):
        reports.tickets_behind("agent.resolved", MARCH, now=NOW)  # which agent?


def test_a_later_reopen_withdraws_first_contact_resolution_and_the_old_decision(march, history):
    """As of a later "now", t1 was reopened after the period: no longer a first contact resolution, and its
    resolution (withdrawn by the clock engine) is no longer decided in March."""
    from portal.models import Ticket

    t1 = db.session.get(Ticket, march.t.t1)
    history.status(t1, at(2, 9, month=4), history.customer, "solved", "open")
    history.facts(t1, "resolution", achieved=None, due=at(30, month=4))
    db.session.commit()
    figures = reports.summary(MARCH, now=NOW)
    assert figures["fcr_rate"] == 3 / 6
    assert figures["resolution_sla"] == {"met": 3, "breached": 3, "rate": 0.5}
    assert figures["reopen_rate"] == 2 / 6  # reopened after the period: not a reopen of March
    assert figures["tickets_solved"] == 6  # it did enter solved in March
    # Judged as of the end of March, before that reopen, it still was a first contact resolution.
    assert reports.summary(MARCH, now=at(1, month=4))["fcr_rate"] == 4 / 6
