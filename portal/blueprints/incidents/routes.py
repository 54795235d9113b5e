"""Incident pages: the list, the declare form, the incident page with its htmx actions (state, commander, updates,
links, checklist), the bulk link from the agent queue and the checklist template editor. Staff only: customers get
404, anonymous users the sign-in page. Views are thin: every rule is in ``portal.services.incidents``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from portal.blueprints.common import attempt
from portal.extensions import db, htmx
from portal.models import ComponentState, IncidentKind, IncidentSeverity, IncidentState, Ticket
from portal.params import choice_param, id_param
from portal.services import incidents as service
from portal.services.errors import ValidationFailed
from portal.services.incidents import checklists, core

IMPACTS = [s for s in ComponentState if s not in (ComponentState.operational, ComponentState.maintenance)]


def staff_only(view: Callable) -> Callable:
    """Signed in (else the sign-in page), staff (else 404: customers cannot tell these pages exist)."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not service.can_view(current_user):
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def _manager_only() -> None:
    if not service.can_manage(current_user):
        abort(403)


# --------------------------------------------------------------------------- template globals


def incident_banner():
    return service.banner_for(current_user)


def ticket_incidents(ticket: Ticket):
    return service.incidents_of_ticket(ticket) if service.can_view(current_user) else []


def linkable_incidents():
    """Open incidents for the link selects (the queue, the ticket page); no query while none is open."""
    if not service.can_view(current_user) or not service.open_incidents_exist():
        return []
    if "linkable_incidents" not in g:  # the queue page and its results partial both ask: one query
        g.linkable_incidents = service.open_incidents()
    return g.linkable_incidents


def postmortem_url(incident_id: int) -> str:
    """The post-mortem page of the incident (its own blueprint; a plain path while that is not registered)."""
    for endpoint in ("postmortems.edit", "postmortems.page"):
        try:
            return url_for(endpoint, incident_id=incident_id)
        except BuildError:
            continue
    return f"/ops/post-mortems/{incident_id}"


# --------------------------------------------------------------------------- list and declaration


@staff_only
def index():
    state = choice_param("state", ["open", *(s.value for s in IncidentState)], default="", lenient=True)
    kind = choice_param("kind", [k.value for k in IncidentKind], default="", lenient=True)
    severity = choice_param("severity", [s.value for s in IncidentSeverity], default="", lenient=True)
    rows = service.list_incidents(state or "", kind or "", severity or "")
    return render_template(
        "incidents/index.html",
        rows=rows,
        filters={"state": state or "", "kind": kind or "", "severity": severity or ""},
        can_manage=service.can_manage(current_user),
    )


def _declare_context(form: dict, errors: dict | None = None) -> dict:
    return {
        "form": form,
        "errors": errors or {},
        "kinds": list(IncidentKind),
        "severities": list(IncidentSeverity),
        "impacts": IMPACTS,
        "components": core.active_components(),
        "organizations": core.organization_choices(),
        "staff": core.staff_choices(),
    }


@staff_only
def new():
    _manager_only()
    refs = [r for r in request.args.getlist("ticket") if isinstance(r, str) and r.strip()][:200]
    spike = id_param("spike", None, lenient=True)
    tickets = core.tickets_for_declaration(current_user, refs, spike)
    first = tickets[0] if tickets else None
    form = {
        "kind": "outage",
        "severity": "critical" if first is not None and first.priority.value == "critical" else "major",
        "title": first.subject if first is not None else "",
        "summary": "",
        "commander_id": current_user.id,
        "public": "",
        "all_organizations": True,
        "organization_ids": [],
        "components": {},
        "tickets": [t.reference for t in tickets] if refs else [],
        "spike": spike or "",
        "ticket_rows": tickets,
    }
    return render_template("incidents/new.html", **_declare_context(form))


