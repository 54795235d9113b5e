"""Read-side queries for lists and queues: one SELECT per page, access rules applied in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from flask import g
from sqlalchemy import Select, bindparam, literal_column, select, union_all
from sqlalchemy.orm import aliased, defer, joinedload

from portal.extensions import db
from portal.models import (
    OPEN_STATUSES,
    Category,
    Organization,
    Priority,
    Role,
    Status,
    Ticket,
    Tier,
    User,
    format_reference,
    parse_reference,
    utcnow,
)
from portal.params import choice_param, parse_id
from portal.services import counters, sla
from portal.services.access import customer_scopes
from portal.services.counters import at_risk_condition, is_open

QUEUE_VIEWS = {
    "unassigned": "Unassigned",
    "mine": "Mine",
    "tier": "My tier",
    "open": "All open",
    "at_risk": "At risk",
    "all": "All tickets",
}
MANAGER_VIEWS = frozenset({"at_risk"})  # the at-risk view is the managers': managers and admins only


def queue_views(actor: User) -> dict[str, str]:
    """The queue views ``actor`` is offered: agents do not get the managers' at-risk view."""
    if actor.role in (Role.manager, Role.admin):
        return dict(QUEUE_VIEWS)
    return {key: label for key, label in QUEUE_VIEWS.items() if key not in MANAGER_VIEWS}


@dataclass
class TicketFilters:
    view: str = "open"
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assignee: str | None = None  # a user id, or "none"
    organization: int | None = None
    q: str = ""
    sort: str = "newest"
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args, default_view: str = "open", views: dict | None = None) -> TicketFilters:
        """``views``: the views the actor is offered (``queue_views``); any other falls back to ``default_view``."""
        f = cls(view=choice_param("view", [*QUEUE_VIEWS, "mine_customer", "org"], default_view, args=args))
        if f.view not in QUEUE_VIEWS and f.view not in ("mine_customer", "org"):
            f.view = default_view
        if views is not None and f.view not in views:
            f.view = default_view
        f.status = choice_param("status", [s.value for s in Status] + ["open_any"], args=args)
        f.priority = choice_param("priority", [p.value for p in Priority], args=args)
        f.category = (args.get("category") or "").strip()[:50] or None
        assignee = (args.get("assignee") or "").strip()
        f.assignee = assignee if assignee == "none" or parse_id(assignee) else None
        f.organization = parse_id((args.get("organization") or "").strip())  # ASCII digits within the id range
        f.q = (args.get("q") or "").strip()[:200]
        default_sort = "due" if f.view in OPEN_VIEWS else "newest"  # open views: next SLA due time first
        f.sort = choice_param("sort", ("due", "newest", "oldest", "updated"), default_sort, args=args)
        return f


OPEN_VIEWS = ("unassigned", "mine", "tier", "open", "at_risk")


def _apply_view(stmt: Select, actor: User | None, view: str, *, bound: bool = False) -> Select:
    """``bound``: the actor's id and tier and the current time are the bind parameters ``actor_id``, ``tier`` and
    ``now``, given at execution (``queue_rows``), so that one statement serves every agent (no ``actor``)."""
    if view == "unassigned":
        return stmt.where(Ticket.assignee_id.is_(None), is_open())
    if view == "mine":
        return stmt.where(Ticket.assignee_id == (bindparam("actor_id") if bound else actor.id), is_open())
    if view == "tier":
        return stmt.where(Ticket.tier == (bindparam("tier") if bound else Tier(actor.tier or "L1")), is_open())
    if view == "open":
        return stmt.where(is_open())
    if view == "at_risk":
        return stmt.where(at_risk_condition(bindparam("now") if bound else utcnow()))
    if view == "mine_customer":
        return stmt.where(Ticket.requester_id == actor.id)
    return stmt


def _apply_filters(stmt: Select, f: TicketFilters) -> Select:
    if f.status == "open_any":
        stmt = stmt.where(is_open())
    elif f.status:
        stmt = stmt.where(Ticket.status == Status(f.status))
    if f.priority:
        stmt = stmt.where(Ticket.priority == Priority(f.priority))
    if f.category:
        stmt = stmt.where(
            Ticket.category_id == select(Category.id).where(Category.slug == f.category).scalar_subquery()
        )
    if f.assignee == "none":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif f.assignee:
        stmt = stmt.where(Ticket.assignee_id == int(f.assignee))
    if f.organization:
        stmt = stmt.where(Ticket.organization_id == f.organization)
    if f.q:
        ticket_id = parse_reference(f.q)
        if ticket_id is not None:
            stmt = stmt.where(Ticket.id == ticket_id)
        else:
            words = [w for w in f.q.split() if w][:5]
            for word in words:
                escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                stmt = stmt.where(Ticket.subject.ilike(f"%{escaped}%", escape="\\"))
    return stmt


