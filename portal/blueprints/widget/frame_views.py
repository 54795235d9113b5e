"""The frame's partials: KB suggestions, filing a ticket, the visitor's tickets and replies. All answer htmx
requests from the frame, authenticated by the widget session header (``services.widget.sessions``), never by a
cookie; an anonymous visitor of a site that allows them (``X-Widget-Key``) gets the KB suggestions only.

Tickets are read and changed exactly as on the customer pages: ``access.get_ticket_for`` with the widget's user,
``tickets.create_ticket`` / ``reply_to_ticket``, the attachment service's checks."""

from __future__ import annotations

from flask import current_app, g, render_template, request

from portal.blueprints.widget.forms import WidgetReplyForm, WidgetTicketForm
from portal.extensions import db
from portal.models import Channel, Ticket, User
from portal.models.kb import Article
from portal.services import attachments as attachment_service
from portal.services import tickets as ticket_service
from portal.services.access import get_ticket_for, visible_events
from portal.services.errors import ServiceError, ValidationFailed
from portal.services.kb import analytics
from portal.services.kb.search import suggest
from portal.services.queries import TicketFilters, list_tickets
from portal.services.widget import sessions
from portal.services.widget import sites as site_service

KEY_HEADER = "X-Widget-Key"
TICKETS_SHOWN = 20


class Refused(Exception):
    """A partial that cannot answer (no usable widget session, nothing there): a short message the frame shows in
    place (``refused``, registered on the blueprint)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def refused(exc: Refused | ServiceError):
    """The frame's errors as a partial (the portal's error page is a whole page with its navigation); the admin
    pages of the blueprint keep the portal's error page."""
    status = exc.status if isinstance(exc, Refused) else exc.status_code
    db.session.rollback()
    if not g.get("widget_framed"):
        return render_template("errors/error.html", code=status, message=exc.message), status
    return render_template("widget/partials/_refused.html", message=exc.message), status


def _visitor(*, signed: bool = True) -> User | None:
    """The widget session's user (and its site on ``g`` for the frame headers); with ``signed=False`` an anonymous
    visitor of a site that takes them is let through as None."""
    g.widget_framed = True
    identity = sessions.from_request()
    if identity is not None:
        g.widget_site = site_service.get_site(identity.site_id)
        return identity.user
    site = site_service.by_public_key(request.headers.get(KEY_HEADER))
    g.widget_site = site
    if signed or site is None or site.verified_only:
        raise Refused(401, "Your widget session has ended or was never started. Reload the page to sign in again.")
    return None


def _typed_text() -> str:
    return " ".join(
        part for part in (request.values.get("subject", ""), request.values.get("description", "")) if part.strip()
    )


def _shown() -> list[str]:
    return [d for d in dict.fromkeys(request.values.getlist("suggested")) if analytics.parse_doc_id(d)][:20]


def panel():
    """What the frame shows first: for a signed user the new-request form and their tickets, for an anonymous
    visitor the help-centre search only."""
    user = _visitor(signed=False)
    if user is None:
        return render_template("widget/partials/_anonymous.html")
    return render_template(
        "widget/partials/_home.html",
        user=user,
        form=WidgetTicketForm(formdata=None),
        chat_panel="chat.panel" in current_app.view_functions,  # the chat helper's panel, once it exists
    )


def suggestions():
    """KB suggestions while the visitor types (the same look-up and search log as the customer's new-ticket page);
    what the viewer may read follows the widget's user (None: what anyone may)."""
    user = _visitor(signed=False)
    text = _typed_text() or " ".join((request.values.get("q") or "").split())
    found = suggest(user, text[:2000]) if text.strip() else None
    results, log_id = (found.results, found.log_id) if found else (None, None)
    shown = list(dict.fromkeys(_shown() + [hit.doc_id for hit in (results.hits if results else [])]))[:20]
    return render_template(
        "widget/partials/_suggestions.html", results=results, log_id=log_id, shown=shown, signed=user is not None
    )


