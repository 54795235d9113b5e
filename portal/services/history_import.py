"""Importing ticket history from another help desk: JSON Lines, one ticket per line (``docs/import.md``).

``import_lines`` reads the lines in chunks. Each line is decoded and checked completely in memory — its fields, and
its events replayed from the ticket's creation (status new, tier L1, no assignee) against the portal's rules, with
staff matched by email — before anything is written, so a line that fails stores nothing of its ticket. The valid
lines of a chunk are written together: the ticket row with its final state, a ``created`` event, one
``TicketEvent`` per event of the file at its own instant, the tier spans and the answered satisfaction surveys; the
SLA engine then derives every SLA fact from the stored history (``sla.refresh`` as of the import instant, nothing
notified) and the chunk is committed. After the commit its tickets are written to the search index in one writer.
When a chunk cannot be stored, its lines are stored one by one, so only the line that fails is lost.

The import infers nothing and sends nothing: it does not go through ``portal.services.tickets`` (whose effects
route, escalate by rule, offer surveys and notify) and adds no outbox rows. Tickets are matched by ``external_id``:
one already stored is skipped ("already imported"), so importing a file again adds nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, inspect, select

from portal.extensions import db
from portal.models import (
    STAFF_ROLES,
    Category,
    Channel,
    CsatSurvey,
    EventKind,
    Organization,
    Priority,
    Role,
    SlaCheck,
    SlaEvent,
    Status,
    SurveyState,
    Ticket,
    TicketEvent,
    Tier,
    TierSpan,
    User,
    utcnow,
)
from portal.search.documents import ticket_document
from portal.search.schema import TICKET_INDEX
from portal.search.store import index_writer
from portal.services import sla
from portal.services.accounts import normalize_email, organization_for_domain
from portal.services.csat import COMMENT_MAX
from portal.services.errors import ValidationFailed
from portal.services.escalation import EXTERNAL_REF_RE, REASONS, SYSTEM_REASONS
from portal.services.sla_engine import Step

BATCH = 500
SUBJECT_MAX, BODY_MAX, EXTERNAL_ID_MAX, NAME_MAX, EMAIL_MAX = 200, 50_000, 100, 200, 254
# Imported customers cannot sign in until someone sets them a password: no password ever matches this value.
UNUSABLE_PASSWORD = "!imported"

TICKET_FIELDS = frozenset(
    {"external_id", "subject", "description", "category", "priority", "channel", "requester", "created_at", "events"}
)
TICKET_REQUIRED = ("external_id", "subject", "description", "priority", "requester", "created_at")
REQUESTER_FIELDS = frozenset({"email", "name", "organization"})
# Per event type: its own fields (besides at, type and author) and the required ones. ``tier`` is the portal's own
# extension: a tier set directly (an agent's edit, the routing rule by category), not an escalation step.
EVENT_FIELDS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "reply": (frozenset({"public", "body"}), ("public", "body")),
    "status": (frozenset({"to"}), ("to",)),
    "priority": (frozenset({"to"}), ("to",)),
    "category": (frozenset({"to"}), ("to",)),
    "assign": (frozenset({"to"}), ("to",)),
    "escalate": (frozenset({"to", "reason", "external_ref"}), ("to", "reason")),
    "tier": (frozenset({"to"}), ("to",)),
    "csat": (frozenset({"rating", "comment"}), ("rating",)),
}
COMMON_EVENT_FIELDS = frozenset({"at", "type", "author"})
SYSTEM_TYPES = ("assign", "escalate", "status", "tier")  # may have "author": null, the System (routing, rules)
STAFF_TYPES = {  # event types only staff may author, and what they do
    "priority": "change the priority",
    "category": "change the category",
    "assign": "assign a ticket",
    "escalate": "escalate",
    "tier": "change the tier",
}
TIER_ORDER = list(Tier)
INSTANT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str
    external_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "external_id": self.external_id, "reason": self.reason}


@dataclass
class ImportResult:
    lines: int = 0  # non-blank lines read
    imported: int = 0  # tickets stored (with a dry run: that would be stored)
    already_imported: int = 0
    errors: list[LineError] = field(default_factory=list)
    imported_ids: list[int] = field(default_factory=list)
    index_problem: str | None = None  # the search index could not be written (the tickets are stored)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


class LineInvalid(Exception):
    """Why a line is not imported."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- who is who


