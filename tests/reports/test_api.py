"""Reports in the JSON API and their CSV downloads: managers and admins only, clear 400s, streamed CSV."""

from __future__ import annotations

import csv
import io

import pytest

from portal.extensions import db
from portal.models import Role
from portal.services.accounts import create_api_token
from portal.services.reports.export import safe_cell
from tests.reports.conftest import at

QUERY = "from=2026-03-01&to=2026-04-01&tz=Europe/London"


@pytest.fixture
def tokens(make_user, make_org):
    org = make_org("Demo", "demo.test")
    users = {
        "manager": make_user(Role.manager),
        "admin": make_user(Role.admin),
        "agent": make_user(Role.agent),
        "senior_agent": make_user(Role.senior_agent),
        "customer": make_user(Role.customer, organization=org),
    }
    found = {}
    for role, user in users.items():
        _, plain = create_api_token(user)
        found[role] = {"Authorization": f"Bearer {plain}"}
    db.session.commit()
    return found


PATHS = [
    "summary",
    "agents",
    "tickets?figure=tickets_created&",
    "summary.csv",
    "violations.csv",
    "agents.csv",
    "tickets.csv?figure=open_at_end&",
]


def _url(path: str, query: str = QUERY) -> str:
    joiner = "" if path.endswith("&") else "?"
    return f"/api/v1/reports/{path}{joiner}{query}"


@pytest.mark.parametrize("path", PATHS)
def test_only_managers_and_admins_read_reports(client, tokens, path):
    assert client.get(_url(path)).status_code == 401
    for role in ("agent", "senior_agent", "customer"):
        response = client.get(_url(path), headers=tokens[role])
        assert response.status_code == 403, role
        assert response.json["error"]["code"] == "forbidden"
    for role in ("manager", "admin"):
        assert client.get(_url(path), headers=tokens[role]).status_code == 200, role


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=2026-04-01", "from"),
        ("from=2026-02-30&to=2026-04-01", "from"),
        ("from=2026-03-01&to=2026-03-01", "to"),
        ("from=2026-03-01&to=2026-04-01&tz=Nowhere/Land", "tz"),
        ("from=03/01/2026&to=2026-04-01", "from"),
    ],
)
@pytest.mark.parametrize("path", ["summary", "agents", "summary.csv", "agents.csv"])
def test_bad_parameters_are_a_400_with_a_json_error(client, tokens, path, query, field):
    response = client.get(_url(path, query), headers=tokens["manager"])
    assert response.status_code == 400
    assert response.is_json
    assert response.json["error"]["code"] == "invalid_period"
    assert field in response.json["error"]["fields"]


def test_unknown_or_incomplete_figures_are_a_400(client, tokens):
    for query in (
        "figure=lost&" + QUERY,
        QUERY,
        "figure=agent.resolved&" + QUERY,
        "figure=agent.resolved&agent_id=x&" + QUERY,
    ):
        response = client.get(f"/api/v1/reports/tickets?{query}", headers=tokens["admin"])
        assert response.status_code == 400, query
        assert response.json["error"]["code"] == "unknown_figure"


def test_summary_and_agents_shapes(client, tokens, history, make_user):
    agent = make_user(Role.agent, name="Amy Agent")
    ticket = history.ticket(at(10, 9))
    history.reply(ticket, at(10, 9, 12, 30), agent)
    db.session.commit()
    body = client.get(_url("summary"), headers=tokens["manager"]).json
    assert body["period"]["tz"] == "Europe/London" and body["period"]["hours"] == 743
    assert body["period"]["end"] == "2026-03-31T23:00:00Z"
    assert body["tickets_created"] == 1
    assert body["avg_first_response_minutes"] == 12.5
    assert set(body["sla_violations"]) == {"critical", "high", "medium", "low"}
    for key in (
        "response_sla",
        "resolution_sla",
        "sla_compliance",
        "fcr_rate",
        "escalation_rate",
        "reopen_rate",
        "csat",
        "open_at_end",
        "open_at_end_by_priority",
        "kb_contributions",
        "cost_per_ticket",
        "targets",
    ):
        assert key in body
    agents = client.get(_url("agents"), headers=tokens["admin"]).json
    assert agents["period"] == body["period"]
    assert {row["id"] for row in agents["agents"]} >= {agent.id}
    amy = next(row for row in agents["agents"] if row["id"] == agent.id)
    assert amy["first_responses"] == 1 and amy["avg_first_response_minutes"] == 12.5
    listed = client.get(_url("tickets?figure=first_responses&"), headers=tokens["admin"]).json
    assert listed["ticket_ids"] == [ticket.id] and listed["count"] == 1


def test_safe_cell_neutralizes_formulas():
    for dangerous in ("=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", '=HYPERLINK("http://x")'):
        assert safe_cell(dangerous) == "'" + dangerous
    assert safe_cell("Amy Agent") == "Amy Agent"
    assert safe_cell("a=b") == "a=b"
    assert safe_cell(None) == ""
    assert safe_cell(3) == 3 and safe_cell(0.25) == 0.25
    assert safe_cell(True) == "true"


def _rows(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_csv_downloads_stream_and_neutralize_injected_text(client, tokens, history, make_user):
    evil = make_user(Role.agent, name='=HYPERLINK("http://evil.test","x")', email="evil@example.test")
    ticket = history.ticket(at(10, 9), subject="@SUM(1+1)*cmd|' /C calc'!A0")
    history.assign(ticket, at(10, 9, 1), evil, evil)
    history.reply(ticket, at(10, 9, 5), evil)
    db.session.commit()

    agents = client.get(_url("agents.csv"), headers=tokens["manager"])
    assert agents.is_streamed
    assert agents.mimetype == "text/csv"
    assert "attachment" in agents.headers["Content-Disposition"]
    rows = _rows(agents)
    assert rows[0][:4] == ["id", "name", "email", "role"]
    names = [row[1] for row in rows[1:]]
    assert "'" + evil.name in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    tickets = client.get(_url("tickets.csv?figure=tickets_created&"), headers=tokens["manager"])
    assert tickets.is_streamed
    rows = _rows(tickets)
    assert rows[0] == ["reference", "subject", "status", "priority", "created_at", "assignee"]
    assert rows[1][0] == ticket.reference
    assert rows[1][1] == "'" + ticket.subject
    assert rows[1][4] == "2026-03-10T09:00:00Z"

    summary = _rows(client.get(_url("summary.csv"), headers=tokens["manager"]))
    assert summary[0] == ["figure", "value"]
    values = dict(summary[1:])
    assert values["tickets_created"] == "1"
    assert values["period.tz"] == "Europe/London"
    assert values["sla_violations.critical.first_response"] == "0"
    assert values["fcr_rate"] == ""
    violations = _rows(client.get(_url("violations.csv"), headers=tokens["admin"]))
    assert violations[0] == ["priority", "first_response", "resolution", "total"]
    assert [row[0] for row in violations[1:]] == ["critical", "high", "medium", "low", "total"]


def test_tickets_csv_has_no_row_cap(app, history):
    from portal.services.reports import export

    ids = [history.ticket(at(1 + i % 28, i % 24, i % 60)).id for i in range(1200)]
    db.session.commit()
    lines = list(export.tickets_csv(ids))
    assert len(lines) == 1201
    assert all(line.endswith("\r\n") for line in lines)
