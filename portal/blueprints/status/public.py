"""The public status page, one incident's page and the feeds: anonymous, and answered without touching the session
(no CSRF token, no flashed messages, no cookie set), so /status can be cached and served from memory."""

from __future__ import annotations

from flask import abort, current_app, render_template, request, session
from flask_login import current_user

from portal.services.status import feed
from portal.services.status import page as status_page


def _no_token() -> str:
    return ""


def _no_flashes(*_args, **_kwargs) -> list:
    return []


def _public_render(template: str, **context) -> str:
    """Render for the public: an anonymous visitor's page never creates a CSRF token nor pops flashed messages
    (either would write the session and set a cookie); a signed-in viewer gets the usual page."""
    if not current_user.is_authenticated:
        context.update(csrf_token=_no_token, get_flashed_messages=_no_flashes)
    return render_template(template, **context)


def page():
    if current_user.is_authenticated:  # their zone and navigation: the data is cached, the page rendered
        return render_template(
            "status/page.html", data=status_page.status_data(), history_cells=status_page.HISTORY_CELLS
        )
    return status_page.cached(
        "html:anonymous",
        lambda data: _public_render("status/page.html", data=data, history_cells=status_page.HISTORY_CELLS).encode(),
    )


def incident(incident_id: int):
    found = status_page.public_incident(incident_id)
    if found is None:
        abort(404)
    return _public_render("status/incident.html", **found)


def _feed(template: str, mimetype: str):
    entries = feed.entries()
    body = render_template(template, entries=entries, updated=feed.feed_updated(entries))
    return current_app.response_class(body, mimetype=mimetype)


def feed_atom():
    return _feed("status/feed.atom.xml", "application/atom+xml")


def feed_rss():
    return _feed("status/feed.rss.xml", "application/rss+xml")


PUBLIC_ENDPOINTS = frozenset({"status.page", "status.incident", "status.feed_atom", "status.feed_rss"})


def keep_session_untouched(response):
    """An anonymous visitor of the public pages gets no cookie. Nothing here writes the session, but Flask-Login's
    strong session protection tidies a non-empty anonymous session (say, one holding the subscribe form's CSRF
    token) on every request it reads the user: that tidying is dropped here, so the session is left as it came."""
    if request.endpoint in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        session.pop("_remember", None)
        session.modified = False
    return response
