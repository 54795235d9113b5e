"""An organization admin's page: the organization's members and the requests to join it (approve or refuse)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.blueprints.common import attempt, customer_required
from portal.services import account_flows


def _own_organization():
    """The signed-in organization admin's organization (403 for any other customer)."""
    organization = current_user.organization
    if organization is None or not account_flows.can_decide_joins(current_user, organization):
        abort(403)
    return organization


@customer_required
def organization_members():
    organization = _own_organization()
    return _render(organization)


def _render(organization, *, error: str | None = None, status: int = 200):
    return render_template(
        "customer/organization_members.html",
        organization=organization,
        members=account_flows.organization_members(organization),
        pending=account_flows.pending_joins(organization),
        error=error,
    ), status


@customer_required
def approve_join(user_id: int):
    return _decide(user_id, approve=True)


@customer_required
def refuse_join(user_id: int):
    return _decide(user_id, approve=False)


def _decide(user_id: int, *, approve: bool):
    organization = _own_organization()
    user, refused = attempt(lambda: account_flows.decide_join(current_user, organization, user_id, approve=approve))
    if refused is not None:
        return _render(organization, error=refused.message, status=refused.status_code)
    flash(f"{user.name} {'joined' if approve else 'was refused'} {organization.name}.", "success")
    return redirect(url_for("customer.organization_members"), 303)
