"""The support team's cost model: what a year of the desk costs, and so what one ticket costs.

The model is one JSON setting (``portal_settings`` key ``cost_model``), edited by an admin at /admin/cost::

    {"roles": {"agent": {"headcount": 6, "salary": 50000}, "senior_agent": {"headcount": 3, "salary": 70000},
               "manager": {"headcount": 1, "salary": 90000}, "admin": {"headcount": 1, "salary": 80000}},
     "benefits_percent": 30, "tools": 20000, "training": 15000, "office": 30000,
     "headcount_source": "model"}

Annual total = salaries (headcount × salary per role) + benefits (a percentage of the salaries) + tools + training
+ office and equipment. With ``headcount_source`` ``"roster"`` the headcounts are the active staff accounts per role
instead of the model's numbers. The defaults give $680,000 of salaries, $204,000 of benefits and $949,000 a year:
about $190 per ticket at 5,000 tickets a year. The reports' ``cost_per_ticket`` is
``annual_total × (days ÷ 365) ÷ tickets created``.

``load()`` never fails (a missing or damaged setting falls back to the defaults, key by key); ``save(values, actor)``
validates (admins only), writes the setting and flushes, never commits.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Role, Setting, Ticket, User, utcnow
from portal.services import audit
from portal.services.errors import Forbidden, ValidationFailed

SETTING_KEY = "cost_model"
ROLES = (Role.agent, Role.senior_agent, Role.manager, Role.admin)
OTHER_LINES = (("tools", "Tools and licences"), ("training", "Training"), ("office", "Office and equipment"))
HEADCOUNT_SOURCES = {"model": "The headcounts entered here", "roster": "The active staff accounts per role"}
SEED_TICKETS_PER_YEAR = 5000
MAX_HEADCOUNT = 10_000
MAX_AMOUNT = Decimal("1000000000")

DEFAULTS: dict[str, Any] = {
    "roles": {
        "agent": {"headcount": 6, "salary": 50000},
        "senior_agent": {"headcount": 3, "salary": 70000},
        "manager": {"headcount": 1, "salary": 90000},
        "admin": {"headcount": 1, "salary": 80000},
    },
    "benefits_percent": 30,
    "tools": 20000,
    "training": 15000,
    "office": 30000,
    "headcount_source": "model",
}


def defaults() -> dict[str, Any]:
    return copy.deepcopy(DEFAULTS)


# --------------------------------------------------------------------------- parsing and validation


def _number(value: Any, name: str, errors: dict[str, str], *, maximum: Decimal, integer: bool = False):
    """A non-negative amount from a form string ("50,000", "$1 200.50") or a number; None (and a message) if bad."""
    if isinstance(value, bool):
        value = None
    text = str(value if value is not None else "").strip().replace(",", "").replace("$", "").replace(" ", "")
    if not text:
        errors[name] = "Enter a number (0 if none)."
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        errors[name] = "Enter a number, e.g. 50000."
        return None
    if not number.is_finite() or number < 0:
        errors[name] = "Enter a number of 0 or more."
    elif number > maximum:
        errors[name] = f"Enter at most {maximum:,}."
    elif integer and number != number.to_integral_value():
        errors[name] = "Enter a whole number."
    elif not integer and number.as_tuple().exponent < -2:
        errors[name] = "Use at most two decimals (cents)."
    else:
        return int(number) if integer or number == number.to_integral_value() else float(number)
    return None


def form_values(model: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The model as the admin form's flat fields (``agent_headcount``, ``agent_salary``, ..., ``office``)."""
    model = model or load()
    values = {}
    for role in ROLES:
        line = model["roles"][role.value]
        values[f"{role.value}_headcount"] = str(line["headcount"])
        values[f"{role.value}_salary"] = str(line["salary"])
    for key in ("benefits_percent", *(k for k, _ in OTHER_LINES)):
        values[key] = str(model[key])
    values["headcount_source"] = model["headcount_source"]
    return values


def parse(values: Mapping[str, Any]) -> dict[str, Any]:
    """A model from the form's flat fields or from a model-shaped mapping; ``ValidationFailed`` with one message
    per field that is wrong."""
    if "roles" in values and isinstance(values["roles"], Mapping):
        flat = {
            f"{r}_{k}": v for r, line in values["roles"].items() if isinstance(line, Mapping) for k, v in line.items()
        }
        values = {**{k: v for k, v in values.items() if k != "roles"}, **flat}
    errors: dict[str, str] = {}
    model = defaults()
    for role in ROLES:
        headcount = _number(
            values.get(f"{role.value}_headcount"),
            f"{role.value}_headcount",
            errors,
            maximum=Decimal(MAX_HEADCOUNT),
            integer=True,
        )
        salary = _number(values.get(f"{role.value}_salary"), f"{role.value}_salary", errors, maximum=MAX_AMOUNT)
        model["roles"][role.value] = {"headcount": headcount, "salary": salary}
    model["benefits_percent"] = _number(
        values.get("benefits_percent"), "benefits_percent", errors, maximum=Decimal(100)
    )
    for key, _label in OTHER_LINES:
        model[key] = _number(values.get(key), key, errors, maximum=MAX_AMOUNT)
    source = str(values.get("headcount_source") or "model").strip()
    if source not in HEADCOUNT_SOURCES:
        errors["headcount_source"] = "Choose the model's headcounts or the active roster."
    model["headcount_source"] = source
    if errors:
        raise ValidationFailed("The cost model was not saved: please correct the marked fields.", errors)
    return model


