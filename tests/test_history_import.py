"""Ticket history import (``flask tickets import``) and export: the file format's example line stored with its
events, statuses, SLA facts, tier spans and rating; every kind of invalid line reported with its number and reason
while the other lines import; idempotence by external id; dry runs; nothing sent; search; the command's progress,
summary and exit statuses; the API lookup by external id; and export → import → export giving the same lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import delete, func, select

from portal.extensions import db
from portal.models import (
    CsatSurvey,
    EventKind,
    Organization,
    OutboxMessage,
    Role,
    SlaEvent,
    Ticket,
    TicketEvent,
    TierSpan,
    User,
)
from portal.search.schema import TICKET_INDEX
from portal.search.store import recreate_index
from portal.search.tickets import search_tickets
from portal.services import history_import, sla
from portal.services import tickets as ticket_service
from portal.services.accounts import authenticate, create_api_token
from portal.services.history_export import ticket_line, ticket_lines
from portal.services.history_import import UNUSABLE_PASSWORD, import_lines

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
MIKE, SARAH, EMILY, ROBERT = (
    f"{n}@support.test" for n in ("mike.chen", "sarah.johnson", "emily.davis", "robert.taylor")
)
DANA, OLGA = "dana@demo.test", "olga@acme.test"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def e(when: str, kind: str, author: str | None, **fields) -> dict:
    """One event of a line."""
    return {"at": when, "type": kind, "author": author, **fields}


EXAMPLE = {
    "external_id": "ZD-48211",
    "subject": "Bulk import rejects kWh",
    "description": "Row 12 fails with a unit error",
    "category": "data",
    "priority": "high",
    "channel": "email",
    "requester": {"email": DANA, "name": "Dana Whitfield", "organization": "Demo Manufacturing plc"},
    "created_at": "2026-10-03T07:41:12Z",
    "events": [
        e("2026-10-03T07:55:02Z", "assign", MIKE, to=MIKE),
        e("2026-10-03T08:02:40Z", "reply", MIKE, public=True, body="Which row?"),
        e("2026-10-03T08:03:00Z", "status", MIKE, to="pending"),
        e("2026-10-03T11:20:13Z", "reply", DANA, public=True, body="Row 12, kWh."),
        e("2026-10-03T11:20:13Z", "status", DANA, to="open"),
        e("2026-10-03T12:00:00Z", "priority", SARAH, to="critical"),
        e("2026-10-03T12:01:00Z", "escalate", SARAH, to="L2", reason="integration"),
        e("2026-10-03T12:30:00Z", "reply", SARAH, public=False, body="Validator bug"),
        e("2026-10-03T13:10:00Z", "status", SARAH, to="solved"),
        e("2026-10-03T15:00:00Z", "csat", DANA, rating=5, comment="Quick fix"),
    ],
}


@pytest.fixture
def staff(make_user):
    return {
        "mike": make_user(Role.agent, email=MIKE, name="Mike Chen"),
        "sarah": make_user(Role.agent, email=SARAH, name="Sarah Johnson"),
        "emily": make_user(Role.senior_agent, email=EMILY, name="Emily Davis"),
        "robert": make_user(Role.manager, email=ROBERT, name="Robert Taylor"),
    }


def line(**changes) -> dict:
    """A copy of the example line with some top-level fields replaced."""
    data = json.loads(json.dumps(EXAMPLE))
    data.update(changes)
    return data


def simple(external_id: str, *events: dict, **fields) -> dict:
    """A small valid line: a medium ticket of a new customer, with ``events``."""
    data = {
        "external_id": external_id,
        "subject": f"Question {external_id}",
        "description": "How do I export?",
        "priority": "medium",
        "requester": {"email": OLGA, "name": "Olga Berg", "organization": "Acme Renewables Inc."},
        "created_at": "2026-10-01T09:00:00Z",
        "events": list(events),
    }
    data.update(fields)
    return data


def run(*lines, **options):
    raw = [item if isinstance(item, str | bytes) else json.dumps(item) for item in lines]
    return import_lines(raw, now=options.pop("now", NOW), **options)


def stored(external_id: str) -> Ticket | None:
    return db.session.scalar(select(Ticket).where(Ticket.external_id == external_id))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def history(ticket: Ticket) -> list[tuple]:
    events = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.created_at, TicketEvent.id)
    )
    emails = dict(db.session.execute(select(User.id, User.email)).all())
    return [
        (e.kind.value, emails.get(e.author_id), e.field, e.old_value, e.new_value, e.created_at, e.ticket_version)
        for e in events
    ]


# --------------------------------------------------------------------------- the example line


def test_the_example_line_imports_with_its_history_final_state_and_requester(staff):
    result = run(EXAMPLE)

    assert (result.imported, result.already_imported, result.errors) == (1, 0, [])
    ticket = stored("ZD-48211")
    assert ticket.subject == "Bulk import rejects kWh" and ticket.description == "Row 12 fails with a unit error"
    assert (ticket.status.value, ticket.priority.value, ticket.tier.value, ticket.channel.value) == (
        "solved",
        "critical",
        "L2",
        "email",
    )
    assert ticket.category.slug == "data" and ticket.assignee_id == staff["mike"].id
    assert ticket.created_at == at("2026-10-03T07:41:12Z")
    assert ticket.updated_at == ticket.solved_at == at("2026-10-03T13:10:00Z") and ticket.closed_at is None
    assert ticket.first_response_at == at("2026-10-03T08:02:40Z")
    assert ticket.version == 10  # one per change; a rating changes nothing on the ticket
    dana = ticket.requester
    assert (dana.email, dana.name, dana.role, dana.organization.name) == (
        "dana@demo.test",
        "Dana Whitfield",
        Role.customer,
        "Demo Manufacturing plc",
    )
    assert ticket.organization_id == dana.organization_id
    assert dana.password_hash == UNUSABLE_PASSWORD and authenticate("dana@demo.test", UNUSABLE_PASSWORD) is None

    mike, sarah, dana_email = MIKE, SARAH, DANA
    assert history(ticket) == [
        ("created", dana_email, None, None, None, at("2026-10-03T07:41:12Z"), 1),
        ("field_change", mike, "assignee", None, "Mike Chen", at("2026-10-03T07:55:02Z"), 2),
        ("public_reply", mike, None, None, None, at("2026-10-03T08:02:40Z"), 3),
        ("field_change", mike, "status", "new", "pending", at("2026-10-03T08:03:00Z"), 4),
        ("public_reply", dana_email, None, None, None, at("2026-10-03T11:20:13Z"), 5),
        ("field_change", dana_email, "status", "pending", "open", at("2026-10-03T11:20:13Z"), 6),
        ("field_change", sarah, "priority", "high", "critical", at("2026-10-03T12:00:00Z"), 7),
        ("field_change", sarah, "tier", "L1", "L2", at("2026-10-03T12:01:00Z"), 8),
        ("internal_note", sarah, None, None, None, at("2026-10-03T12:30:00Z"), 9),
        ("field_change", sarah, "status", "open", "solved", at("2026-10-03T13:10:00Z"), 10),
    ]
    events = {
        e.created_at: e for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
    }
    assert events[at("2026-10-03T07:55:02Z")].new_user_id == staff["mike"].id
    assert events[at("2026-10-03T12:01:00Z")].body == "Integration"
    assert events[at("2026-10-03T07:41:12Z")].body == "Row 12 fails with a unit error"


def test_the_example_lines_sla_facts_tier_spans_and_rating(staff):
    run(EXAMPLE)
    ticket = stored("ZD-48211")

    # High (1 h / 8 h): the first public staff reply at 08:02:40 (21 min in) meets the first response. Resolution
    # ran 07:41:12–08:03:00 (21 min 48 s), paused in pending until 11:20:13, ran to 13:10 (+1 h 49 min 47 s): 2 h
    # 11 min 35 s in all; the raise to critical at 12:00 (limit 4 h, 1 h 1 min 35 s elapsed) breaches nothing.
    assert ticket.first_response_achieved_at == ticket.first_response_decided_at == at("2026-10-03T08:02:40Z")
    assert ticket.resolution_achieved_at == ticket.resolution_decided_at == at("2026-10-03T13:10:00Z")
    assert ticket.first_response_breached_at is None and ticket.resolution_breached_at is None
    assert sla.decision(ticket, "first_response", NOW) == ("met", at("2026-10-03T08:02:40Z"), None)
    assert sla.decision(ticket, "resolution", NOW) == ("met", at("2026-10-03T13:10:00Z"), None)
    assert ticket.paused_since == at("2026-10-03T13:10:00Z") and ticket.sla_check_at is None
    assert count(SlaEvent, SlaEvent.ticket_id == ticket.id) == 0

    spans = db.session.scalars(select(TierSpan).where(TierSpan.ticket_id == ticket.id).order_by(TierSpan.id)).all()
    assert [(s.tier.value, s.started_at, s.ended_at, s.reason) for s in spans] == [
        ("L1", at("2026-10-03T07:41:12Z"), at("2026-10-03T12:01:00Z"), None),
        ("L2", at("2026-10-03T12:01:00Z"), None, "Integration"),
    ]
    survey = db.session.scalar(select(CsatSurvey).where(CsatSurvey.ticket_id == ticket.id))
    assert (survey.state.value, survey.rating, survey.comment, survey.cycle, survey.source) == (
        "answered",
        5,
        "Quick fix",
        1,
        "import",
    )
    assert survey.rated_at == at("2026-10-03T15:00:00Z") and survey.offered_at == at("2026-10-03T13:10:00Z")
    assert survey.expires_at == at("2026-10-03T13:10:00Z") + timedelta(days=14)
    assert survey.requester_id == ticket.requester_id


def test_breaches_and_at_risk_crossings_are_recorded_at_their_logical_instants(staff):
    # medium (4 h / 24 h): at risk at 3 h (75 %); raised to high (1 h) at 3 h 30 min: breached at the raise
    raised = simple(
        "ZD-1",
        e("2026-10-01T12:30:00Z", "priority", MIKE, to="high"),
        e("2026-10-01T13:00:00Z", "reply", MIKE, public=True, body="On it"),
    )
    # low (24 h / 72 h): met by the reply at 1 h; resolution 2 h, paused five days, due 70 h after the resume
    paused = simple(
        "ZD-2",
        e("2026-10-01T10:00:00Z", "reply", MIKE, public=True, body="Hi"),
        e("2026-10-01T11:00:00Z", "status", MIKE, to="pending"),
        e("2026-10-06T11:00:00Z", "status", None, to="open"),
        priority="low",
    )
    result = run(raised, paused)
    assert result.errors == [] and result.imported == 2

    first = stored("ZD-1")
    assert first.first_response_breached_at == first.first_response_decided_at == at("2026-10-01T12:30:00Z")
    assert first.first_response_breach_priority == "high"
    assert first.first_response_achieved_at == at("2026-10-01T13:00:00Z")
    # resolution under high (8 h), never solved: at risk at 6 h, breached at 8 h
    assert first.resolution_breached_at == at("2026-10-01T17:00:00Z") and first.resolution_breach_priority == "high"
    second = stored("ZD-2")
    assert second.first_response_achieved_at == at("2026-10-01T10:00:00Z") and second.first_response_breached_at is None
    # 2 h before the pause; 70 h left from 6 Oct 11:00 → due 9 Oct 09:00, at risk (54 h) at 8 Oct 15:00
    assert second.resolution_breached_at == at("2026-10-09T09:00:00Z")

    crossings = sorted((e.ticket_id, e.target.value, e.kind.value, e.at) for e in db.session.scalars(select(SlaEvent)))
    assert crossings == sorted(
        [
            (first.id, "first_response", "at_risk", at("2026-10-01T12:00:00Z")),
            (first.id, "first_response", "breached", at("2026-10-01T12:30:00Z")),
            (first.id, "resolution", "at_risk", at("2026-10-01T15:00:00Z")),
            (first.id, "resolution", "breached", at("2026-10-01T17:00:00Z")),
            (second.id, "resolution", "at_risk", at("2026-10-08T15:00:00Z")),
            (second.id, "resolution", "breached", at("2026-10-09T09:00:00Z")),
        ]
    )
    assert sla.ticket_sla(second, NOW)["resolution"]["state"] == "breached"


def test_the_stored_sla_facts_are_what_the_engine_derives_from_the_stored_history(staff):
    lines = [EXAMPLE, simple("ZD-1", e("2026-10-01T12:30:00Z", "priority", MIKE, to="critical"), priority="low")]
    lines.append(simple("ZD-2", STAFF_REPLY, SOLVE, e("2026-10-02T10:00:00Z", "status", OLGA, to="open")))
    run(*lines)
    for ticket in db.session.scalars(select(Ticket)):
        columns = {c: getattr(ticket, c) for c in SLA_COLUMNS}
        crossings = count(SlaEvent, SlaEvent.ticket_id == ticket.id)
        assert sla.refresh(ticket, NOW, notify=False) == []  # history and recorded facts read back from the rows
        assert {c: getattr(ticket, c) for c in SLA_COLUMNS} == columns
        assert count(SlaEvent, SlaEvent.ticket_id == ticket.id) == crossings
    assert count(SlaEvent) > 0


def test_reopens_ratings_per_resolution_tier_changes_and_the_system(staff):
    data = simple(
        "ZD-3",
        e("2026-10-01T09:00:00Z", "tier", None, to="L2"),
        e("2026-10-01T10:00:00.250000Z", "status", OLGA, to="solved"),
        e("2026-10-01T11:00:00Z", "csat", OLGA, rating=2),
        e("2026-10-02T09:00:00Z", "status", EMILY, to="open"),
        e("2026-10-02T10:00:00Z", "escalate", EMILY, to="engineering", reason="bug", external_ref="JIRA-42"),
        e("2026-10-02T12:00:00+02:00", "assign", None, to=ROBERT),
        e("2026-10-03T09:00:00Z", "status", ROBERT, to="solved"),
        e("2026-10-04T09:00:00Z", "status", None, to="closed"),
        e("2026-10-04T10:00:00Z", "csat", "OLGA@acme.test", rating=4, comment="ok"),
    )
    assert run(data).errors == []
    ticket = stored("ZD-3")
    assert (ticket.status.value, ticket.tier.value, ticket.assignee_id) == ("closed", "engineering", staff["robert"].id)
    # first response: the first entry into solved (no staff reply); resolution: the last one
    assert ticket.first_response_achieved_at == at("2026-10-01T10:00:00.250000Z")
    assert ticket.first_response_at is None
    assert ticket.resolution_achieved_at == ticket.solved_at == at("2026-10-03T09:00:00Z")
    assert ticket.closed_at == at("2026-10-04T09:00:00Z")
    tiers = db.session.scalars(select(TicketEvent).where(TicketEvent.field == "tier").order_by(TicketEvent.id)).all()
    assert [(e.author_id, e.old_value, e.new_value, e.body) for e in tiers] == [
        (None, "L1", "L2", ""),
        (staff["emily"].id, "L2", "engineering", "Bug · external issue JIRA-42"),
    ]
    spans = db.session.scalars(select(TierSpan).where(TierSpan.ticket_id == ticket.id).order_by(TierSpan.id)).all()
    assert [(s.tier.value, s.started_at, s.ended_at, s.reason) for s in spans] == [
        ("L2", at("2026-10-01T09:00:00Z"), at("2026-10-02T10:00:00Z"), None),  # the routing rule at creation
        ("engineering", at("2026-10-02T10:00:00Z"), at("2026-10-04T09:00:00Z"), "Bug · external issue JIRA-42"),
    ]
    surveys = db.session.scalars(select(CsatSurvey).order_by(CsatSurvey.cycle)).all()
    assert [(s.cycle, s.rating, s.offered_at, s.rated_at) for s in surveys] == [
        (1, 2, at("2026-10-01T10:00:00.250000Z"), at("2026-10-01T11:00:00Z")),
        (2, 4, at("2026-10-03T09:00:00Z"), at("2026-10-04T10:00:00Z")),
    ]


# --------------------------------------------------------------------------- invalid lines


STAFF_REPLY = e("2026-10-01T09:30:00Z", "reply", MIKE, public=True, body="Hi")
SOLVE = e("2026-10-01T10:00:00Z", "status", MIKE, to="solved")
CLOSE = e("2026-10-01T11:00:00Z", "status", MIKE, to="closed")
LATER = "2026-10-01T12:00:00Z"


def ev(kind: str, author: str | None = MIKE, **fields) -> dict:
    return e(fields.pop("when", LATER), kind, author, **fields)


def bad(*events: dict, **fields) -> dict:
    return simple("ZD-BAD", *events, **fields)


INVALID = [
    ('{"external_id": "ZD-BAD", ', "bad JSON"),
    ("[1, 2, 3]", "a line must be one JSON object"),
    (bad(colour="red"), "ticket: unknown field colour"),
    ({k: v for k, v in bad().items() if k != "subject"}, "ticket: missing subject"),
    (bad(requester={"email": "x@acme.test", "name": "X", "phone": "1"}), "requester: unknown field phone"),
    (bad(ev("status", to="open", colour="red")), "event 1 (status): unknown field colour"),
    (bad(ev("merge")), 'event 1: unknown type "merge"'),
    (bad(priority="urgent"), 'priority: unknown value "urgent"'),
    (bad(channel="fax"), 'channel: unknown value "fax"'),
    (bad(category="billing"), 'category: unknown category "billing"'),
    (bad(ev("status", to="reopened")), 'event 1 (status): to: unknown value "reopened"'),
    (bad(subject=12), "subject: must be a string, not 12"),
    (bad(ev("reply", public="yes", body="x")), "event 1 (reply): public: must be true or false"),
    (bad(SOLVE, ev("csat", OLGA, rating="5")), "event 2 (csat): rating: an integer from 1 to 5"),
    (bad(SOLVE, ev("csat", OLGA, rating=6)), "rating: an integer from 1 to 5, not 6"),
    (bad(created_at="2026-10-01 09:00"), 'created_at: "2026-10-01 09:00" is not an instant'),
    (bad(ev("status", to="open", when="2026-10-01T12:00:00")), "event 1 (status): at:"),
    (bad(created_at="2026-02-30T09:00:00Z"), "is not a valid date and time"),
    (bad(created_at="2026-10-01T09:00:00.123456789Z"), "at most 6 decimals"),
    (bad(ev("status", to="open", when="2026-11-01T00:00:00Z")), "at: 2026-11-01T00:00:00Z is in the future"),
    (bad(STAFF_REPLY, ev("status", to="open", when="2026-10-01T09:10:00Z")), "event 2 (status): events out of order"),
    (bad(ev("status", to="open", when="2026-10-01T08:00:00Z")), "event 1 (status): events out of order"),
    (
        bad(ev("reply", "nobody@support.test", public=True, body="x")),
        "author: unknown staff email 'nobody@support.test'",
    ),
    (bad(ev("assign", to="nobody@support.test")), "event 1 (assign): to: unknown staff email 'nobody@support.test'"),
    (
        bad(ev("reply", "customer@demo.test", public=True, body="x")),
        "'customer@demo.test' is neither staff nor the requester",
    ),
    (bad(ev("assign", to="customer@demo.test")), "to: 'customer@demo.test' is not staff"),
    (bad(ev("reply", OLGA, public=False, body="x")), "an internal note (public: false) needs a staff author"),
    (bad(ev("priority", OLGA, to="high")), "is not staff (only staff can change the priority)"),
    (bad({"at": LATER, "type": "status", "to": "open"}), "event 1 (status): missing author"),
    (
        bad(ev("reply", None, public=True, body="x")),
        "null (the System) is accepted for assign, escalate, status, tier only",
    ),
    (bad(ev("status", to="new")), "event 1 (status): the ticket is already new"),
    (bad(ev("status", to="closed")), "closed only follows solved (the ticket is new)"),
    (bad(SOLVE, CLOSE, ev("status", to="open")), "event 3 (status): nothing follows closed"),
    (bad(SOLVE, CLOSE, ev("reply", public=True, body="x")), "a closed ticket takes no public replies"),
    (bad(ev("escalate", to="L1", reason="integration")), "to: L1 is not above the current tier L1"),
    (bad(ev("escalate", to="L2", reason="bug")), 'reason: "bug" is not a reason to escalate to L2'),
    (bad(ev("escalate", to="L2", reason="sla_breached")), 'reason: "sla_breached" is not a reason'),
    (bad(ev("csat", OLGA, rating=4)), "a rating follows a solve (the ticket is new)"),
    (bad(SOLVE, ev("csat", rating=4)), "event 2 (csat): a rating is given by the requester"),
    (
        bad(SOLVE, ev("csat", OLGA, rating=4, when="2026-10-01T11:00:00Z"), ev("csat", OLGA, rating=5)),
        "event 3 (csat): this resolution was already rated",
    ),
    (bad(requester={"email": "new@acme.test"}), "requester.name: required for a new customer"),
    (bad(requester={"email": "not-an-email", "name": "X"}), 'requester.email: "not-an-email" is not an email address'),
    (bad(subject="x" * 201), "subject: at most 200 characters"),
    (bad(description="a\x00b"), "description: contains a NUL character"),
    ('{"external_id": "ZD-BAD", "external_id": "ZD-BAD2"}', "the key 'external_id' appears twice"),
    (b'{"external_id": "ZD-BAD", "subject": "\xff"}', "not UTF-8"),
    (simple(""), "external_id: required"),
]


@pytest.mark.parametrize(("invalid", "reason"), INVALID, ids=[r for _, r in INVALID])
def test_an_invalid_line_is_reported_with_its_number_and_reason_and_stores_nothing(staff, make_user, invalid, reason):
    make_user(Role.customer, email="customer@demo.test")
    users, orgs = count(User), count(Organization)
    first = simple("ZD-OK-1", requester={"email": "ivan@other.test", "name": "Ivan", "organization": "Other Ltd"})
    result = run(first, invalid, simple("ZD-OK-2", requester={"email": "ivan@other.test"}))

    assert [(e.line, e.reason) for e in result.errors] == [(2, result.errors[0].reason)]
    assert reason in result.errors[0].reason, result.errors[0].reason
    assert result.imported == 2 and stored("ZD-OK-1") and stored("ZD-OK-2")
    assert stored("ZD-BAD") is None and count(Ticket) == 2
    # the bad line's new customer (olga@acme.test) and organization were not created: only Ivan and Other Ltd
    assert (count(User), count(Organization)) == (users + 1, orgs + 1)
    assert count(TicketEvent, TicketEvent.ticket_id.not_in(result.imported_ids)) == 0


def test_a_duplicate_external_id_within_the_file_is_an_error_on_its_second_line(staff):
    result = run(simple("ZD-1"), simple("ZD-2"), simple("ZD-1", subject="Again"))
    assert [(e.line, e.reason) for e in result.errors] == [(3, "external_id 'ZD-1' is already on line 1")]
    assert stored("ZD-1").subject == "Question ZD-1" and result.imported == 2


def test_a_line_that_fails_to_store_loses_only_itself(staff, make_user, monkeypatch):
    """Another process stores ZD-2 between the check and the store: the chunk is stored line by line instead."""
    check = history_import._check_chunk
    requester = make_user(Role.customer, email="someone@else.test")

    def racing(*args, **kwargs):
        plans = check(*args, **kwargs)
        db.session.add(Ticket(subject="x", description="x", requester_id=requester.id, external_id="ZD-2"))
        db.session.commit()
        return plans

    monkeypatch.setattr(history_import, "_check_chunk", racing)
    result = run(simple("ZD-1"), simple("ZD-2"), simple("ZD-3"))
    assert result.imported == 2 and [e.line for e in result.errors] == [2]
    assert result.errors[0].reason.startswith("could not be stored")
    assert stored("ZD-1") and stored("ZD-3") and count(User, User.email == "olga@acme.test") == 1


# --------------------------------------------------------------------------- idempotence, dry runs, nothing sent


def test_importing_the_same_file_again_imports_nothing_new(staff):
    lines = [EXAMPLE, simple("ZD-1"), simple("ZD-2", requester={"email": "Olga@ACME.test"})]
    first = run(*lines, batch_size=2)
    assert (first.imported, first.already_imported) == (3, 0)
    counts = [count(m) for m in (Ticket, TicketEvent, User, Organization, SlaEvent, TierSpan, CsatSurvey)]

    again = run(*lines, batch_size=2)
    assert (again.imported, again.already_imported, again.errors) == (0, 3, [])
    assert [count(m) for m in (Ticket, TicketEvent, User, Organization, SlaEvent, TierSpan, CsatSurvey)] == counts
    assert count(User, func.lower(User.email) == "olga@acme.test") == 1  # matched by email in any case


def test_requesters_and_organizations_are_matched_before_anything_is_created(staff, make_org, make_user):
    acme = make_org("Acme Renewables Inc.", "acme.test")
    olga = make_user(Role.customer, email="olga@acme.test", name="Olga", organization=acme)
    run(
        simple("ZD-1", requester={"email": "OLGA@acme.test"}),
        simple("ZD-2", requester={"email": "new@acme.test", "name": "N"}),
    )
    assert stored("ZD-1").requester_id == olga.id and stored("ZD-1").organization_id == acme.id
    newcomer = stored("ZD-2").requester
    assert newcomer.organization_id == acme.id  # the organization owning the email's domain, as at sign-up
    run(simple("ZD-3", requester={"email": "x@y.test", "name": "X", "organization": "acme renewables inc."}))
    assert stored("ZD-3").organization_id == acme.id and count(Organization) == 1


def test_a_dry_run_checks_everything_and_stores_nothing(staff):
    counts = [count(m) for m in (Ticket, TicketEvent, User, Organization, CsatSurvey)]
    unknown = bad(ev("reply", "nobody@support.test", public=True, body="x"))
    result = run(EXAMPLE, unknown, simple("ZD-1"), dry_run=True)
    assert result.dry_run and result.imported == 2 and [e.line for e in result.errors] == [2]
    assert "unknown staff email" in result.errors[0].reason
    assert [count(m) for m in (Ticket, TicketEvent, User, Organization, CsatSurvey)] == counts


def test_the_import_sends_nothing(staff):
    before = count(OutboxMessage)
    result = run(EXAMPLE, simple("ZD-1", SOLVE))
    assert result.imported == 2
    assert count(OutboxMessage) == before == 0


def test_imported_tickets_are_found_by_search(staff):
    recreate_index(TICKET_INDEX)  # ids restart with every test: documents of an earlier test must not linger
    run(EXAMPLE, simple("ZD-1", STAFF_REPLY, subject="Quarterly geothermal export"))
    ticket, other = stored("ZD-48211"), stored("ZD-1")
    agent = staff["mike"]
    assert [h.ticket_id for h in search_tickets(agent, "geothermal").hits] == [other.id]
    assert [h.ticket_id for h in search_tickets(agent, "validator").hits] == [ticket.id]  # its internal note
    dana = ticket.requester
    assert [h.ticket_id for h in search_tickets(dana, "kWh").hits] == [ticket.id]
    assert search_tickets(dana, "validator").hits == []  # customers never match internal notes


# --------------------------------------------------------------------------- the command


def write(path, *lines) -> str:
    with open(path, "wb") as out:
        for item in lines:
            raw = item if isinstance(item, bytes) else (item if isinstance(item, str) else json.dumps(item)).encode()
            out.write(raw + b"\n")
    return str(path)


def test_the_command_shows_progress_and_a_summary_and_exits_0(staff, runner, tmp_path):
    path = write(tmp_path / "tickets.jsonl", EXAMPLE, "", simple("ZD-1"), simple("ZD-2"))
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(args=["tickets", "import", path, "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "Importing" in result.stderr and "2 lines: 2 imported" in result.stderr and "lines/s" in result.stderr
    assert "3 imported, 0 already imported, 0 failed" in result.stdout
    assert count(Ticket) == 3
    with time_machine.travel(NOW, tick=False):
        again = runner.invoke(args=["tickets", "import", path])
    assert again.exit_code == 0 and "0 imported, 3 already imported, 0 failed" in again.stdout


def test_the_command_reports_failed_lines_and_exits_1(staff, runner, tmp_path):
    unknown = bad(ev("reply", "nobody@support.test", public=True, body="x"))
    path = write(tmp_path / "tickets.jsonl", simple("ZD-1"), unknown, "{oops")
    errors = tmp_path / "errors.jsonl"
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(args=["tickets", "import", path, "--errors", str(errors)])
    assert result.exit_code == 1
    assert "line 2: event 1 (reply): author: unknown staff email 'nobody@support.test'" in result.stdout
    assert "line 3: bad JSON" in result.stdout
    assert "1 imported, 0 already imported, 2 failed" in result.stdout
    reported = [json.loads(x) for x in errors.read_text().splitlines()]
    assert [(r["line"], r["external_id"]) for r in reported] == [(2, "ZD-BAD"), (3, None)]
    assert stored("ZD-1") is not None and count(Ticket) == 1


def test_the_command_dry_run_stores_nothing(staff, runner, tmp_path):
    path = write(tmp_path / "tickets.jsonl", EXAMPLE)
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(args=["tickets", "import", path, "--dry-run"])
    assert result.exit_code == 0 and "1 would be imported (dry run: nothing stored)" in result.stdout
    assert count(Ticket) == 0


def test_the_command_exits_2_for_a_missing_or_unreadable_file(runner, tmp_path):
    result = runner.invoke(args=["tickets", "import", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "Cannot read" in result.stderr
    result = runner.invoke(args=["tickets", "import", str(tmp_path)])
    assert result.exit_code == 2
    help_text = runner.invoke(args=["tickets", "import", "--help"]).output
    assert "0 when no line failed, 1 when some lines failed" in " ".join(help_text.split())


def test_the_api_finds_an_imported_ticket_by_its_external_id(staff, client):
    run(EXAMPLE)
    _, staff_token = create_api_token(staff["mike"])
    db.session.commit()
    found = client.get("/api/v1/tickets?external_id=ZD-48211", headers={"Authorization": f"Bearer {staff_token}"})
    assert found.status_code == 200
    (ticket,) = found.get_json()["tickets"]
    assert ticket["external_id"] == "ZD-48211" and ticket["status"] == "solved" and ticket["priority"] == "critical"
    assert ticket["sla"]["first_response"]["achieved_at"] == "2026-10-03T08:02:40Z"
    assert ticket["sla"]["resolution"]["state"] == "met"
    none = client.get("/api/v1/tickets?external_id=ZD-0", headers={"Authorization": f"Bearer {staff_token}"})
    assert none.get_json()["tickets"] == []


# --------------------------------------------------------------------------- export


def _wipe_tickets() -> None:
    for model in (SlaEvent, TierSpan, CsatSurvey, TicketEvent, Ticket):
        db.session.execute(delete(model))
    db.session.execute(delete(User).where(User.password_hash == UNUSABLE_PASSWORD))
    members = select(User.organization_id).where(User.organization_id.is_not(None))
    db.session.execute(delete(Organization).where(Organization.id.not_in(members)))
    db.session.commit()


def test_export_gives_back_the_imported_line_and_export_import_export_is_stable(staff, runner, tmp_path):
    lines = [
        EXAMPLE,
        simple(
            "ZD-1",
            e("2026-10-01T09:00:00Z", "tier", None, to="L2"),
            STAFF_REPLY,
            SOLVE,
            e("2026-10-01T10:00:00Z", "csat", OLGA, rating=3),
            e("2026-10-01T10:00:00Z", "status", OLGA, to="open"),
            e("2026-10-01T10:30:00.5Z", "escalate", EMILY, to="manager", reason="customer_escalation"),
            e("2026-10-01T11:00:00Z", "assign", None, to=ROBERT),
            e("2026-10-01T12:00:00Z", "category", ROBERT, to="data"),
            e("2026-10-01T12:00:00Z", "assign", ROBERT, to=None),
        ),
    ]
    assert run(*lines).errors == []
    exported = ticket_lines(list(db.session.scalars(select(Ticket).order_by(Ticket.id))))
    assert exported[0] == EXAMPLE  # the example comes back exactly
    assert exported[1]["events"][5]["at"] == "2026-10-01T10:30:00.500000Z"
    assert [e["type"] for e in exported[1]["events"]] == [e["type"] for e in lines[1]["events"]]

    path = tmp_path / "export.jsonl"
    result = runner.invoke(args=["tickets", "export", str(path)])
    assert result.exit_code == 0 and "Exported 2 tickets" in result.stderr
    first = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in first] == exported

    _wipe_tickets()
    assert run(*first).errors == []
    runner.invoke(args=["tickets", "export", str(path)])
    assert path.read_text(encoding="utf-8").splitlines() == first


def test_a_ticket_lived_through_the_services_exports_to_a_line_that_imports_to_the_same_sla_facts(
    staff, make_org, make_user
):
    org = make_org("Acme Renewables Inc.", "acme.test")
    olga = make_user(Role.customer, email="olga@acme.test", name="Olga Berg", organization=org)
    t0 = datetime(2026, 10, 1, 9, 0, 0, 123_000, tzinfo=UTC)
    mike, emily = staff["mike"], staff["emily"]
    steps = [
        (20, lambda t: ticket_service.assign_ticket(mike, t, mike.id, expected_version=t.version)),
        (50, lambda t: ticket_service.reply_to_ticket(mike, t, "Please send the file.", status="pending")),
        (200, lambda t: ticket_service.reply_to_ticket(olga, t, "Here it is.")),  # reopens from pending
        (30, lambda t: ticket_service.change_priority(mike, t, "critical", expected_version=t.version)),
        (
            5,
            lambda t: ticket_service.escalate_ticket(
                emily, t, to_tier="manager", reason="sla_at_risk", expected_version=t.version
            ),
        ),
        (90, lambda t: ticket_service.change_status(emily, t, "solved", expected_version=t.version)),
    ]
    moment = t0
    with time_machine.travel(moment, tick=False):
        ticket = ticket_service.create_ticket(
            olga, subject="Integration key leaked", description="Rotate it", category="integration", priority="high"
        )
        db.session.commit()
    for minutes, act in steps:
        moment += timedelta(minutes=minutes)
        with time_machine.travel(moment, tick=False):
            act(ticket)
            db.session.commit()
    lived = {c: getattr(ticket, c) for c in SLA_COLUMNS}
    exported = ticket_line(ticket)
    assert exported["external_id"] == ticket.reference
    assert exported["events"][0] == {"at": sla.iso(t0), "type": "tier", "author": None, "to": "L2"}  # routing's rule

    _wipe_tickets()
    result = run(exported)
    assert result.errors == []
    imported = db.session.get(Ticket, result.imported_ids[0])
    assert {c: getattr(imported, c) for c in SLA_COLUMNS} == lived
    assert ticket_line(imported) == exported


SLA_COLUMNS = [
    f"{target}_{column}"
    for target in ("first_response", "resolution")
    for column in ("achieved_at", "breached_at", "breach_priority", "decided_at", "due")
] + ["status", "priority", "tier", "first_response_at", "solved_at", "paused_since", "sla_check_at"]


def test_events_at_one_instant_apply_in_file_order(staff):
    data = simple(
        "ZD-1",
        e("2026-10-01T10:00:00Z", "status", MIKE, to="solved"),
        e("2026-10-01T10:00:00Z", "status", OLGA, to="open"),
        e("2026-10-01T10:00:00Z", "reply", OLGA, public=True, body="More"),
    )
    run(data)
    ticket = stored("ZD-1")
    assert [h[4] for h in history(ticket)[1:3]] == ["solved", "open"] and ticket.status.value == "open"
    assert ticket.resolution_achieved_at is None and ticket.first_response_achieved_at == at("2026-10-01T10:00:00Z")
    assert [e.kind for e in db.session.scalars(select(TicketEvent).order_by(TicketEvent.id))][
        -1
    ] is EventKind.public_reply
