"""The host page's side: the embed script, the frame it opens, and the frame's exchange of the platform's signed
identity for a widget session."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Response, current_app, g, jsonify, render_template, request

from portal.extensions import limiter
from portal.models.widget import WidgetSite
from portal.services.widget import identity as identity_service
from portal.services.widget import sessions
from portal.services.widget import sites as site_service

SCRIPT_CACHE_SECONDS = 300  # the tag is on every platform page: cached briefly, so a fix still reaches them soon
# The frame's policy: the portal's own (portal/web.py: nothing inline, everything from our origin, articles' videos
# from the two allow-listed players), framed only by the site's exact origins.
FRAME_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src https://www.youtube-nocookie.com https://player.vimeo.com; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors {ancestors}"
)
SESSION_LIMIT = "60 per minute"  # per client address: a frame asks once per page view


def frame_policy(site: WidgetSite | None) -> str:
    origins = " ".join(site.origins or []) if site is not None and site.is_active else ""
    return FRAME_POLICY.format(ancestors=origins or "'none'")


def frame_headers(response):
    """Every answer of the frame and its partials (``g.widget_framed``): framed only by the site's origins,
    never cached (they are one visitor's)."""
    if g.get("widget_framed"):
        response.headers["Content-Security-Policy"] = frame_policy(g.get("widget_site"))
        response.headers["Cache-Control"] = "no-store"
        response.vary.add(sessions.HEADER)
    elif request.endpoint != "widget.script":  # the admin page shows secrets once: never kept in a cache
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def script():
    """The one tag a platform page includes. Static, the same for every site (the site is the tag's data-key)."""
    path = Path(current_app.static_folder) / "js" / "widget-embed.js"
    response = Response(path.read_bytes(), mimetype="text/javascript")
    response.charset = "utf-8"
    response.add_etag()
    response.headers["Cache-Control"] = f"public, max-age={SCRIPT_CACHE_SECONDS}"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"  # loaded by other sites' pages on purpose
    return response.make_conditional(request)


def frame():
    """The widget itself, in an iframe on the platform's page. The signed identity never reaches this URL (it would
    be logged): the host script puts it in the fragment, which the frame's script reads and exchanges."""
    g.widget_framed = True
    site = site_service.by_public_key(request.args.get("key"))
    g.widget_site = site
    if site is None:
        return render_template("widget/unknown.html"), 404
    return render_template("widget/frame.html", site=site)


def _error(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message}}), status


@limiter.limit(SESSION_LIMIT)
def session():
    """POST /widget/session (JSON from the frame, same origin): ``{"key", "jwt"}`` or ``{"key", "email",
    "user_hash", "kid"}`` or just ``{"key"}`` → ``{"token", "user"}`` (token and user null for an anonymous
    visitor), or 4xx ``{"error": {"code", "message"}}``."""
    g.widget_framed = True
    # Same origin only: another page calling this itself would be a stolen identity's way in. The host is compared
    # (not the scheme, which a TLS-terminating proxy may have changed on the way).
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc.lower() != request.host.lower():
        return _error(403, "origin", "Only the widget frame may ask for a widget session.")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "bad_request", "Send a JSON object.")
    site = site_service.by_public_key(data.get("key") if isinstance(data.get("key"), str) else None)
    g.widget_site = site
    if site is None:
        return _error(404, "unknown_site", "This widget is not set up (unknown or inactive site key).")
    try:
        result = identity_service.exchange(site, data)
    except identity_service.IdentityRefused as refused:  # a 4xx: the request's transaction is rolled back
        return _error(refused.status, refused.code, refused.message)
    user = None
    if result.user is not None:
        user = {"name": result.user.name, "email": result.user.email}
    return jsonify({"token": result.token, "user": user, "verified_only": site.verified_only})