@dataclass(eq=False)
class OrgRef:
    """An organization the import refers to: a stored row (``id``), or one to create (``id`` None until stored)."""

    name: str
    id: int | None = None


@dataclass(eq=False)
class Person:
    """A user the import refers to: a stored row (``id``), or a customer to create (``id`` None until stored)."""

    email: str
    name: str
    id: int | None = None
    is_staff: bool = False
    organization: OrgRef | None = None


class Directory:
    """Staff (loaded once), categories, and the requesters and organizations of the lines being read (looked up a
    chunk at a time, one query each). Holds the customers and organizations to create, so that the lines of one
    new customer make one user."""

    def __init__(self) -> None:
        self.staff: dict[str, Person] = {
            email.lower(): Person(email, name, user_id, is_staff=True)
            for user_id, email, name in db.session.execute(
                select(User.id, User.email, User.name).where(User.role.in_(STAFF_ROLES))
            )
        }
        self.categories: dict[str, int] = dict(db.session.execute(select(Category.slug, Category.id)).all())
        self.users: dict[str, Person | None] = {}  # lower-case email → the user (None: no such user)
        self.orgs: dict[str, OrgRef | None] = {}  # lower-case name → the organization (None: none of that name)
        self.domains: dict[str, OrgRef | None] = {}

    def prefetch(self, emails: Iterable[str], org_names: Iterable[str]) -> None:
        """Look up the users and organizations of a chunk's lines at once."""
        wanted = sorted({e.lower() for e in emails} - set(self.users))
        if wanted:
            rows = db.session.execute(
                select(User.id, User.email, User.name, User.role, Organization.id, Organization.name)
                .outerjoin(Organization, Organization.id == User.organization_id)
                .where(func.lower(User.email).in_(wanted))
            )
            for user_id, email, name, role, org_id, org_name in rows:
                org = None if org_id is None else self._known_org(org_id, org_name)
                self.users[email.lower()] = Person(email, name, user_id, role in STAFF_ROLES, org)
            for email in wanted:
                self.users.setdefault(email, None)
        names = sorted({n.lower() for n in org_names} - set(self.orgs))
        if names:
            for org_id, name in db.session.execute(
                select(Organization.id, Organization.name).where(func.lower(Organization.name).in_(names))
            ):
                self._known_org(org_id, name)
            for name in names:
                self.orgs.setdefault(name, None)

    def _known_org(self, org_id: int, name: str) -> OrgRef:
        ref = self.orgs.get(name.lower())
        if ref is None:
            ref = self.orgs[name.lower()] = OrgRef(name, org_id)
        return ref

    def user(self, email: str) -> Person | None:
        key = email.lower()
        if key not in self.users:
            self.prefetch([key], [])
        return self.users[key]

    def organization(self, name: str) -> OrgRef:
        """The organization of that name (in any case), else one to create."""
        key = name.lower()
        if key not in self.orgs:
            self.prefetch([], [name])
        ref = self.orgs[key]
        if ref is None:
            ref = self.orgs[key] = OrgRef(name)
        return ref

    def organization_of_domain(self, email: str) -> OrgRef | None:
        """The organization owning the email's domain: where sign-up puts a new customer."""
        domain = email.rsplit("@", 1)[-1].lower()
        if domain not in self.domains:
            org = organization_for_domain(email)
            self.domains[domain] = None if org is None else self._known_org(org.id, org.name)
        return self.domains[domain]


# --------------------------------------------------------------------------- checking one line


@dataclass
class Plan:
    """Everything one valid line stores."""

    line: int
    external_id: str
    requester: Person
    organization: OrgRef | None
    assignee: Person | None
    category: str | None
    ticket: dict[str, Any]  # Ticket columns (no ids of people)
    events: list[dict[str, Any]]  # TicketEvent columns; "author" and "new_user" are Persons (or None)
    spans: list[dict[str, Any]]
    surveys: list[dict[str, Any]]


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise LineInvalid(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str):
    raise LineInvalid(f"bad JSON: {name} is not a number")