def _rows(n: int):
    """On PostgreSQL a LIMIT or OFFSET written into the SQL instead of bound. PostgreSQL plans a prepared statement
    once for any parameters (a generic plan) only when that plan looks about as cheap as planning each execution; a
    bound LIMIT looks like a tenth of the table to it, so at a million tickets the lists were planned afresh on every
    request (about 2 ms each, more than running them). SQLite plans every statement anyway, and a literal LIMIT
    there turns an agent's own queue into a walk of the due-time index (3 ms → 13 ms at 1M): bound. The numbers come
    from page arithmetic, never from text."""
    if db.engine.dialect.name == "postgresql":
        return literal_column(str(int(n)))
    return int(n)


def _order(stmt: Select, sort: str) -> Select:
    if sort == "due":
        return stmt.order_by(Ticket.next_due_at.asc().nulls_last(), Ticket.id.asc())
    if sort == "oldest":
        return stmt.order_by(Ticket.id.asc())
    if sort == "updated":
        return stmt.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    return stmt.order_by(Ticket.id.desc())


def list_tickets(actor: User, f: TicketFilters, page: int, size: int, *, full: bool = False) -> list[Ticket]:
    """A page of tickets (plus one row to tell whether more follow), with the requester, assignee, organization and
    category loaded in the same SELECT — the number of queries does not grow with the page size.

    Two steps: the ids of the page are picked from index-ordered candidate lists (one per customer visibility scope,
    and for the SLA sort one for running clocks and one for paused ones), then only those rows are loaded and sorted.
    The database never sorts whole joined rows of every open ticket or of an organization's history.
    ``full`` loads every column (the API needs them)."""
    offset = (page - 1) * size
    ids = _page_candidates(actor, f, window=offset + size + 1)
    stmt = _order(select(Ticket).where(Ticket.id.in_(ids)), f.sort)
    stmt = stmt.options(*_list_load_options(full)).limit(_rows(size + 1)).offset(_rows(offset))
    return list(db.session.scalars(stmt).unique())


class QueueRow:
    """What one row of the agent queue shows, read by the page's one SELECT (columns, not ORM objects): the reference,
    the enum values and labels, the names of the category, organization, requester and assignee (None when unset),
    the creation time and the SLA badge. It also carries the ticket's SLA columns, which is all that
    ``sla.badge`` reads of a ticket."""

    __slots__ = (
        "id",
        "reference",
        "subject",
        "status",
        "status_value",
        "status_label",
        "priority_value",
        "priority_label",
        "tier_label",
        "category",
        "organization",
        "requester",
        "assignee",
        "created_at",
        "first_response_at",
        "first_response_due",
        "first_response_risk_at",
        "resolution_due",
        "resolution_risk_at",
        "paused_since",
        "next_due_at",
        "solved_at",
        "closed_at",
        "first_response_achieved_at",
        "first_response_breached_at",
        "resolution_achieved_at",
        "resolution_breached_at",
        "organization_id",
        "sla",
    )

    def __init__(self, row, now) -> None:
        (
            self.id,
            self.subject,
            status,
            priority,
            tier,
            self.category,
            self.organization,
            self.requester,
            self.assignee,
            self.created_at,
            self.first_response_at,
            self.first_response_due,
            self.first_response_risk_at,
            self.resolution_due,
            self.resolution_risk_at,
            self.paused_since,
            self.next_due_at,
            self.solved_at,
            self.closed_at,
            self.first_response_achieved_at,
            self.first_response_breached_at,
            self.resolution_achieved_at,
            self.resolution_breached_at,
            self.organization_id,
        ) = row
        self.reference = format_reference(self.id)
        self.status, self.status_value, self.status_label = status, status.value, _STATUS_LABELS[status]
        self.priority_value, self.priority_label = priority.value, _PRIORITY_LABELS[priority]
        self.tier_label = _TIER_LABELS[tier]
        self.sla = sla.badge(self, now)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


