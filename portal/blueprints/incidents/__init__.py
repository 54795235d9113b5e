"""The ``incidents`` blueprint. Incidents: declare, link tickets, checklists, updates, resolve; post-mortems (managers
and senior agents; admins configure).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("incidents", __name__)