@staff_only
def declare():
    _manager_only()
    f = request.form
    components = {}
    for cid in f.getlist("component"):
        components[cid] = f.get(f"impact-{cid}", ComponentState.major_outage.value)
    public_raw = f.get("public", "")
    declaration = service.Declaration(
        kind=f.get("kind", ""),
        severity=f.get("severity", ""),
        title=f.get("title", ""),
        summary=f.get("summary", ""),
        commander_id=f.get("commander_id") or None,
        public=None if public_raw == "" else public_raw == "yes",
        all_organizations=f.get("scope", "all") == "all",
        organization_ids=f.getlist("organization_ids"),
        components=components,
        ticket_refs=[r for r in f.getlist("tickets") if r.strip()],
        spike_id=f.get("spike") or None,
    )
    incident, refused = attempt(lambda: service.declare(current_user, declaration))
    if refused is not None:
        form = {
            "kind": declaration.kind,
            "severity": declaration.severity,
            "title": declaration.title,
            "summary": declaration.summary,
            "commander_id": declaration.commander_id,
            "public": public_raw,
            "all_organizations": declaration.all_organizations,
            "organization_ids": declaration.organization_ids,
            "components": components,
            "tickets": declaration.ticket_refs,
            "spike": declaration.spike_id or "",
            "ticket_rows": [],
        }
        context = _declare_context(form, refused.fields or {"form": refused.message})
        return render_template("incidents/new.html", **context), refused.status_code
    flash(f"{incident.reference} declared.", "success")
    return redirect(url_for("incidents.detail", incident_id=incident.id), 303)


# --------------------------------------------------------------------------- the incident page


def _render(incident, *, errors: dict | None = None, message: str = "", status: int = 200, conflict: str = ""):
    context = service.detail(incident)
    context.update(
        errors=errors or {},
        message=message,
        conflict=conflict,
        can_manage=service.can_manage(current_user),
        staff=core.staff_choices(),
        states=list(IncidentState),
    )
    template = "incidents/_incident.html" if htmx else "incidents/detail.html"
    return render_template(template, **context), status


@staff_only
def detail(incident_id: int):
    incident = service.get_incident(current_user, incident_id)
    return _render(incident)


@staff_only
def live(incident_id: int):
    """The updates and the timeline as they are now, swapped in out of band every 30 s (htmx), so a commander sees
    what others posted without reloading and without losing what they are typing."""
    incident = service.get_incident(current_user, incident_id)
    context = service.detail(incident)
    html = render_template("incidents/partials/_updates.html", oob=True, **context) + render_template(
        "incidents/partials/_timeline.html", oob=True, **context
    )
    response = current_app.make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


def _act(incident_id: int, change: Callable, done: str):
    """Run one service change; answer the incident region (htmx) or redirect back (plain form)."""
    incident = service.get_incident(current_user, incident_id)
    _result, refused = attempt(lambda: change(incident))
    if refused is not None:
        db.session.expire_all()
        incident = service.get_incident(current_user, incident_id)
        errors = refused.fields or {"form": refused.message}
        if not htmx:
            flash(refused.message, "error")
            return redirect(url_for("incidents.detail", incident_id=incident_id), 303)
        conflict = refused.message if refused.status_code == 409 else ""
        return _render(incident, errors=errors, status=refused.status_code, conflict=conflict)
    if not htmx:
        flash(done, "success")
        return redirect(url_for("incidents.detail", incident_id=incident_id), 303)
    db.session.flush()
    return _render(incident, message=done)


@staff_only
def state(incident_id: int):
    f = request.form
    return _act(
        incident_id,
        lambda i: service.change_state(
            current_user,
            i,
            f.get("state", ""),
            expected_version=f.get("version"),
            solve_tickets=f.get("solve") == "1",
            final_message=f.get("final_message", ""),
        ),
        "State changed.",
    )


@staff_only
def commander(incident_id: int):
    f = request.form
    return _act(
        incident_id,
        lambda i: service.set_commander(current_user, i, f.get("commander_id"), expected_version=f.get("version")),
        "Commander changed.",
    )


@staff_only
def update(incident_id: int):
    f = request.form
    return _act(
        incident_id,
        lambda i: service.post_update(
            current_user,
            i,
            f.get("body", ""),
            state=f.get("state") or None,
            expected_version=f.get("version"),
            step_id=f.get("step_id") or None,
        ),
        "Update posted: it goes out to the linked tickets, the affected customers and Slack.",
    )


