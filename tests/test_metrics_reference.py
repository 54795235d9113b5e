"""The portal's SLA verdicts and report figures against an independent reference computation.

A month of generated ticket histories (``tests/reference/generate.py``: replies, notes, pauses, reopens, closes,
priority raises and drops also while paused and after a solve, assignments, escalations, ratings, equal and sub-second
instants, tickets from before the month and across its end, histories on the SLA boundaries) is imported; then, as of
one frozen "now", every ticket's SLA verdicts and the summary and agents reports of several periods (a month in
Europe/London with the clocks going back, the same month in UTC, the day of the change, an ISO week) are compared with
``tests/reference/metrics.py``, which computes them from the written definitions alone, sharing no code with the
portal. Counts must be equal, instants equal to the microsecond, floats equal within 1e-9 relative.

``REFERENCE_TICKETS`` (default 1500) and ``REFERENCE_SEED`` (default 20261025) change the desk for a manual run.
"""

from __future__ import annotations

import json
import math
import os
import random
from datetime import date

import pytest
import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role, Ticket
from portal.services import sla
from portal.services.accounts import create_api_token
from portal.services.history_import import import_lines
from tests.reference import generate, metrics

TICKETS = int(os.environ.get("REFERENCE_TICKETS", "1500"))
SEED = int(os.environ.get("REFERENCE_SEED", "20261025"))
NOW = generate.DEFAULT_NOW
PERIODS = {
    "london-month": (date(2026, 10, 1), date(2026, 11, 1), "Europe/London"),  # 745 hours: the clocks go back
    "utc-month": (date(2026, 10, 1), date(2026, 11, 1), "UTC"),
    "london-dst-day": (date(2026, 10, 25), date(2026, 10, 26), "Europe/London"),  # 25 hours
    "london-iso-week": (date(2026, 10, 19), date(2026, 10, 26), "Europe/London"),  # week 43, Monday first
}
# Every period's start and end in UTC: the generator puts events exactly on them and a microsecond before.
EDGES = tuple(
    instant for span in (metrics.period(*dates) for dates in PERIODS.values()) for instant in (span.start, span.end)
)
SUMMARY_FIELDS = (
    "tickets_created",
    "tickets_solved",
    "response_sla",
    "resolution_sla",
    "sla_compliance",
    "sla_violations",
    "avg_first_response_minutes",
    "median_first_response_minutes",
    "avg_resolution_minutes",
    "fcr_rate",
    "escalation_rate",
    "reopen_rate",
    "csat",
    "open_at_end",
    "open_at_end_by_priority",
    "cost_per_ticket",
)
AGENT_FIELDS = (
    "resolved",
    "resolved_per_day",
    "avg_resolution_minutes",
    "fcr_rate",
    "first_responses",
    "avg_first_response_minutes",
    "sla_compliance",
    "csat_average",
    "csat_responses",
    "escalations_made",
    "kb_contributions",
)


class Desk:
    """The imported desk: its lines, the reference facts per external id, and a manager's API headers."""

    def __init__(self, lines: list[dict], headers: dict[str, str]) -> None:
        self.lines = {line["external_id"]: line for line in lines}
        self.facts = {key: metrics.facts(metrics.read(line), NOW) for key, line in self.lines.items()}
        self.headers = headers

    def history(self, external_id: str) -> str:
        return json.dumps(self.lines[external_id], indent=None)


@pytest.fixture
def desk(make_user):
    staff = [make_user(Role(role), email=generate.staff_email(name), name=name) for name, role in generate.STAFF]
    manager = next(user for user in staff if user.role is Role.manager)
    _, plain = create_api_token(manager)
    db.session.commit()
    lines = generate.generate(SEED, TICKETS, edges=EDGES)
    result = import_lines([json.dumps(line) for line in lines], now=NOW, index=False)
    assert result.errors == [], result.errors[:5]
    assert result.imported == len(lines)
    return Desk(lines, {"Authorization": f"Bearer {plain}"})


def _close(expected, actual) -> bool:
    if isinstance(expected, float) and isinstance(actual, int | float) and not isinstance(actual, bool):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() <= actual.keys() and all(_close(v, actual[k]) for k, v in expected.items())
    return type(expected) is type(actual) and expected == actual


def _differences(expected: dict, actual: dict, fields, where: str) -> list[str]:
    return [
        f"{where} {name}: expected {expected[name]!r}, portal {actual.get(name, '<missing>')!r}"
        for name in fields
        if not _close(expected[name], actual.get(name))
    ]


