"""The ``mail`` blueprint. Inbound mail for admins: every message with its outcome, the quarantine (view raw,
reprocess, release, discard).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mail", __name__)
