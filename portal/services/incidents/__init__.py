"""Incidents (outage, security incident, data loss): declaration, linked tickets and organizations, the guide's
emergency procedures as checklists, updates written once and fanned out by the workers, update reminders, and
resolution that solves the linked tickets. ``core`` holds the rules; ``checklists``, ``fanout`` and ``reminders``
the rest."""

from portal.services.incidents.core import (
    Declaration,
    banner_for,
    can_edit_templates,
    can_manage,
    can_view,
    change_state,
    declare,
    detail,
    escalate_linked,
    get_incident,
    incidents_of_ticket,
    link_tickets,
    list_incidents,
    open_incidents,
    open_incidents_exist,
    post_update,
    set_commander,
    unlink_ticket,
)

__all__ = [
    "Declaration",
    "banner_for",
    "can_edit_templates",
    "can_manage",
    "can_view",
    "change_state",
    "declare",
    "detail",
    "escalate_linked",
    "get_incident",
    "incidents_of_ticket",
    "link_tickets",
    "list_incidents",
    "open_incidents",
    "open_incidents_exist",
    "post_update",
    "set_commander",
    "unlink_ticket",
]