# --------------------------------------------------------------------------- storage


def load() -> dict[str, Any]:
    """The stored model, each missing or damaged part replaced by its default."""
    stored = db.session.get(Setting, SETTING_KEY)
    model = defaults()
    if stored is None or not isinstance(stored.value, Mapping):
        return model
    value = stored.value
    for role in ROLES:
        line = (value.get("roles") or {}).get(role.value) if isinstance(value.get("roles"), Mapping) else None
        if isinstance(line, Mapping):
            for key in ("headcount", "salary"):
                if _valid_number(line.get(key)):
                    model["roles"][role.value][key] = line[key]
    for key in ("benefits_percent", *(k for k, _ in OTHER_LINES)):
        if _valid_number(value.get(key)):
            model[key] = value[key]
    if value.get("headcount_source") in HEADCOUNT_SOURCES:
        model["headcount_source"] = value["headcount_source"]
    return model


def _valid_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def save(values: Mapping[str, Any], actor: User) -> dict[str, Any]:
    """Validate and store the model (admins only). Returns the stored model."""
    if actor is None or actor.role is not Role.admin:
        raise Forbidden("Only admins change the cost model.")
    model = parse(values)
    old, new = audit.changes(_flat(load()), _flat(model))
    setting = db.session.get(Setting, SETTING_KEY)
    if setting is None:
        setting = Setting(key=SETTING_KEY, value=model, updated_at=utcnow())
        db.session.add(setting)
    else:
        setting.value = model
        setting.updated_at = utcnow()
    db.session.flush()
    if new:
        audit.record(
            "settings.other",
            target=setting,
            target_id=SETTING_KEY,
            target_label="cost model",
            before=old,
            after=new,
            actor=actor,
        )
    return model


def _flat(model: Mapping[str, Any]) -> dict[str, Any]:
    """The model with one key per role figure ("agent.salary"), so the audit log shows what changed."""
    flat = {k: v for k, v in model.items() if k != "roles"}
    for role, line in (model.get("roles") or {}).items():
        flat.update({f"{role}.{key}": value for key, value in line.items()})
    return flat


# --------------------------------------------------------------------------- figures


def roster_headcounts() -> dict[str, int]:
    """Active staff accounts per role (the "headcount from the active roster" option)."""
    rows = db.session.execute(
        select(User.role, func.count())
        .where(User.role.in_(ROLES), User.is_active_account.is_(True), User.is_approved.is_(True))
        .group_by(User.role)
    ).all()
    counts = {role.value: 0 for role in ROLES}
    counts.update({Role(role).value: n for role, n in rows})
    return counts


def headcounts(model: Mapping[str, Any] | None = None) -> dict[str, int]:
    model = model or load()
    if model["headcount_source"] == "roster":
        return roster_headcounts()
    return {role.value: int(model["roles"][role.value]["headcount"]) for role in ROLES}


def breakdown(model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every line of the model with its annual amount, the subtotals and the total (what the admin page shows)."""
    model = model or load()
    counts = headcounts(model)
    lines = []
    for role in ROLES:
        salary = model["roles"][role.value]["salary"]
        lines.append(
            {
                "key": role.value,
                "label": f"{role.label} salaries",
                "headcount": counts[role.value],
                "salary": salary,
                "amount": counts[role.value] * salary,
            }
        )
    salaries = sum(line["amount"] for line in lines)
    benefits = salaries * model["benefits_percent"] / 100
    others = [{"key": key, "label": label, "amount": model[key]} for key, label in OTHER_LINES]
    total = salaries + benefits + sum(o["amount"] for o in others)
    return {
        "salary_lines": lines,
        "salaries": salaries,
        "benefits_percent": model["benefits_percent"],
        "benefits": benefits,
        "other_lines": others,
        "total": total,
        "headcount_source": model["headcount_source"],
    }


def annual_total(model: Mapping[str, Any] | None = None) -> float:
    """What a year of the support desk costs under ``model`` (default: the stored one)."""
    return float(breakdown(model)["total"])


def cost_per_ticket(tickets: int, days: float = 365, model: Mapping[str, Any] | None = None) -> float | None:
    """The annual total spread over ``days`` and divided by ``tickets``; None when there are no tickets."""
    if not tickets:
        return None
    return annual_total(model) * (days / 365) / tickets


def overview(recent, model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the admin page shows: the breakdown, the cost per ticket at the seed's 5,000 tickets a year, and for
    ``recent`` (a report ``Period``, e.g. the last 30 days) the tickets created in it and their cost each."""
    figures = breakdown(model)
    created = db.session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.created_at >= recent.start, Ticket.created_at < recent.end)
    )
    figures.update(
        seed_tickets_per_year=SEED_TICKETS_PER_YEAR,
        per_ticket_at_seed=cost_per_ticket(SEED_TICKETS_PER_YEAR, model=model),
        recent_days=recent.days,
        recent_tickets=created,
        recent_per_ticket=cost_per_ticket(created, recent.days, model=model),
    )
    return figures