def decode(raw: bytes | str) -> dict[str, Any]:
    """The JSON object of one line (``LineInvalid`` when the line is not one)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineInvalid(f"not UTF-8 (byte {exc.start + 1} of the line)") from None
    try:
        data = json.loads(raw, object_pairs_hook=_json_object, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise LineInvalid(f"bad JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise LineInvalid("bad JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise LineInvalid("a line must be one JSON object (a ticket)")
    return data


def parse_instant(value: Any, what: str) -> datetime:
    """An ISO 8601 instant with its zone (``Z`` or ``±hh:mm``), to the microsecond, as UTC."""
    if not isinstance(value, str) or not INSTANT_RE.match(value):
        raise LineInvalid(
            f"{what}: {_show(value)} is not an instant (ISO 8601 with a zone, e.g. 2026-10-03T07:41:12Z, "
            "at most 6 decimals)"
        )
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        raise LineInvalid(f"{what}: {_show(value)} is not a valid date and time") from None


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(data: dict, key: str, what: str, limit: int, *, required: bool = True, blank: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise LineInvalid(f"{what}: must be a string, not {_show(value)}")
    if not blank and not value.strip():
        raise LineInvalid(f"{what}: must not be empty")
    if len(value) > limit:
        raise LineInvalid(f"{what}: at most {limit:,} characters ({len(value):,} given)")
    if "\x00" in value:
        raise LineInvalid(f"{what}: contains a NUL character")
    return value


def _choice(value: Any, enum_cls, what: str):
    if isinstance(value, str) and value in enum_cls._value2member_map_:
        return enum_cls(value)
    raise LineInvalid(f"{what}: unknown value {_show(value)} (one of: {', '.join(m.value for m in enum_cls)})")


def _check_fields(data: dict, allowed: frozenset[str], required: Iterable[str], what: str) -> None:
    prefix = f"{what}: " if what else ""
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise LineInvalid(f"{prefix}unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    missing = [k for k in required if k not in data]
    if missing:
        raise LineInvalid(f"{prefix}missing {', '.join(missing)}")


def external_id_of(data: dict[str, Any]) -> str:
    value = data.get("external_id")
    if not isinstance(value, str) or not value.strip():
        raise LineInvalid("external_id: required, a non-empty string (the ticket's id in the help desk it comes from)")
    if len(value) > EXTERNAL_ID_MAX:
        raise LineInvalid(f"external_id: at most {EXTERNAL_ID_MAX} characters")
    if "\x00" in value:
        raise LineInvalid("external_id: contains a NUL character")
    return value


def requester_fields(data: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(email, name, organization name) of the line's requester object."""
    requester = data.get("requester")
    if not isinstance(requester, dict):
        raise LineInvalid(f"requester: must be an object with email, name and organization, not {_show(requester)}")
    _check_fields(requester, REQUESTER_FIELDS, ("email",), "requester")
    email = _text(requester, "email", "requester.email", EMAIL_MAX, blank=False).strip()
    if not EMAIL_RE.match(email):
        raise LineInvalid(f"requester.email: {_show(email)} is not an email address")
    name = _text(requester, "name", "requester.name", NAME_MAX, required=False)
    org = _text(requester, "organization", "requester.organization", NAME_MAX, required=False)
    if org is not None and not org.strip():
        raise LineInvalid("requester.organization: must not be empty (leave it out instead)")
    return email, (name.strip() or None if name is not None else None), (org.strip() if org is not None else None)


