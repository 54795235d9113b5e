"""Read-side queries for lists and queues: one SELECT per page, access rules applied in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, and_, bindparam, func, or_, select, union, union_all
from sqlalchemy.orm import defer, joinedload

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
    parse_reference,
    utcnow,
)
from portal.services.access import customer_scopes, visible_tickets

QUEUE_VIEWS = {
    "unassigned": "Unassigned",
    "mine": "Mine",
    "tier": "My tier",
    "open": "All open",
    "at_risk": "At risk",
    "all": "All tickets",
}
MANAGER_VIEWS = frozenset({"at_risk"})  # "an at-risk view for managers" (issue 3): managers and admins only


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
        f = cls(view=args.get("view", default_view))
        if f.view not in QUEUE_VIEWS and f.view not in ("mine_customer", "org"):
            f.view = default_view
        if views is not None and f.view not in views:
            f.view = default_view
        f.status = _choice(args.get("status"), [s.value for s in Status] + ["open_any"])
        f.priority = _choice(args.get("priority"), [p.value for p in Priority])
        f.category = (args.get("category") or "").strip()[:50] or None
        assignee = (args.get("assignee") or "").strip()
        f.assignee = assignee if assignee == "none" or assignee.isdigit() else None
        org = (args.get("organization") or "").strip()
        f.organization = int(org) if org.isdigit() else None
        f.q = (args.get("q") or "").strip()[:200]
        default_sort = "due" if f.view in OPEN_VIEWS else "newest"  # open views: next SLA due time first
        f.sort = args.get("sort") if args.get("sort") in ("due", "newest", "oldest", "updated") else default_sort
        return f


OPEN_VIEWS = ("unassigned", "mine", "tier", "open", "at_risk")


def at_risk_condition(now):
    """Open tickets past a target's at-risk instant (breached included) whose clock still runs."""
    return and_(
        is_open(),
        or_(
            and_(Ticket.first_response_at.is_(None), Ticket.first_response_risk_at <= now),
            and_(Ticket.paused_since.is_(None), Ticket.resolution_risk_at <= now),
        ),
    )


def is_open():
    """``status IN ('new', 'open', 'pending', 'on_hold')`` with the values rendered inline, so the planners of SQLite
    and PostgreSQL can use the partial indexes declared on ``Ticket`` (they cannot with bound parameters)."""
    return Ticket.status.in_(
        bindparam("open_statuses", [s.value for s in OPEN_STATUSES], expanding=True, literal_execute=True, unique=True)
    )


def _choice(value: str | None, allowed: list[str]) -> str | None:
    return value if value in allowed else None


def _apply_view(stmt: Select, actor: User, view: str) -> Select:
    if view == "unassigned":
        return stmt.where(Ticket.assignee_id.is_(None), is_open())
    if view == "mine":
        return stmt.where(Ticket.assignee_id == actor.id, is_open())
    if view == "tier":
        return stmt.where(Ticket.tier == Tier(actor.tier or "L1"), is_open())
    if view == "open":
        return stmt.where(is_open())
    if view == "at_risk":
        return stmt.where(at_risk_condition(utcnow()))
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
    stmt = stmt.options(*_list_load_options(full)).limit(size + 1).offset(offset)
    return list(db.session.scalars(stmt).unique())


def _page_candidates(actor: User, f: TicketFilters, window: int) -> Select:
    scopes = [None] if actor.is_staff else customer_scopes(actor)
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
            stmt = _apply_filters(_apply_view(select(Ticket.id), actor, f.view), f)
            stmt = stmt.where(*(c for c in (scope, condition) if c is not None))
            stmt = stmt.order_by(*order) if order else _order(stmt, f.sort)
            parts.append(stmt.limit(window).subquery())
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
        defer(Ticket.sla_check_at),
        defer(Ticket.routing_flagged_at),
        joinedload(Ticket.requester).load_only(*people),
        joinedload(Ticket.assignee).load_only(*people),
        joinedload(Ticket.organization).load_only(Organization.id, Organization.name),
    ]


def queue_counts(actor: User) -> dict[str, int]:
    """Open-ticket counts for the views ``actor`` is offered, in one round trip. Each count is its own scalar
    subquery so that each is answered from the index that fits it (a single FILTERed scan cannot be)."""

    def count(*conditions) -> Select:
        return select(func.count()).select_from(Ticket).where(is_open(), *conditions).scalar_subquery()

    columns = {
        "unassigned": count(Ticket.assignee_id.is_(None)),
        "mine": count(Ticket.assignee_id == actor.id),
        "tier": count(Ticket.tier == Tier(actor.tier or "L1")),
        "open": count(),
    }
    if "at_risk" in queue_views(actor):
        columns["at_risk"] = _at_risk_count(utcnow())
    row = db.session.execute(select(*columns.values())).one()
    return dict(zip(columns, row, strict=True))


def _at_risk_count(now) -> Select:
    """Open tickets past an at-risk instant of a running clock, counted as the union of the two clocks' partial
    indexes (``ix_tickets_open_fr_risk``, ``ix_tickets_open_res_risk``)."""
    first_response = select(Ticket.id).where(
        is_open(), Ticket.first_response_at.is_(None), Ticket.first_response_risk_at <= now
    )
    resolution = select(Ticket.id).where(is_open(), Ticket.paused_since.is_(None), Ticket.resolution_risk_at <= now)
    ids = union(first_response, resolution).subquery()
    return select(func.count()).select_from(ids).scalar_subquery()


def customer_counts(actor: User) -> dict[str, int]:
    stmt = visible_tickets(actor, select(func.count(Ticket.id)).select_from(Ticket))
    open_count = db.session.scalar(stmt.where(Ticket.status.in_(OPEN_STATUSES)))
    solved_count = db.session.scalar(stmt.where(Ticket.status == Status.solved))
    return {"open": open_count or 0, "solved": solved_count or 0}


def assignable_staff() -> list:
    """(id, name) rows of the people a ticket can be assigned to."""
    return list(
        db.session.execute(
            select(User.id, User.name)
            .where(User.role.in_([Role.agent, Role.senior_agent, Role.manager]), User.is_active_account.is_(True))
            .order_by(User.name)
        )
    )


def organization_choices() -> list:
    """(id, name) rows for filters."""
    return list(db.session.execute(select(Organization.id, Organization.name).order_by(Organization.name)))


def active_categories() -> list[Category]:
    return list(
        db.session.scalars(
            select(Category).where(Category.is_active.is_(True)).order_by(Category.position, Category.name)
        )
    )