def suggestion(doc_id: str):
    user = _visitor(signed=False)
    doc = analytics.suggestable(doc_id)
    if doc is None:
        raise Refused(404, "That article is no longer available.")
    search = analytics.search_ref(request.args.get("log"))
    if search is not None:
        analytics.record_click(search, doc)  # noted in the search log buffer: no write on this GET
    return render_template(
        "widget/partials/_suggestion_open.html",
        doc=doc,
        doc_id=doc_id,
        is_article=isinstance(doc, Article),
        text=_typed_text(),
        signed=user is not None,
    )


def solved():
    """ "This solved my problem": a deflection, no ticket."""
    user = _visitor(signed=False)
    doc = analytics.suggestable(request.form.get("doc", ""))
    if doc is None:
        raise Refused(404, "That article is no longer available.")
    analytics.record_deflection(user, doc, request.form.get("text", "")[:2000])
    return render_template("widget/partials/_solved.html", signed=user is not None)


def new_ticket():
    user = _visitor()
    form = WidgetTicketForm()
    if form.validate_on_submit():
        files = request.files.getlist("attachments")
        try:
            problems = attachment_service.check_uploads(files)
            if problems:
                raise ValidationFailed(problems[attachment_service.FIELD], problems)
            ticket = ticket_service.create_ticket(
                user,
                subject=form.subject.data,
                description=form.description.data,
                category=form.category.data,
                priority=form.priority.data,
                channel=Channel.web,  # the widget is the portal's own form, shown on the platform's page
            )
            attachment_service.store_uploads(files, uploader=user, ticket=ticket)
        except ValidationFailed as exc:
            db.session.rollback()
            _form_errors(form, exc)
            return render_template("widget/partials/_new_ticket.html", form=form), 422
        analytics.record_ticket_suggestions(ticket, request.form.getlist("suggested"))
        return _render_ticket(user, ticket, filed=True)
    return render_template("widget/partials/_new_ticket.html", form=form), 422


def tickets():
    user = _visitor()
    rows = list_tickets(user, TicketFilters(view="org", sort="updated"), 1, TICKETS_SHOWN)[:TICKETS_SHOWN]
    return render_template("widget/partials/_tickets.html", tickets=rows, user=user)


def ticket(reference: str):
    user = _visitor()
    return _render_ticket(user, get_ticket_for(user, reference))


def reply(reference: str):
    user = _visitor()
    ticket = get_ticket_for(user, reference)
    form = WidgetReplyForm()
    if not form.validate_on_submit():
        return _render_ticket(user, ticket, reply_form=form, status=422)
    files = request.files.getlist("attachments")
    try:
        problems = attachment_service.check_uploads(files)
        if problems:
            raise ValidationFailed(problems[attachment_service.FIELD], problems)
        result = ticket_service.reply_to_ticket(user, ticket, form.body.data)
        attachment_service.store_reply_uploads(files, uploader=user, ticket=ticket, result=result)
    except ValidationFailed as exc:
        db.session.rollback()
        _form_errors(form, exc)
        return _render_ticket(user, get_ticket_for(user, reference), reply_form=form, status=422)
    if isinstance(result, Ticket):
        return _render_ticket(user, result, followed_up=ticket.reference)
    return _render_ticket(user, ticket, replied=True)


def _render_ticket(user: User, ticket: Ticket, *, reply_form=None, status: int = 200, **flags):
    events = visible_events(user, ticket)
    files: dict[int | None, list] = {}
    for attachment in attachment_service.for_ticket(user, ticket):  # only what this user may read
        files.setdefault(attachment.event_id, []).append(attachment)
    return (
        render_template(
            "widget/partials/_ticket.html",
            ticket=ticket,
            events=events,
            files=files,
            reply_form=reply_form or WidgetReplyForm(formdata=None),
            **flags,
        ),
        status,
    )


def _form_errors(form, exc: ValidationFailed) -> None:
    for name, message in exc.fields.items():
        if hasattr(form, name):
            getattr(form, name).errors = [message]
