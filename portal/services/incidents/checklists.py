"""Incident checklists: the guide's emergency procedures per kind (``ChecklistTemplateStep`` rows, admin-editable,
with built-in defaults when a kind has none), copied onto an incident at declaration, and ticked (or unticked) by a
named person at an instant, each change a timeline event."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ChecklistTemplateStep, Incident, IncidentEvent, IncidentKind, IncidentStep, User, utcnow
from portal.params import bad_text, parse_id, single_line
from portal.services import audit
from portal.services.errors import NotFound, ValidationFailed

# What a step's button can do (empty: a step a person does and ticks).
ACTIONS: dict[str, str] = {
    "": "None (tick by hand)",
    "notify": "Post an update to every affected customer",
    "escalate": "Escalate the linked tickets to engineering",
    "update": "Post an update",
    "postmortem": "Open the post-mortem",
}

# The operations guide's EMERGENCY PROCEDURES, used when a kind has no template rows.
DEFAULT_STEPS: dict[IncidentKind, tuple[tuple[str, str], ...]] = {
    IncidentKind.outage: (
        ("Acknowledge the incident immediately", ""),
        ("Notify all affected customers", "notify"),
        ("Escalate to the engineering team", "escalate"),
        ("Provide hourly updates", "update"),
        ("Conduct a post-mortem", "postmortem"),
    ),
    IncidentKind.security: (
        ("Isolate affected systems", ""),
        ("Notify the security team", "escalate"),
        ("Document everything", ""),
        ("Follow the incident response plan", ""),
        ("Customer communication per policy", "notify"),
    ),
    IncidentKind.data_loss: (
        ("Stop all operations on the affected data", ""),
        ("Assess the scope of the loss", ""),
        ("Restore from backup", "escalate"),
        ("Verify data integrity", ""),
        ("Customer notification", "notify"),
    ),
}

TITLE_MAX = 200


def template_steps(kind: IncidentKind) -> list[tuple[str, str]]:
    """(title, action) of ``kind``'s procedure: the admin's rows in order, else the built-in defaults."""
    rows = db.session.scalars(
        select(ChecklistTemplateStep)
        .where(ChecklistTemplateStep.kind == kind)
        .order_by(ChecklistTemplateStep.position, ChecklistTemplateStep.id)
    ).all()
    if rows:
        return [(r.title, r.action) for r in rows]
    return list(DEFAULT_STEPS[kind])


def copy_to(incident: Incident) -> list[IncidentStep]:
    steps = [
        IncidentStep(incident_id=incident.id, position=i, title=title, action=action)
        for i, (title, action) in enumerate(template_steps(incident.kind))
    ]
    db.session.add_all(steps)
    return steps


def steps_of(incident: Incident) -> list[IncidentStep]:
    return list(
        db.session.scalars(
            select(IncidentStep)
            .where(IncidentStep.incident_id == incident.id)
            .order_by(IncidentStep.position, IncidentStep.id)
        )
    )


def get_step(incident: Incident, step_id: int) -> IncidentStep:
    step = db.session.get(IncidentStep, step_id)
    if step is None or step.incident_id != incident.id:
        raise NotFound("No such step.")
    return step


def tick(actor: User, step: IncidentStep, done: bool) -> bool:
    """Tick (``done``) or untick a step as ``actor`` now; returns whether anything changed (ticking a ticked step
    keeps the first person and instant)."""
    if done == (step.done_at is not None):
        return False
    now = utcnow()
    step.done_by_id, step.done_at = (actor.id, now) if done else (None, None)
    db.session.add(
        IncidentEvent(
            incident_id=step.incident_id,
            kind="step_done" if done else "step_undone",
            detail=step.title,
            actor_id=actor.id,
            at=now,
        )
    )
    db.session.flush()
    return True


def mark_action_done(actor: User, incident: Incident, action: str) -> None:
    """Tick the first unticked step with ``action`` (the button did what the step asks)."""
    for step in steps_of(incident):
        if step.action == action and step.done_at is None:
            tick(actor, step, True)
            return


# --------------------------------------------------------------------------- template administration


def templates_by_kind() -> dict[IncidentKind, list[ChecklistTemplateStep]]:
    rows = db.session.scalars(
        select(ChecklistTemplateStep).order_by(
            ChecklistTemplateStep.kind, ChecklistTemplateStep.position, ChecklistTemplateStep.id
        )
    ).all()
    result: dict[IncidentKind, list[ChecklistTemplateStep]] = {k: [] for k in IncidentKind}
    for row in rows:
        result[row.kind].append(row)
    return result


def _clean(title: object, action: object) -> tuple[str, str]:
    errors: dict[str, str] = {}
    text = single_line(title).strip() if isinstance(title, str) else ""
    if not text:
        errors["title"] = "A step needs a title."
    elif len(text) > TITLE_MAX:
        errors["title"] = f"At most {TITLE_MAX} characters."
    elif bad_text(text):
        errors["title"] = "Remove the control characters from this text."
    action = action if isinstance(action, str) else ""
    if action not in ACTIONS:
        errors["action"] = "Choose one of the listed actions."
    if errors:
        raise ValidationFailed("The step was not saved.", errors)
    return text, action


def _materialize(kind: IncidentKind) -> list[ChecklistTemplateStep]:
    """A kind still on the built-in defaults gets them as rows before its first edit."""
    rows = templates_by_kind()[kind]
    if rows:
        return rows
    rows = [
        ChecklistTemplateStep(kind=kind, position=i, title=title, action=action)
        for i, (title, action) in enumerate(DEFAULT_STEPS[kind])
    ]
    db.session.add_all(rows)
    db.session.flush()
    return rows


def parse_kind(value: object) -> IncidentKind:
    try:
        return IncidentKind(value)
    except ValueError:
        raise ValidationFailed("Unknown kind.", {"kind": "Choose outage, security or data loss."}) from None


def add_template_step(kind: object, title: object, action: object) -> ChecklistTemplateStep:
    kind = parse_kind(kind)
    text, action = _clean(title, action)
    _materialize(kind)
    last = db.session.scalar(select(func.max(ChecklistTemplateStep.position)).where(ChecklistTemplateStep.kind == kind))
    row = ChecklistTemplateStep(kind=kind, position=(last or 0) + 1, title=text, action=action)
    db.session.add(row)
    db.session.flush()
    _audit(row, "added", after={"title": text, "action": action})
    return row


def _audit(row: ChecklistTemplateStep, what: str, before: dict | None = None, after: dict | None = None) -> None:
    audit.record(
        "incident.template_changed",
        target=row,
        target_label=f"{row.kind.label}: {row.title}",
        before=before,
        after=after,
        detail=what,
    )


def _template_row(step_id: object) -> ChecklistTemplateStep:
    row = db.session.get(ChecklistTemplateStep, parse_id(step_id) or 0)
    if row is None:
        raise NotFound("No such template step.")
    return row


def edit_template_step(step_id: object, title: object, action: object) -> ChecklistTemplateStep:
    row = _template_row(step_id)
    before = {"title": row.title, "action": row.action}
    row.title, row.action = _clean(title, action)
    db.session.flush()
    _audit(row, "edited", before=before, after={"title": row.title, "action": row.action})
    return row


def move_template_step(step_id: object, direction: str) -> None:
    row = _template_row(step_id)
    rows = templates_by_kind()[row.kind]
    index = rows.index(row)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
    for position, r in enumerate(rows):
        r.position = position
    db.session.flush()
    _audit(row, f"moved {direction}", after={"position": row.position})


def remove_template_step(step_id: object) -> None:
    row = _template_row(step_id)
    _audit(row, "removed", before={"title": row.title, "action": row.action})
    db.session.delete(row)
    db.session.flush()


def materialize_defaults(kind: object) -> None:
    _materialize(parse_kind(kind))