class Replay:
    """One ticket's state while the events of its line are checked and applied in order."""

    def __init__(
        self,
        directory: Directory,
        requester: Person,
        requester_emails: set[str],
        created_at: datetime,
        priority: Priority,
        category: str | None,
        now: datetime,
    ) -> None:
        self.directory, self.requester, self.requester_emails, self.now = directory, requester, requester_emails, now
        self.status, self.priority, self.category, self.tier = Status.new, priority, category, Tier.l1
        self.assignee: Person | None = None
        self.solves, self.last_solve = 0, None
        self.solved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.first_response_at: datetime | None = None
        self.rated_cycles: set[int] = set()
        self.version, self.last_change, self.previous = 1, created_at, created_at
        self.events: list[dict[str, Any]] = []
        self.spans = [{"tier": Tier.l1, "started_at": created_at, "ended_at": None, "reason": None}]
        self.surveys: list[dict[str, Any]] = []

    def apply(self, number: int, data: Any) -> None:
        """Check event ``number`` (1-based) against the ticket's state and apply it."""
        if not isinstance(data, dict):
            raise LineInvalid(f"event {number}: must be an object, not {_show(data)}")
        kind = data.get("type")
        if kind not in EVENT_FIELDS:
            raise LineInvalid(f"event {number}: unknown type {_show(kind)} (one of: {', '.join(EVENT_FIELDS)})")
        try:
            allowed, required = EVENT_FIELDS[kind]
            _check_fields(data, allowed | COMMON_EVENT_FIELDS, ("at", *required), "")
            at = parse_instant(data["at"], "at")
            if at < self.previous:
                raise LineInvalid(f"events out of order: {data['at']} is before the event or creation before it")
            if at > self.now:
                raise LineInvalid(f"at: {data['at']} is in the future")
            author = self._author(data, kind)
            getattr(self, f"_{kind}")(data, at, author)
        except LineInvalid as exc:
            raise LineInvalid(f"event {number} ({kind}): {exc.reason}") from None
        self.previous = at

    def _author(self, data: dict, kind: str) -> Person | None:
        if "author" not in data:
            raise LineInvalid("missing author (a staff email, the requester's email, or null for the System)")
        value = data["author"]
        if value is None:
            if kind not in SYSTEM_TYPES:
                raise LineInvalid(f"author: null (the System) is accepted for {', '.join(SYSTEM_TYPES)} only")
            return None
        if not isinstance(value, str) or not value.strip():
            raise LineInvalid(f"author: must be an email or null, not {_show(value)}")
        email = value.strip().lower()
        if email in self.requester_emails:
            author = self.requester
        elif email in self.directory.staff:
            author = self.directory.staff[email]
        elif self.directory.user(email) is None:
            raise LineInvalid(f"author: unknown staff email {value!r} (staff must exist in the portal)")
        else:
            raise LineInvalid(f"author: {value!r} is neither staff nor the requester")
        if kind in STAFF_TYPES and not author.is_staff:
            raise LineInvalid(f"author: {value!r} is not staff (only staff can {STAFF_TYPES[kind]})")
        return author

    def _event(self, at: datetime, author: Person | None, kind: EventKind, **columns: Any) -> None:
        self.version += 1
        self.last_change = at
        self.events.append(
            {
                "kind": kind,
                "author": author,
                "body": columns.get("body", ""),
                "field": columns.get("field"),
                "old_value": columns.get("old"),
                "new_value": columns.get("new"),
                "new_user": columns.get("new_user"),
                "ticket_version": self.version,
                "created_at": at,
            }
        )

    # ---- the event types

    def _reply(self, data: dict, at: datetime, author: Person) -> None:
        public = data["public"]
        if not isinstance(public, bool):
            raise LineInvalid(f"public: must be true or false, not {_show(public)}")
        body = _text(data, "body", "body", BODY_MAX)
        if not public and not author.is_staff:
            raise LineInvalid("an internal note (public: false) needs a staff author")
        if public and self.status is Status.closed:
            raise LineInvalid("a closed ticket takes no public replies")
        self._event(at, author, EventKind.public_reply if public else EventKind.internal_note, body=body)
        if public and author.is_staff and self.first_response_at is None:
            self.first_response_at = at

    def _status(self, data: dict, at: datetime, author: Person | None) -> None:
        status = _choice(data["to"], Status, "to")
        if self.status is Status.closed:
            raise LineInvalid("nothing follows closed")
        if status is self.status:
            raise LineInvalid(f"the ticket is already {status.value}")
        if status is Status.closed and self.status is not Status.solved:
            raise LineInvalid(f"closed only follows solved (the ticket is {self.status.value})")
        old, self.status = self.status, status
        if status is Status.solved:
            self.solved_at = self.last_solve = at
            self.solves += 1
        elif status is Status.closed:
            self.closed_at = at
            self._close_span(at)
        elif old is Status.solved:
            self.solved_at = None
        self._event(at, author, EventKind.field_change, field="status", old=old.value, new=status.value)

    def _priority(self, data: dict, at: datetime, author: Person) -> None:
        priority = _choice(data["to"], Priority, "to")
        if priority is self.priority:
            raise LineInvalid(f"the priority is already {priority.value}")
        old, self.priority = self.priority, priority
        self._event(at, author, EventKind.field_change, field="priority", old=old.value, new=priority.value)

    def _category(self, data: dict, at: datetime, author: Person) -> None:
        slug = data["to"]
        if slug is not None and (not isinstance(slug, str) or slug not in self.directory.categories):
            raise LineInvalid(f"to: unknown category {_show(slug)}")
        if slug == self.category:
            raise LineInvalid(f"the category is already {_show(slug)}")
        old, self.category = self.category, slug
        self._event(at, author, EventKind.field_change, field="category", old=old, new=slug)

    def _assign(self, data: dict, at: datetime, author: Person | None) -> None:
        value = data["to"]
        assignee = None
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise LineInvalid(f"to: a staff email or null, not {_show(value)}")
            assignee = self.directory.staff.get(value.strip().lower())
            if assignee is None:
                known = self.directory.user(value.strip()) is not None
                raise LineInvalid(f"to: {value!r} is not staff" if known else f"to: unknown staff email {value!r}")
        if assignee is self.assignee:
            raise LineInvalid("the ticket is already " + (f"assigned to {value}" if assignee else "unassigned"))
        old, self.assignee = self.assignee, assignee
        self._event(
            at,
            author,
            EventKind.field_change,
            field="assignee",
            old=old.name if old else None,
            new=assignee.name if assignee else None,
            new_user=assignee,
        )

    def _escalate(self, data: dict, at: datetime, author: Person | None) -> None:
        tier = _choice(data["to"], Tier, "to")
        if TIER_ORDER.index(tier) <= TIER_ORDER.index(self.tier):
            raise LineInvalid(f"to: {tier.value} is not above the current tier {self.tier.value}")
        labels = dict(REASONS[tier], **(SYSTEM_REASONS if author is None else {}))
        reason = data["reason"]
        if not isinstance(reason, str) or reason not in labels:
            raise LineInvalid(
                f"reason: {_show(reason)} is not a reason to escalate to {tier.value} ({', '.join(labels)})"
            )
        ref = data.get("external_ref")
        if ref is not None:
            if tier is not Tier.engineering:
                raise LineInvalid("external_ref: only an escalation to engineering takes an issue reference")
            if not isinstance(ref, str) or not EXTERNAL_REF_RE.match(ref):
                raise LineInvalid("external_ref: letters, digits and -_.:#/?=&+, at most 150 characters")
        body = labels[reason] + (f" · external issue {ref}" if ref else "")
        self._set_tier(at, author, tier, body, body[:60])

    def _tier(self, data: dict, at: datetime, author: Person | None) -> None:
        tier = _choice(data["to"], Tier, "to")
        if tier is self.tier:
            raise LineInvalid(f"the tier is already {tier.value}")
        self._set_tier(at, author, tier, "", None)

    def _set_tier(self, at: datetime, author: Person | None, tier: Tier, body: str, reason: str | None) -> None:
        old, self.tier = self.tier, tier
        span = self.spans[-1]
        if span["ended_at"] is None and span["started_at"] == at:
            span.update(tier=tier, reason=reason)  # the span began at this very instant: it held no time
        else:
            self._close_span(at)
            self.spans.append({"tier": tier, "started_at": at, "ended_at": None, "reason": reason})
        self._event(at, author, EventKind.field_change, body=body, field="tier", old=old.value, new=tier.value)

    def _close_span(self, at: datetime) -> None:
        span = self.spans[-1]
        if span["ended_at"] is None:
            span["ended_at"] = at

    def _csat(self, data: dict, at: datetime, author: Person) -> None:
        if author is not self.requester:
            raise LineInvalid("a rating is given by the requester")
        rating = data["rating"]
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            raise LineInvalid(f"rating: an integer from 1 to 5, not {_show(rating)}")
        comment = _text(data, "comment", "comment", COMMENT_MAX, required=False) or ""
        if self.status not in (Status.solved, Status.closed):
            raise LineInvalid(f"a rating follows a solve (the ticket is {self.status.value})")
        if self.solves in self.rated_cycles:
            raise LineInvalid("this resolution was already rated")
        self.rated_cycles.add(self.solves)
        days = int(current_app.config.get("CSAT_EXPIRY_DAYS", 14))
        self.surveys.append(
            {
                "cycle": self.solves,
                "state": SurveyState.answered,
                "offered_at": self.last_solve,
                "expires_at": self.last_solve + timedelta(days=days),
                "rating": rating,
                "comment": comment,
                "rated_at": at,
                "source": "import",
            }
        )


