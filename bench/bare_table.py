"""The floor for a list page: a bare Flask + SQLAlchemy + Jinja app that serves 50 rows of the portal's tickets table.

    DATABASE_URL=sqlite:////tmp/bench10k.db gunicorn -w 2 --pythonpath bench bare_table:app

No portal code, no sign-in, no layout, no blueprint, no extensions: one route runs one SELECT (the 50 newest open
tickets with their requester, assignee, organization and category names, LEFT JOINs) through a SQLAlchemy engine and
renders them with a plain ``{% for %}`` loop in an autoescaping Jinja template. ``bench/bench_compare.py`` times the
portal's pages against it, so that the ratio says how much the portal adds on top of what any Flask page of the same
size costs. ``/healthz`` runs ``SELECT 1``.
"""

from __future__ import annotations

import os

from flask import Flask, render_template
from jinja2 import DictLoader
from sqlalchemy import column, create_engine, select, table, text

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


def create_app(database_url: str | None = None) -> Flask:
    app = Flask(__name__)
    app.jinja_loader = DictLoader({"table.html": TEMPLATE})
    engine = create_engine(database_url or os.environ["DATABASE_URL"])

    @app.get("/")
    def index():
        with engine.connect() as conn:
            rows = conn.execute(QUERY).all()
        return render_template("table.html", rows=rows)

    @app.get("/healthz")
    def healthz():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app


app = create_app() if os.environ.get("DATABASE_URL") else None  # gunicorn bare_table:app