def _expected_sla(verdicts: dict[str, metrics.Verdict]) -> dict[str, dict[str, str | None]]:
    return {
        target: {
            "state": v.state,
            "due": metrics.iso(v.due),
            "achieved_at": metrics.iso(v.achieved_at),
            "breached_at": metrics.iso(v.breached_at),
        }
        for target, v in verdicts.items()
    }


def _sla_differences(external_id: str, expected: dict, actual: dict) -> list[str]:
    return [
        f"{external_id} {target}.{key}: expected {want!r}, portal {actual[target].get(key)!r}"
        for target, facts in expected.items()
        for key, want in facts.items()
        if actual[target].get(key) != want
    ]


def _report(problems: list[str], desk: Desk | None = None, limit: int = 40) -> str:
    text = f"{len(problems)} disagreement(s):\n" + "\n".join(problems[:limit])
    if desk is not None:
        shown = {p.split()[0] for p in problems[:5]}
        text += "".join(f"\n{eid}: {desk.history(eid)}" for eid in sorted(shown) if eid in desk.lines)
    return text


def test_every_ticket_has_the_reference_sla_verdicts(desk):
    """State, due, achievement and breach of both targets of every ticket; the decision (verdict, instant and the
    priority in force at the breach) that the reports count."""
    tickets = db.session.scalars(select(Ticket).where(Ticket.external_id.is_not(None))).all()
    assert {t.external_id for t in tickets} == set(desk.facts)
    problems = []
    for ticket in tickets:
        verdicts = desk.facts[ticket.external_id].verdicts
        problems += _sla_differences(ticket.external_id, _expected_sla(verdicts), sla.ticket_sla(ticket, NOW))
        for target, v in verdicts.items():
            expected = (v.state, v.decided_at, v.breach_priority) if v.verdict else None
            actual = sla.decision(ticket, target, NOW)
            if actual is not None:
                actual = (actual[0], actual[1], actual[2])
            if actual != expected:
                problems.append(f"{ticket.external_id} {target} decision: expected {expected!r}, portal {actual!r}")
    assert not problems, _report(problems, desk)


def test_the_api_gives_the_reference_sla_of_a_sample(desk, client):
    sample = random.Random(SEED).sample(sorted(desk.facts), 20)
    problems = []
    with time_machine.travel(NOW, tick=False):
        for external_id in sample:
            response = client.get("/api/v1/tickets", query_string={"external_id": external_id}, headers=desk.headers)
            assert response.status_code == 200, response.text
            (found,) = response.json["tickets"]
            assert found["external_id"] == external_id
            expected = _expected_sla(desk.facts[external_id].verdicts)
            problems += _sla_differences(external_id, expected, found["sla"])
    assert not problems, _report(problems, desk)


def _get(client, desk: Desk, report: str, period: str) -> dict:
    first, after, tz = PERIODS[period]
    query = {"from": first.isoformat(), "to": after.isoformat(), "tz": tz}
    with time_machine.travel(NOW, tick=False):
        response = client.get(f"/api/v1/reports/{report}", query_string=query, headers=desk.headers)
    assert response.status_code == 200, response.text
    return response.json


@pytest.mark.parametrize("period", PERIODS)
def test_the_summary_report_matches_the_reference(desk, client, period):
    actual = _get(client, desk, "summary", period)
    expected = metrics.summary(list(desk.facts.values()), metrics.period(*PERIODS[period]))
    span = metrics.period(*PERIODS[period])
    assert actual["period"]["start"] == metrics.iso(span.start) and actual["period"]["end"] == metrics.iso(span.end)
    assert actual["period"]["days"] == span.days
    problems = _differences(expected, actual, SUMMARY_FIELDS, period)
    kb = actual.get("kb_contributions")
    if not (isinstance(kb, dict) and kb.get("total") == 0 and kb.get("by_author") == []):
        problems.append(f"{period} kb_contributions: expected a total of 0 and no authors, portal {kb!r}")
    assert not problems, _report(problems)


@pytest.mark.parametrize("period", PERIODS)
def test_the_agents_report_matches_the_reference(desk, client, period):
    actual = {row["email"]: row for row in _get(client, desk, "agents", period)["agents"]}
    staff = list(generate.STAFF_EMAILS)
    assert sorted(actual) == sorted(staff), "every active staff member appears"
    expected = metrics.agents(list(desk.facts.values()), metrics.period(*PERIODS[period]), staff)
    problems = []
    for email in staff:
        problems += _differences(expected[email], actual[email], AGENT_FIELDS, f"{period} {email}")
    assert not problems, _report(problems)
