"""Demo data: the support team of the operations guide's sample roster, two customer organizations and realistic
tickets.

Idempotent: running it twice changes nothing. Users are matched by email; a demo user whose role, shift, time zone or
specializations differ (an older seed's team) is set back to ``TEAM``, keeping its password. Tickets are seeded once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OnCall, Organization, Role, ShiftRegion, Ticket, TicketEvent, User, utcnow
from portal.services import csat
from portal.services import tickets as ticket_service
from portal.services.accounts import hash_password
from portal.services.catalog import DEFAULT_CATEGORIES, ensure_default_categories
from portal.services.kb.seed import seed_kb
from portal.services.roster import seed_roster
from portal.services.status.components import seed_demo as seed_status
from portal.services.widget.sites import seed_demo as seed_widget

DEMO_PASSWORD = "demo-pass-2026"

ALL_CATEGORIES = [slug for slug, _, _ in DEFAULT_CATEGORIES]


@dataclass(frozen=True)
class Member:
    """One position of the demo team; the email is firstname.lastname@support.test."""

    name: str
    role: Role
    shift: ShiftRegion
    timezone: str
    specializations: tuple[str, ...]

    @property
    def email(self) -> str:
        return self.name.lower().replace(" ", ".") + "@support.test"


# The operations guide's sample roster: per shift two L1 agents and one L2 senior agent, plus a manager and an admin
# on flexible hours (no shift). The guide's UTC+0 / UTC+8 / UTC-5 are London, Singapore and New York.
TEAM = [
    Member("John Smith", Role.senior_agent, ShiftRegion.emea, "Europe/London", ("technical", "integration")),
    Member("Sarah Johnson", Role.agent, ShiftRegion.emea, "Europe/London", ("account", "data")),
    Member("Tom Baker", Role.agent, ShiftRegion.emea, "Europe/London", ("technical", "general")),
    Member("Mike Chen", Role.agent, ShiftRegion.apac, "Asia/Singapore", ("technical", "training")),
    Member("Emily Davis", Role.senior_agent, ShiftRegion.apac, "Asia/Singapore", ("integration", "data")),
    Member("Priya Patel", Role.agent, ShiftRegion.apac, "Asia/Singapore", ("account", "data")),
    Member("David Wilson", Role.agent, ShiftRegion.amer, "America/New_York", ("technical", "account")),
    Member("Lisa Brown", Role.agent, ShiftRegion.amer, "America/New_York", ("training", "general")),
    Member("Alex Morgan", Role.senior_agent, ShiftRegion.amer, "America/New_York", ("technical", "integration")),
    Member("Robert Taylor", Role.manager, ShiftRegion.flexible, "Europe/London", tuple(ALL_CATEGORIES)),
    Member("Jennifer Lee", Role.admin, ShiftRegion.flexible, "Europe/London", tuple(ALL_CATEGORIES)),
]
MANAGER_EMAIL = next(m.email for m in TEAM if m.role is Role.manager)

ORGANIZATIONS = [
    ("Demo Manufacturing plc", "demo.test", "EMEA", "enterprise", "Pilot customer; CSRD reporting in 2027."),
    ("Acme Renewables Inc.", "acme.test", "AMER", "professional", "Uses the SAP integration and IoT meters."),
]

CUSTOMERS = [
    ("Dana Whitfield", "customer@demo.test", "demo.test", "Europe/London"),
    ("Marco Rossi", "marco.rossi@demo.test", "demo.test", "Europe/Rome"),
    ("Olivia Park", "other@acme.test", "acme.test", "America/New_York"),
]

TICKETS = [
    (
        "Bulk import rejects our Scope 2 electricity file",
        "data",
        "high",
        "Uploading scope2_2026_q3.xlsx fails with 'Row 14: unit kWh not recognised for activity grid_electricity'. "
        "The same template worked last quarter.",
        [
            "Thanks for the file. The unit column needs 'kWh' without the trailing space; the validator became "
            "strict in "
            "release 4.12. I have attached a cleaned template."
        ],
        "solved",
    ),
    (
        "GRI 305 report shows zero emissions for Plant B",
        "data",
        "medium",
        "The generated GRI 305-1 disclosure lists 0 tCO2e for Plant B although we entered fuel data for all 12 months.",
        [
            "Plant B's site is mapped to the 2025 reporting boundary only. Could you confirm whether it should "
            "be in 2026?"
        ],
        "pending",
    ),
    (
        "SAP connector stopped syncing after password rotation",
        "integration",
        "critical",
        "Since this morning the SAP S/4HANA connector shows 'authentication failed'. We rotated the service user's "
        "password yesterday. Our quarterly close depends on this data.",
        [],
        "open",
    ),
    (
        "How do I add a new facility?",
        "training",
        "low",
        "We opened a warehouse in Lyon. Where do I add it so that it appears in the data entry forms?",
        [
            "Go to Admin → Organization → Facilities and choose 'Add facility'. New facilities appear in data "
            "entry after "
            "you assign them to a reporting boundary."
        ],
        "closed",
    ),
    (
        "SSO login loops back to the sign-in page",
        "technical",
        "high",
        "Users from our Azure AD tenant are redirected back to the login page after authenticating (SSO_SAML).",
        [],
        "new",
    ),
    (
        "TCFD scenario analysis export is missing charts",
        "technical",
        "medium",
        "The PDF export of the TCFD report has empty boxes where the scenario charts should be (Chrome 131).",
        [
            "We can reproduce this with Chrome's 'print backgrounds' off. A fix is scheduled; meanwhile use the "
            "PPTX export."
        ],
        "on_hold",
    ),
    (
        "Invite a colleague as a data contributor",
        "account",
        "low",
        "Please add marco.rossi@demo.test as a contributor for the Italian sites.",
        [],
        "solved",
    ),
    (
        "API rate limit too low for our nightly IoT push",
        "integration",
        "medium",
        "Our IoT gateway posts meter readings every 5 minutes for 400 meters and gets HTTP 429 at night.",
        [],
        "open",
    ),
    (
        "Wrong emission factor for diesel in Italy",
        "data",
        "high",
        "The DEFRA 2026 factor is used for our Italian sites; we expected the ISPRA national factor.",
        [],
        "new",
    ),
    (
        "Training session for new sustainability team",
        "training",
        "low",
        "We have four new analysts. Can you run a one-hour onboarding session next month?",
        ["Happy to. Which two dates next month suit your team? Sessions run 60 minutes over video."],
        "pending",
    ),
    (
        "Dashboard loads slowly with 5 years of data",
        "technical",
        "medium",
        "The emissions dashboard takes over 30 seconds when we select 2021–2026.",
        [],
        "open",
    ),
    (
        "SASB metrics mapping for our industry",
        "general",
        "medium",
        "Which SASB standard does the platform pick for a company in Renewable Resources & Alternative Energy?",
        [],
        "new",
    ),
]


def seed(echo: Callable[[str], None] = print) -> dict[str, int]:
    """Create whatever part of the demo data is missing and bring demo staff left by an older seed back to
    ``TEAM``. Returns counts of what was added (and ``users_corrected``)."""
    added = {"categories": ensure_default_categories(), "organizations": 0, "users": 0, "tickets": 0}
    echo(f"[1/4] categories: {added['categories']} added")
    orgs = {}
    for name, domain, region, plan, notes in ORGANIZATIONS:
        org = db.session.scalar(select(Organization).where(Organization.name == name))
        if org is None:
            org = Organization(name=name, email_domains=domain, region=region, plan=plan, notes=notes)
            db.session.add(org)
            added["organizations"] += 1
        orgs[domain] = org
    db.session.flush()
    echo(f"[2/4] organizations: {added['organizations']} added")
    password_hash = hash_password(DEMO_PASSWORD)
    outcomes = []
    for member in TEAM:
        profile = dict(
            name=member.name,
            role=member.role,
            timezone=member.timezone,
            shift_region=member.shift,
            specializations=list(member.specializations),
        )
        outcomes.append(_ensure_user(member.email, profile, password_hash))
    regrouped = any(outcome == "role changed" for outcome in outcomes)
    for name, email, domain, zone in CUSTOMERS:
        profile = dict(name=name, role=Role.customer, timezone=zone, organization=orgs[domain])
        outcomes.append(_ensure_user(email, profile, password_hash))
    added["users"] = outcomes.count("added")
    added["users_corrected"] = len(outcomes) - added["users"] - outcomes.count(None)
    db.session.flush()
    echo(f"[3/4] users: {added['users']} added, {added['users_corrected']} corrected")
    if regrouped:
        _drop_team_on_call()
    added["roster"] = seed_roster()  # shifts and a week of on-call over the senior agents
    added["tickets"] = _seed_tickets(echo)
    echo(f"[4/4] tickets: {added['tickets']} added")
    added["csat_ratings"] = csat.seed_demo_ratings([_user(c[1]).id for c in CUSTOMERS], utcnow())
    added.update(seed_kb(echo))  # help-centre articles and FAQs from portal/kb_content
    added.update({f"status_{k}": v for k, v in seed_status(utcnow()).items()})  # components, a past window
    added.update(seed_widget(echo))  # the support widget embedded by a local demo platform (port 5001)
    return added


def _ensure_user(email: str, profile: dict, password_hash: str) -> str | None:
    """Create the demo user, or set an existing one's profile fields to ``profile`` (the password is left alone).
    Returns "added", "role changed", "corrected" or None when nothing changed."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        db.session.add(
            User(
                email=email,
                password_hash=password_hash,
                email_verified_at=utcnow(),  # seeded accounts sign in at once
                **({"specializations": []} | profile),
            )
        )
        return "added"
    changed = {field for field, value in profile.items() if getattr(user, field) != value}
    for field in changed:
        setattr(user, field, profile[field])
    return "role changed" if "role" in changed else "corrected" if changed else None


