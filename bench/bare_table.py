"""The floor for a list page: a bare Flask + SQLAlchemy + Jinja app that serves 50 rows of the portal's tickets table.

    DATABASE_URL=sqlite:///bench/out/bench10k.db gunicorn -w 2 --pythonpath bench bare_table:app

No portal code, no sign-in, no layout, no blueprint, no extensions: ``/`` runs one SELECT (the 50 newest open tickets
with their requester, assignee, organization and category names, LEFT JOINs) through a SQLAlchemy engine and renders
them with a plain ``{% for %}`` loop in an autoescaping Jinja template. ``bench/bench_compare.py`` times the portal's
pages against it, so that the ratio says how much the portal adds on top of what any Flask page of the same size
costs. ``/orm`` shows the same table the way a typical small Flask app would: ORM objects of minimal declarative
models (the four relations joined in the same SELECT), the times parsed as datetimes and formatted in the template.
``/healthz`` runs ``SELECT 1``.
"""

from __future__ import annotations

import os
from datetime import datetime

from flask import Flask, render_template
from jinja2 import DictLoader
from sqlalchemy import DateTime, ForeignKey, String, column, create_engine, select, table, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, joinedload, mapped_column, relationship

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
ROWS = 50

tickets = table(
    "tickets",
    column("id"),
    column("subject"),
    column("status"),
    column("priority"),
    column("tier"),
    column("category_id"),
    column("organization_id"),
    column("requester_id"),
    column("assignee_id"),
    column("next_due_at"),
    column("created_at"),
)
users = table("users", column("id"), column("name"))
organizations = table("organizations", column("id"), column("name"))
categories = table("categories", column("id"), column("name"))
requester, assignee = users.alias("requester"), users.alias("assignee")

QUERY = (
    select(
        tickets.c.id,
        tickets.c.subject,
        tickets.c.status,
        tickets.c.priority,
        tickets.c.tier,
        tickets.c.next_due_at,
        tickets.c.created_at,
        categories.c.name.label("category"),
        organizations.c.name.label("organization"),
        requester.c.name.label("requester"),
        assignee.c.name.label("assignee"),
    )
    .select_from(tickets)
    .outerjoin(categories, categories.c.id == tickets.c.category_id)
    .outerjoin(organizations, organizations.c.id == tickets.c.organization_id)
    .outerjoin(requester, requester.c.id == tickets.c.requester_id)
    .outerjoin(assignee, assignee.c.id == tickets.c.assignee_id)
    .where(tickets.c.status.in_(OPEN_STATUSES))
    .order_by(tickets.c.id.desc())
    .limit(ROWS)
)

TEMPLATE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tickets</title></head>
<body>
<main>
<h1>Tickets</h1>
<table>
  <thead><tr><th>Reference</th><th>Subject</th><th>Status</th><th>Priority</th><th>Tier</th><th>Category</th>
    <th>Organization</th><th>Requester</th><th>Assignee</th><th>Next due</th><th>Created</th></tr></thead>
  <tbody>
  {% for t in rows %}
    <tr>
      <td><a href="/tickets/{{ t.id }}">ESG-{{ '%06d' % t.id }}</a></td>
      <td>{{ t.subject }}</td>
      <td><span class="badge status-{{ t.status }}">{{ t.status }}</span></td>
      <td><span class="badge priority-{{ t.priority }}">{{ t.priority }}</span></td>
      <td>{{ t.tier }}</td>
      <td>{{ t.category or '—' }}</td>
      <td>{{ t.organization or '—' }}</td>
      <td>{{ t.requester }}</td>
      <td>{{ t.assignee or 'Unassigned' }}</td>
      <td>{{ t.next_due_at or '—' }}</td>
      <td>{{ t.created_at }}</td>
    </tr>
  {% endfor %}
  </tbody>
</table>
</main>
</body>
</html>
"""


ORM_TEMPLATE = TEMPLATE.replace(
    """      <td>{{ t.category or '—' }}</td>
      <td>{{ t.organization or '—' }}</td>
      <td>{{ t.requester }}</td>
      <td>{{ t.assignee or 'Unassigned' }}</td>
      <td>{{ t.next_due_at or '—' }}</td>
      <td>{{ t.created_at }}</td>""",
    """      <td>{{ t.category.name if t.category else '—' }}</td>
      <td>{{ t.organization.name if t.organization else '—' }}</td>
      <td>{{ t.requester.name }}</td>
      <td>{{ t.assignee.name if t.assignee else 'Unassigned' }}</td>
      <td>{{ t.next_due_at.strftime('%Y-%m-%d %H:%M') if t.next_due_at else '—' }}</td>
      <td>{{ t.created_at.strftime('%Y-%m-%d %H:%M') }}</td>""",
)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    category: Mapped[Category | None] = relationship()
    organization: Mapped[Organization | None] = relationship()
    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])


ORM_QUERY = (
    select(Ticket)
    .options(
        joinedload(Ticket.category),
        joinedload(Ticket.organization),
        joinedload(Ticket.requester),
        joinedload(Ticket.assignee),
    )
    .where(Ticket.status.in_(OPEN_STATUSES))
    .order_by(Ticket.id.desc())
    .limit(ROWS)
)


def create_app(database_url: str | None = None) -> Flask:
    app = Flask(__name__)
    app.jinja_loader = DictLoader({"table.html": TEMPLATE, "orm_table.html": ORM_TEMPLATE})
    engine = create_engine(database_url or os.environ["DATABASE_URL"])

    @app.get("/")
    def index():
        with engine.connect() as conn:
            rows = conn.execute(QUERY).all()
        return render_template("table.html", rows=rows)

    @app.get("/orm")
    def orm():
        with Session(engine) as session:
            rows = session.scalars(ORM_QUERY).all()
            return render_template("orm_table.html", rows=rows)

    @app.get("/healthz")
    def healthz():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app


app = create_app() if os.environ.get("DATABASE_URL") else None  # gunicorn bare_table:app