_STATUS_LABELS = {s: s.short_label for s in Status}
_PRIORITY_LABELS = {p: p.label for p in Priority}
_TIER_LABELS = {t: t.label for t in Tier}
_REQUESTER, _ASSIGNEE = aliased(User, name="requester"), aliased(User, name="assignee")
_QUEUE_COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.status,
    Ticket.priority,
    Ticket.tier,
    Category.name,
    Organization.name,
    _REQUESTER.name,
    _ASSIGNEE.name,
    Ticket.created_at,
    Ticket.first_response_at,
    Ticket.first_response_due,
    Ticket.first_response_risk_at,
    Ticket.resolution_due,
    Ticket.resolution_risk_at,
    Ticket.paused_since,
    Ticket.next_due_at,
    Ticket.solved_at,
    Ticket.closed_at,
    Ticket.first_response_achieved_at,
    Ticket.first_response_breached_at,
    Ticket.resolution_achieved_at,
    Ticket.resolution_breached_at,
    Ticket.organization_id,
)


def queue_rows(actor: User, f: TicketFilters, page: int, size: int) -> list[QueueRow]:
    """A page of the agent queue for staff (plus one row to tell whether more follow) as ``QueueRow``s: the ids are
    picked as in ``list_tickets``, then one SELECT of only the shown columns, the names joined in. The statement of
    each filter combination and page is built once (``_queue_statement``); the actor and the time are parameters.
    The at-risk view and every badge use the same instant."""
    offset = (page - 1) * size
    stmt = _queue_statement(
        db.engine.dialect.name,
        f.view,
        f.status,
        f.priority,
        f.category,
        f.assignee,
        f.organization,
        f.q,
        f.sort,
        offset,
        size,
    )
    now = utcnow()
    params = {"actor_id": actor.id, "tier": Tier(actor.tier or "L1"), "now": now}
    rows = db.session.execute(stmt, params).all()
    # the badges read each organization's policy (a clock past due under a calendar): one query for the page
    sla.preload_policies({row.organization_id for row in rows}, g.setdefault("_sla_policies", {}))
    return [QueueRow(row, now) for row in rows]


@lru_cache(maxsize=256)
def _queue_statement(
    dialect, view, status, priority, category, assignee, organization, q, sort, offset, size
) -> Select:
    """The queue's SELECT for one combination of filters and one page, for any staff member (building it costs
    about as much as running it). Built from values that came through ``TicketFilters.from_args``; ``dialect`` (the
    database's) keys the cache: the page bounds are written differently per database (``_rows``)."""
    f = TicketFilters(view, status, priority, category, assignee, organization, q, sort)
    ids = _page_candidates(None, f, window=offset + size + 1, bound=True)
    stmt = (
        select(*_QUEUE_COLUMNS)
        .outerjoin(Category, Category.id == Ticket.category_id)
        .outerjoin(Organization, Organization.id == Ticket.organization_id)
        .outerjoin(_REQUESTER, _REQUESTER.id == Ticket.requester_id)
        .outerjoin(_ASSIGNEE, _ASSIGNEE.id == Ticket.assignee_id)
        .where(Ticket.id.in_(ids))
    )
    return _order(stmt, sort).limit(_rows(size + 1)).offset(_rows(offset))


def _page_candidates(actor: User | None, f: TicketFilters, window: int, *, bound: bool = False) -> Select:
    """``bound``: for staff, the actor given at execution (see ``_apply_view``)."""
    scopes = [None] if bound or actor.is_staff else customer_scopes(actor)
    if f.sort == "due":  # NULLS LAST cannot walk an index: take due tickets by due time, then paused ones by id
        splits = [
            (Ticket.next_due_at.is_not(None), (Ticket.next_due_at.asc(), Ticket.id.asc())),
            (Ticket.next_due_at.is_(None), (Ticket.id.asc(),)),
        ]
    else:
        splits = [(None, None)]
    parts = []
    for scope in scopes:
        for condition, order in splits:
            stmt = _apply_filters(_apply_view(select(Ticket.id), actor, f.view, bound=bound), f)
            stmt = stmt.where(*(c for c in (scope, condition) if c is not None))
            stmt = stmt.order_by(*order) if order else _order(stmt, f.sort)
            parts.append(stmt.limit(_rows(window)).subquery())
    if len(parts) == 1:
        return select(parts[0].c.id)
    return union_all(*[select(part.c.id) for part in parts])


def _list_load_options(full: bool) -> list:
    people = (User.id, User.name, User.email)
    options = [joinedload(Ticket.category).load_only(Category.id, Category.slug, Category.name)]
    if full:
        return options + [joinedload(Ticket.requester), joinedload(Ticket.assignee), joinedload(Ticket.organization)]
    return options + [
        defer(Ticket.description),
        defer(Ticket.solved_at),
        defer(Ticket.closed_at),
        defer(Ticket.routing_flagged_at),
        joinedload(Ticket.requester).load_only(*people),
        joinedload(Ticket.assignee).load_only(*people),
        joinedload(Ticket.organization).load_only(Organization.id, Organization.name),
    ]