def _drop_team_on_call() -> None:
    """The on-call rotation an older seed wrote belongs to its team; once roles moved, remove the demo staff's
    entries so ``seed_roster`` writes a week over the senior agents of ``TEAM``."""
    team_ids = select(User.id).where(User.email.in_([m.email for m in TEAM]))
    for entry in db.session.scalars(select(OnCall).where(OnCall.user_id.in_(team_ids))):
        db.session.delete(entry)
    db.session.flush()


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _seed_tickets(echo: Callable[[str], None]) -> int:
    customers = [_user(email) for _, email, _, _ in CUSTOMERS]
    if db.session.scalar(select(func.count(Ticket.id)).where(Ticket.requester_id.in_([c.id for c in customers]))):
        return 0
    rng = random.Random(2026)
    staff = list(
        db.session.scalars(select(User).where(User.role.in_([Role.agent, Role.senior_agent])).order_by(User.id))
    )
    manager = _user(MANAGER_EMAIL)
    now = utcnow()
    count = 0
    rounds = 3  # the twelve stories, told by different customers at different times: 36 tickets
    for round_no in range(rounds):
        for index, (subject, category, priority, description, answers, final_status) in enumerate(TICKETS):
            customer = customers[(index + round_no) % len(customers)]
            ticket = ticket_service.create_ticket(
                customer,
                subject=subject,
                description=description,
                category=category,
                priority="high" if priority == "critical" else priority,
            )
            if priority == "critical":
                ticket_service.change_priority(manager, ticket, "critical", expected_version=ticket.version)
            if final_status != "new":
                agent = _worker_for(ticket, staff, index + round_no)
                ticket_service.assign_ticket(agent, ticket, agent.id, expected_version=ticket.version)
                ticket_service.reply_to_ticket(
                    agent,
                    ticket,
                    "Checked the customer's configuration: " + subject.lower() + ". Looking into it.",
                    internal=True,
                )
                for answer in answers:
                    ticket_service.reply_to_ticket(agent, ticket, answer)
                if final_status == "open" and ticket.status.value == "new":
                    ticket_service.change_status(agent, ticket, "open", expected_version=ticket.version)
                if final_status in ("pending", "on_hold", "solved", "closed") and ticket.status.value != final_status:
                    target = "solved" if final_status == "closed" else final_status
                    ticket_service.change_status(agent, ticket, target, expected_version=ticket.version)
                    if final_status == "closed":
                        ticket_service.change_status(agent, ticket, "closed", expected_version=ticket.version)
            _backdate(ticket, now - timedelta(days=rng.uniform(*AGE_DAYS[final_status])), rng)
            count += 1
    echo(f"      {count} tickets with their conversations")
    return count


