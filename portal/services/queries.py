"""Read-side queries for lists and queues: one SELECT per page, access rules applied in SQL."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import OPEN_STATUSES, Category, Priority, Role, Status, Ticket, Tier, User, parse_reference, utcnow
from portal.services.access import visible_tickets

QUEUE_VIEWS = {
    "unassigned": "Unassigned",
    "mine": "Mine",
    "tier": "My tier",
    "open": "All open",
    "at_risk": "At risk",
    "all": "All tickets",
}


@dataclass
class TicketFilters:
    view: str = "open"
    status: Optional[str] = None
    priority: Optional[str] = None
    category: Optional[str] = None
    assignee: Optional[str] = None  # a user id, or "none"
    organization: Optional[int] = None
    q: str = ""
    sort: str = "newest"
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args, default_view: str = "open") -> "TicketFilters":
        f = cls(view=args.get("view", default_view))
        if f.view not in QUEUE_VIEWS and f.view not in ("mine_customer", "org"):
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
    return and_(Ticket.status.in_(OPEN_STATUSES), or_(
        and_(Ticket.first_response_at.is_(None), Ticket.first_response_risk_at <= now),
        and_(Ticket.paused_since.is_(None), Ticket.resolution_risk_at <= now)))


def _choice(value: Optional[str], allowed: list[str]) -> Optional[str]:
    return value if value in allowed else None


def _apply_view(stmt: Select, actor: User, view: str) -> Select:
    if view == "unassigned":
        return stmt.where(Ticket.assignee_id.is_(None), Ticket.status.in_(OPEN_STATUSES))
    if view == "mine":
        return stmt.where(Ticket.assignee_id == actor.id, Ticket.status.in_(OPEN_STATUSES))
    if view == "tier":
        return stmt.where(Ticket.tier == Tier(actor.tier or "L1"), Ticket.status.in_(OPEN_STATUSES))
    if view == "open":
        return stmt.where(Ticket.status.in_(OPEN_STATUSES))
    if view == "at_risk":
        return stmt.where(at_risk_condition(utcnow()))
    if view == "mine_customer":
        return stmt.where(Ticket.requester_id == actor.id)
    return stmt


def _apply_filters(stmt: Select, f: TicketFilters) -> Select:
    if f.status == "open_any":
        stmt = stmt.where(Ticket.status.in_(OPEN_STATUSES))
    elif f.status:
        stmt = stmt.where(Ticket.status == Status(f.status))
    if f.priority:
        stmt = stmt.where(Ticket.priority == Priority(f.priority))
    if f.category:
        stmt = stmt.where(Ticket.category_id == select(Category.id).where(Category.slug == f.category).scalar_subquery())
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


def list_tickets(actor: User, f: TicketFilters, page: int, size: int) -> list[Ticket]:
    """A page of tickets (plus one row to tell whether more follow), with the requester, assignee, organization and
    category loaded in the same SELECT — the number of queries does not grow with the page size."""
    stmt = visible_tickets(actor, select(Ticket))
    stmt = _apply_view(stmt, actor, f.view)
    stmt = _apply_filters(stmt, f)
    stmt = _order(stmt, f.sort).options(
        joinedload(Ticket.requester), joinedload(Ticket.assignee), joinedload(Ticket.organization),
        joinedload(Ticket.category),
    )
    stmt = stmt.limit(size + 1).offset((page - 1) * size)
    return list(db.session.scalars(stmt).unique())


def queue_counts(actor: User) -> dict[str, int]:
    """Open-ticket counts for the queue's views, in one query."""
    open_ = Ticket.status.in_(OPEN_STATUSES)
    tier = Tier(actor.tier or "L1")
    row = db.session.execute(
        select(
            func.count().filter(Ticket.assignee_id.is_(None)),
            func.count().filter(Ticket.assignee_id == actor.id),
            func.count().filter(Ticket.tier == tier),
            func.count(),
            func.count().filter(at_risk_condition(utcnow())),
        ).where(open_)
    ).one()
    return {"unassigned": row[0], "mine": row[1], "tier": row[2], "open": row[3], "at_risk": row[4]}


def customer_counts(actor: User) -> dict[str, int]:
    stmt = visible_tickets(actor, select(func.count(Ticket.id)).select_from(Ticket))
    open_count = db.session.scalar(stmt.where(Ticket.status.in_(OPEN_STATUSES)))
    solved_count = db.session.scalar(stmt.where(Ticket.status == Status.solved))
    return {"open": open_count or 0, "solved": solved_count or 0}


def assignable_staff() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role.in_([Role.agent, Role.senior_agent, Role.manager]),
                           User.is_active_account.is_(True)).order_by(User.name)
    ))


def active_categories() -> list[Category]:
    return list(db.session.scalars(select(Category).where(Category.is_active.is_(True))
                                   .order_by(Category.position, Category.name)))