def plan_line(line: int, data: dict[str, Any], directory: Directory, now: datetime) -> Plan:
    """Check one decoded line completely; returns what it stores (raises ``LineInvalid`` with the reason)."""
    _check_fields(data, TICKET_FIELDS, TICKET_REQUIRED, "ticket")
    external_id = external_id_of(data)
    subject = _text(data, "subject", "subject", SUBJECT_MAX, blank=False)
    description = _text(data, "description", "description", BODY_MAX)
    category = data.get("category")
    if category is not None and (not isinstance(category, str) or category not in directory.categories):
        raise LineInvalid(f"category: unknown category {_show(category)}")
    priority = _choice(data["priority"], Priority, "priority")
    channel = _choice(data["channel"], Channel, "channel") if "channel" in data else Channel.web
    created_at = parse_instant(data["created_at"], "created_at")
    if created_at > now:
        raise LineInvalid(f"created_at: {data['created_at']} is in the future")
    email, name, org_name = requester_fields(data)
    requester, new_requester = directory.user(email), False
    emails = {email.lower()}
    if requester is None:
        if not name:
            raise LineInvalid(f"requester.name: required for a new customer ({email})")
        try:
            normalized = normalize_email(email)
        except ValidationFailed as exc:
            raise LineInvalid(f"requester.email: {exc.fields.get('email', exc.message)}") from None
        emails.add(normalized)
        org = directory.organization(org_name) if org_name else directory.organization_of_domain(normalized)
        requester, new_requester = Person(normalized, name, organization=org), True
    organization = directory.organization(org_name) if org_name else requester.organization
    events = data.get("events", [])
    if not isinstance(events, list):
        raise LineInvalid(f"events: must be a list, not {_show(events)}")
    replay = Replay(directory, requester, emails, created_at, priority, category, now)
    for number, event in enumerate(events, 1):
        replay.apply(number, event)
    if new_requester:  # known from now on (a later line of the same customer uses this one)
        for key in emails:
            directory.users[key] = requester
    created = {
        "kind": EventKind.created,
        "author": requester,
        "body": description,
        "field": None,
        "old_value": None,
        "new_value": None,
        "new_user": None,
        "ticket_version": 1,
        "created_at": created_at,
    }
    return Plan(
        line=line,
        external_id=external_id,
        requester=requester,
        organization=organization,
        assignee=replay.assignee,
        category=replay.category,
        ticket={
            "external_id": external_id,
            "subject": subject,
            "description": description,
            "priority": replay.priority,
            "status": replay.status,
            "tier": replay.tier,
            "channel": channel,
            "created_at": created_at,
            "updated_at": replay.last_change,
            "first_response_at": replay.first_response_at,
            "solved_at": replay.solved_at,
            "closed_at": replay.closed_at,
            "version": replay.version,
            "paused_seconds": 0,
        },
        events=[created, *replay.events],
        spans=replay.spans,
        surveys=replay.surveys,
    )