def _worker_for(ticket: Ticket, staff: list[User], turn: int) -> User:
    """The staff member who works a demo ticket: someone of the ticket's tier specialised in its category, taking
    turns; else anyone of the tier; else anyone."""
    category = ticket.category.slug if ticket.category else None
    of_tier = [u for u in staff if u.tier == ticket.tier.value]
    fitting = [u for u in of_tier if category in u.specializations] or of_tier or staff
    return fitting[turn % len(fitting)]


# How long ago a demo ticket was filed, by the status it ends in: open work is recent, solved work older.
AGE_DAYS = {
    "new": (0.004, 0.03),
    "open": (0.03, 0.3),
    "pending": (0.5, 3),
    "on_hold": (0.2, 0.6),
    "solved": (2, 20),
    "closed": (8, 30),
}


def _backdate(ticket: Ticket, created, rng: random.Random) -> None:
    """Spread a freshly seeded ticket's history over the days after ``created`` so the demo looks lived in; its SLA
    facts are derived again from the moved history (as the clock engine does for any ticket)."""
    from portal.models import SlaEvent, TierSpan
    from portal.services import sla

    delta = created - ticket.created_at
    for row in db.session.scalars(select(SlaEvent).where(SlaEvent.ticket_id == ticket.id)):
        db.session.delete(row)
    for span in db.session.scalars(select(TierSpan).where(TierSpan.ticket_id == ticket.id)):
        span.started_at += delta
        span.ended_at = span.ended_at + delta if span.ended_at else None
    events = list(
        db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
    )
    now = utcnow()
    moment = created
    for event in events:
        event.created_at = min(moment, now)
        moment = moment + timedelta(minutes=rng.randint(5, 150))
    ticket.created_at = created
    ticket.updated_at = events[-1].created_at if events else created
    staff_replies = [
        e.created_at for e in events if e.kind.value == "public_reply" and e.author_id != ticket.requester_id
    ]
    ticket.first_response_at = staff_replies[0] if staff_replies else None
    for name in ("solved_at", "closed_at"):
        if getattr(ticket, name) is not None:
            setattr(ticket, name, ticket.updated_at)
    db.session.flush()
    sla.refresh(ticket, now, notify=False, recorded=set())