@staff_only
def link(incident_id: int):
    refs = [r for r in request.form.getlist("tickets") + request.form.getlist("ticket_ids") if r.strip()][:1000]
    back = request.form.get("next", "")
    result = _act(incident_id, lambda i: service.link_tickets(current_user, i, refs), "Tickets linked.")
    if back.startswith("/") and not back.startswith("//") and not htmx:
        return redirect(back, 303)
    return result


@staff_only
def link_bulk():
    """The agent queue's bulk action: the chosen incident, the ticked tickets."""
    incident_id = id_param("incident_id", None, lenient=True, args=request.form)
    if incident_id is None:
        flash("Choose an incident to link the tickets to.", "error")
        return redirect(url_for("agent.queue"), 303)
    incident = service.get_incident(current_user, incident_id)
    refs = [r for r in request.form.getlist("ticket_ids") if r.strip()][:1000]
    count, refused = attempt(lambda: service.link_tickets(current_user, incident, refs))
    if refused is not None:
        flash(refused.message + " " + " ".join((refused.fields or {}).values()), "error")
        return redirect(url_for("agent.queue"), 303)
    flash(f"{count} ticket(s) linked to {incident.reference}.", "success")
    return redirect(url_for("incidents.detail", incident_id=incident.id), 303)


@staff_only
def unlink(incident_id: int, ticket_id: int):
    return _act(incident_id, lambda i: service.unlink_ticket(current_user, i, ticket_id), "Ticket unlinked.")


@staff_only
def tick(incident_id: int, step_id: int):
    _manager_only()
    done = request.form.get("done") == "1"
    return _act(
        incident_id,
        lambda i: checklists.tick(current_user, checklists.get_step(i, step_id), done),
        "Step ticked." if done else "Step unticked.",
    )


@staff_only
def run_step(incident_id: int, step_id: int):
    _manager_only()

    def run(incident):
        step = checklists.get_step(incident, step_id)
        if step.action != "escalate":
            raise ValidationFailed("This step has no button.", {"form": "Use the update form for this step."})
        service.escalate_linked(current_user, incident, step_id=step.id)

    return _act(incident_id, run, "Escalation started: the linked open tickets go up to engineering.")


# --------------------------------------------------------------------------- checklist templates (admins)


def _admin_only() -> None:
    if not service.can_edit_templates(current_user):
        abort(403)


def _templates_page(errors: dict | None = None, status: int = 200):
    rows = checklists.templates_by_kind()
    return render_template(
        "incidents/templates.html",
        rows=rows,
        defaults=checklists.DEFAULT_STEPS,
        actions=checklists.ACTIONS,
        errors=errors or {},
    ), status


@staff_only
def templates():
    _admin_only()
    return _templates_page()


def _template_change(change: Callable, done: str):
    _result, refused = attempt(change)
    if refused is not None:
        return _templates_page(refused.fields or {"form": refused.message}, refused.status_code)
    flash(done, "success")
    return redirect(url_for("incidents.templates"), 303)


@staff_only
def template_add():
    _admin_only()
    f = request.form
    if f.get("materialize"):
        return _template_change(lambda: checklists.materialize_defaults(f.get("kind")), "Defaults copied for editing.")
    return _template_change(
        lambda: checklists.add_template_step(f.get("kind"), f.get("title"), f.get("action", "")), "Step added."
    )


@staff_only
def template_edit(step_id: int):
    _admin_only()
    f = request.form
    return _template_change(
        lambda: checklists.edit_template_step(step_id, f.get("title"), f.get("action", "")), "Step saved."
    )


@staff_only
def template_move(step_id: int):
    _admin_only()
    direction = "up" if request.form.get("direction") == "up" else "down"
    return _template_change(lambda: checklists.move_template_step(step_id, direction), "Step moved.")


@staff_only
def template_delete(step_id: int):
    _admin_only()
    return _template_change(lambda: checklists.remove_template_step(step_id), "Step removed.")
