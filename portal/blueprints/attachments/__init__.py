"""The ``attachments`` blueprint. Attachment downloads, checked by the same rule as the ticket event they belong to."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("attachments", __name__)