# --------------------------------------------------------------------------- storing


def history_of(plan: Plan) -> sla.History:
    """What the SLA engine reads of the history a plan stores — the same as ``sla.histories`` reads back from its
    rows: the priority at creation, and in order the status and priority changes and the public replies by staff."""
    steps, initial = [], None
    for event in plan.events:
        if event["kind"] is EventKind.public_reply:
            if event["author"] is not None and event["author"].is_staff:
                steps.append(Step(event["created_at"], "staff_reply"))
        elif event["kind"] is EventKind.field_change and event["field"] in ("status", "priority"):
            if event["field"] == "priority" and initial is None:
                initial = event["old_value"]
            steps.append(Step(event["created_at"], event["field"], event["new_value"]))
    return sla.History(initial, steps)


@dataclass(frozen=True)
class _Text:
    """What the search document reads of an event."""

    kind: EventKind
    body: str


class Writer:
    """Stores plans (flushes, never commits) and remembers the people and organizations it created since the last
    commit, so a rollback can forget them."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.policies: dict = {}
        self.created: list[Person | OrgRef] = []

    def committed(self) -> None:
        self.created = []

    def rolled_back(self) -> None:
        for ref in self.created:
            ref.id = None
        self.created = []

    def store(self, plans: list[Plan]) -> tuple[list[int], list[dict[str, Any]]]:
        """Write the plans' rows with their SLA facts; returns the new ticket ids and their search documents.

        The facts are ``sla.refresh``'s, from the history the rows record (``history_of``), taken before the rows
        are written so that every ticket is inserted once with its final columns: no UPDATE per ticket, no RETURNING
        (both a round trip per ticket on PostgreSQL). Tickets are matched to their new ids by external id."""
        session = db.session
        self._create_people(plans)
        categories = {c.slug: c for c in session.scalars(select(Category))}
        tickets, crossings = [], []
        with session.no_autoflush:
            for number, plan in enumerate(plans, 1):
                category = categories[plan.category] if plan.category else None
                ticket = Ticket(
                    **plan.ticket,
                    category=category,
                    category_id=category.id if category else None,
                    requester_id=plan.requester.id,
                    organization_id=plan.organization.id if plan.organization else None,
                    assignee_id=plan.assignee.id if plan.assignee else None,
                )
                ticket.id = -number  # a stand-in until the row exists: refresh files the SLA events it records under it
                policy = sla.policy_for(ticket.organization_id, self.policies)
                sla.refresh(ticket, self.now, notify=False, history=history_of(plan), policy=policy, recorded=set())
                tickets.append(ticket)
            for pending in list(session.new):  # the SLA events refresh recorded go in with the real ids below
                if isinstance(pending, SlaEvent) and pending.ticket_id < 0:
                    crossings.append(pending)
                    session.expunge(pending)
        table = Ticket.__table__
        keys = sorted({k for t in tickets for k in inspect(t).dict if k != "id" and k in table.columns})
        session.execute(insert(table), [{k: getattr(t, k) for k in keys} for t in tickets])
        ids = dict(
            session.execute(
                select(Ticket.external_id, Ticket.id).where(Ticket.external_id.in_([p.external_id for p in plans]))
            ).all()
        )
        for ticket in tickets:
            ticket.id = ids[ticket.external_id]
        events, spans, surveys = [], [], []
        for plan, ticket in zip(plans, tickets, strict=True):
            for event in plan.events:
                row = dict(event, ticket_id=ticket.id)
                author, new_user = row.pop("author"), row.pop("new_user")
                row["author_id"] = author.id if author else None
                row["new_user_id"] = new_user.id if new_user else None
                events.append(row)
            spans.extend(dict(span, ticket_id=ticket.id) for span in plan.spans)
            surveys.extend(dict(s, ticket_id=ticket.id, requester_id=plan.requester.id) for s in plan.surveys)
        facts = [
            {
                "ticket_id": tickets[-c.ticket_id - 1].id,
                "target": c.target,
                "kind": c.kind,
                "at": c.at,
                "due_at": c.due_at,
            }
            for c in crossings
        ]
        checks = [{"ticket_id": t.id, "check_at": t.sla_check_at} for t in tickets if t.sla_check_at is not None]
        for model, rows in (
            (TicketEvent, events),
            (TierSpan, spans),
            (CsatSurvey, surveys),
            (SlaEvent, facts),
            (SlaCheck, checks),
        ):
            if rows:  # NULLs written out, so rows with different empty columns still go in one executemany
                session.execute(insert(model).execution_options(render_nulls=True), rows)
        documents = [
            ticket_document(
                ticket,
                [_Text(e["kind"], e["body"]) for e in plan.events if e["kind"] is not EventKind.created],
            )
            for plan, ticket in zip(plans, tickets, strict=True)
        ]
        return [t.id for t in tickets], documents

    def _create_people(self, plans: list[Plan]) -> None:
        orgs = {id(o): o for p in plans for o in (p.organization, p.requester.organization) if o and o.id is None}
        rows = [(o, Organization(name=o.name, email_domains="")) for o in orgs.values()]
        if rows:
            db.session.add_all([row for _ref, row in rows])
            db.session.flush()
            for ref, row in rows:
                ref.id = row.id
                self.created.append(ref)
        people = {id(p.requester): p.requester for p in plans if p.requester.id is None}
        rows = [
            (
                person,
                User(
                    email=person.email,
                    name=person.name,
                    role=Role.customer,
                    password_hash=UNUSABLE_PASSWORD,
                    organization_id=person.organization.id if person.organization else None,
                    timezone="UTC",
                    specializations=[],
                    is_approved=True,
                    is_active_account=True,
                    email_verified_at=utcnow(),  # the address comes from the desk's own records
                ),
            )
            for person in people.values()
        ]
        if rows:
            db.session.add_all([row for _ref, row in rows])
            db.session.flush()
            for person, row in rows:
                person.id = row.id
                self.created.append(person)


def index_documents(documents: list[dict[str, Any]]) -> None:
    """Write the documents of newly stored tickets to the ticket index in one writer (one commit)."""
    if documents:
        with index_writer(TICKET_INDEX) as writer:
            for document in documents:
                writer.update_document(**document)


# --------------------------------------------------------------------------- the import


Progress = Callable[[ImportResult], None]


def import_lines(
    lines: Iterable[bytes | str],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH,
    index: bool = True,
    progress: Progress | None = None,
) -> ImportResult:
    """Import JSON Lines (``lines`` in file order, line 1 first) as of ``now`` (default: the current instant).
    Commits every ``batch_size`` lines; with ``dry_run`` checks everything and stores nothing. ``progress`` is called
    after every chunk with the result so far."""
    now = now or utcnow()
    started = time.perf_counter()
    result = ImportResult(dry_run=dry_run)
    directory, writer = Directory(), Writer(now)
    seen: dict[str, int] = {}  # external id → the line it first appeared on
    for chunk in _chunks(lines, batch_size):
        plans = _check_chunk(chunk, directory, seen, now, result)
        if dry_run:
            result.imported += len(plans)
        elif plans:
            documents = _store(plans, writer, result)
            if index and documents and result.index_problem is None:
                try:
                    index_documents(documents)
                except Exception as exc:  # the tickets are stored; the index can be rebuilt from them
                    result.index_problem = f"{type(exc).__name__}: {exc}"
        if progress is not None:
            result.seconds = time.perf_counter() - started
            progress(result)
    result.errors.sort(key=lambda e: e.line)
    result.seconds = time.perf_counter() - started
    return result


def _chunks(lines: Iterable[bytes | str], size: int) -> Iterator[list[tuple[int, bytes | str]]]:
    chunk: list[tuple[int, bytes | str]] = []
    for number, raw in enumerate(lines, 1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf" if isinstance(raw, bytes) else "\ufeff")  # a byte order mark
        if not raw.strip():
            continue  # blank lines (e.g. a trailing newline) are not tickets
        chunk.append((number, raw))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_chunk(chunk, directory: Directory, seen: dict[str, int], now: datetime, result: ImportResult) -> list[Plan]:
    decoded: list[tuple[int, str, dict]] = []
    for number, raw in chunk:
        result.lines += 1
        external_id = None
        try:
            data = decode(raw)
            external_id = external_id_of(data)
        except LineInvalid as exc:
            result.errors.append(LineError(number, exc.reason, external_id))
            continue
        if external_id in seen:
            result.errors.append(
                LineError(number, f"external_id {external_id!r} is already on line {seen[external_id]}", external_id)
            )
            continue
        seen[external_id] = number
        decoded.append((number, external_id, data))
    stored = set(db.session.scalars(select(Ticket.external_id).where(Ticket.external_id.in_([d[1] for d in decoded]))))
    result.already_imported += sum(1 for d in decoded if d[1] in stored)
    todo = [d for d in decoded if d[1] not in stored]
    emails, org_names = set(), set()
    for _number, _external_id, data in todo:
        requester = data.get("requester")
        if isinstance(requester, dict):
            if isinstance(requester.get("email"), str):
                emails.add(requester["email"].strip())
            if isinstance(requester.get("organization"), str):
                org_names.add(requester["organization"].strip())
    directory.prefetch(emails, org_names)
    plans = []
    for number, external_id, data in todo:
        try:
            plans.append(plan_line(number, data, directory, now))
        except LineInvalid as exc:
            result.errors.append(LineError(number, exc.reason, external_id))
    return plans


def _store(plans: list[Plan], writer: Writer, result: ImportResult) -> list[dict[str, Any]]:
    """Store a chunk in one transaction; when that fails, each line in its own, reporting the lines that fail."""
    try:
        ids, documents = writer.store(plans)
        db.session.commit()
    except Exception:
        db.session.rollback()
        writer.rolled_back()
    else:
        writer.committed()
        result.imported += len(ids)
        result.imported_ids.extend(ids)
        return documents
    documents = []
    for plan in plans:
        try:
            ids, docs = writer.store([plan])
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            writer.rolled_back()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
            result.errors.append(LineError(plan.line, f"could not be stored: {reason}", plan.external_id))
        else:
            writer.committed()
            result.imported += 1
            result.imported_ids.extend(ids)
            documents.extend(docs)
    return documents
