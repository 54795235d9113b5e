"""The ``oncall`` blueprint: the on-call schedule (/ops/on-call), page acknowledgements, the hotline form for an
agent who takes the call by hand; and ``hotline_api`` (/api/v1/hotline, signed requests of the telephony provider).
(Being built: placeholders.)"""

from __future__ import annotations

from flask import Blueprint, abort

bp = Blueprint("oncall", __name__)
hotline_api = Blueprint("hotline_api", __name__)


@bp.get("/ops/on-call")
def schedule():
    abort(404)


@hotline_api.post("/calls")
def calls():
    abort(404)