def queue_counts(actor: User) -> dict[str, int]:
    """Open-ticket counts for the views ``actor`` is offered, read from the maintained counters
    (``portal.services.counters``: exact after every change, the same cost at any size). The at-risk count depends
    on the clock: the counter at the checkpoint instant plus the tickets whose risk instant lies in between
    (``counters.at_risk_count``)."""
    keys = {
        "unassigned": counters.UNASSIGNED,
        "mine": counters.assignee_key(actor.id),
        "tier": counters.tier_key(actor.tier or Tier.l1),
        "open": counters.OPEN,
    }
    found = counters.values(keys.values())
    result = {view: found[key] for view, key in keys.items()}
    if "at_risk" in queue_views(actor):
        result["at_risk"] = counters.at_risk_count(utcnow())
    return result


def customer_counts(actor: User) -> dict[str, int]:
    """Open and solved counts of the tickets ``actor`` may see (``visible_tickets``), from the counters: staff every
    ticket; a customer of an organization its tickets and their own (the organization's plus the requester's, less
    the requester's filed under that organization, counted by both); a customer of none their own."""
    if actor.is_staff:
        keys = {"open": counters.OPEN, "solved": counters.SOLVED}
        found = counters.values(keys.values())
        return {name: found[key] for name, key in keys.items()}
    if not actor.is_active:
        return {"open": 0, "solved": 0}
    org = actor.organization_id
    terms = {
        state: [(1, counters.requester_key(state, actor.id))]
        + (
            [(1, counters.org_key(state, org)), (-1, counters.requester_org_key(state, actor.id, org))]
            if org is not None
            else []
        )
        for state in ("open", "solved")
    }
    found = counters.values(key for parts in terms.values() for _sign, key in parts)
    return {state: sum(sign * found[key] for sign, key in parts) for state, parts in terms.items()}


ASSIGNABLE_ROLES = (Role.agent, Role.senior_agent, Role.manager)


def _assignable_staff_query() -> Select:
    staff = union_all(
        *[
            select(User.id, User.name).where(User.role == role, User.is_active_account.is_(True))
            for role in ASSIGNABLE_ROLES
        ]
    ).subquery()
    return select(staff.c.id, staff.c.name).order_by(staff.c.name)


_ASSIGNABLE_STAFF = _assignable_staff_query()  # built once: it has no parameter that varies


def assignable_staff() -> list:
    """(id, name) rows of the people a ticket can be assigned to. One SELECT per role, united: customers are nearly
    every user, and ``role IN (...)`` over three roles looks to the planner like most of the table (a scan of every
    user), while ``role = ?`` is answered from ``ix_users_role``."""
    return list(db.session.execute(_ASSIGNABLE_STAFF))


_ORGANIZATION_CHOICES = select(Organization.id, Organization.name).order_by(Organization.name)
_ACTIVE_CATEGORIES = select(Category).where(Category.is_active.is_(True)).order_by(Category.position, Category.name)
_CATEGORY_CHOICES = (
    select(Category.slug, Category.name).where(Category.is_active.is_(True)).order_by(Category.position, Category.name)
)


@dataclass(frozen=True)
class FilterChoices:
    """The options of the queue's filter selects as (value, text) pairs of strings, the form a select renders
    without looking anything up per option (a desk has hundreds of organizations)."""

    categories: list[tuple[str, str]]
    staff: list[tuple[str, str]]
    organizations: list[tuple[str, str]]
    statuses: tuple[tuple[str, str], ...] = tuple((s.value, s.short_label) for s in Status)
    priorities: tuple[tuple[str, str], ...] = tuple((p.value, p.label) for p in Priority)


def queue_filter_choices() -> FilterChoices:
    """Three small SELECTs (active categories, assignable staff, organizations), each statement built once."""
    return FilterChoices(
        categories=[(slug, name) for slug, name in db.session.execute(_CATEGORY_CHOICES)],
        staff=[(str(user_id), name) for user_id, name in assignable_staff()],
        organizations=[(str(org_id), name) for org_id, name in organization_choices()],
    )


def organization_choices() -> list:
    """(id, name) rows for filters."""
    return list(db.session.execute(_ORGANIZATION_CHOICES))


def active_categories() -> list[Category]:
    return list(db.session.scalars(_ACTIVE_CATEGORIES))
