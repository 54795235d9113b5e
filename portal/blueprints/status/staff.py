"""Staff pages of the status page: components (admins edit, managers view) and maintenance windows (managers and
admins)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import attempt, roles_required
from portal.models import Role
from portal.services.status import components as component_service
from portal.services.status import maintenance as maintenance_service

viewers_required = roles_required(Role.admin, Role.manager)
editors_required = roles_required(Role.admin)


def _components_page(errors: dict | None = None, status: int = 200):
    return render_template(
        "status/ops_components.html",
        rows=component_service.list_components(active_only=False),
        states=component_service.current_states(),
        can_edit=current_user.role is Role.admin,
        errors=errors or {},
    ), status


@viewers_required
def components():
    return _components_page()


def _saved(message: str, endpoint: str):
    flash(message, "success")
    return redirect(url_for(endpoint), 303)


@editors_required
def add_component():
    component, refused = attempt(
        lambda: component_service.add_component(
            current_user, name=request.form.get("name", ""), description=request.form.get("description", "")
        )
    )
    if refused is not None:
        return _components_page(refused.fields, refused.status_code)
    return _saved(f"{component.name} added.", "status.components")


@editors_required
def update_component(component_id: int):
    component, refused = attempt(
        lambda: component_service.update_component(
            current_user,
            component_id,
            name=request.form.get("name", ""),
            description=request.form.get("description", ""),
            is_active=request.form.get("is_active") == "1",
        )
    )
    if refused is not None:
        return _components_page(refused.fields, refused.status_code)
    return _saved(f"{component.name} saved.", "status.components")


@editors_required
def move_component(component_id: int):
    component, refused = attempt(
        lambda: component_service.move_component(current_user, component_id, request.form.get("direction", ""))
    )
    if refused is not None:
        return _components_page(refused.fields, refused.status_code)
    return _saved(f"{component.name} moved.", "status.components")


def _maintenance_page(errors: dict | None = None, status: int = 200):
    windows = maintenance_service.windows()
    return render_template(
        "status/ops_maintenance.html",
        windows=[(w, maintenance_service.phase(w)) for w in reversed(windows)],
        names=maintenance_service.component_ids_of([w.id for w in windows]),
        components={c.id: c for c in component_service.list_components(active_only=False)},
        active=component_service.list_components(),
        errors=errors or {},
        form=request.form if errors else {},
    ), status


@viewers_required
def maintenance():
    return _maintenance_page()


@viewers_required
def schedule_maintenance():
    window, refused = attempt(
        lambda: maintenance_service.schedule(
            current_user,
            title=request.form.get("title", ""),
            body=request.form.get("body", ""),
            starts=request.form.get("starts_at", ""),
            ends=request.form.get("ends_at", ""),
            component_ids=request.form.getlist("components"),
            zone=current_user.timezone or "UTC",
        )
    )
    if refused is not None:
        return _maintenance_page(refused.fields, refused.status_code)
    return _saved(f"Maintenance “{window.title}” scheduled.", "status.maintenance")


@viewers_required
def cancel_maintenance(window_id: int):
    window, refused = attempt(lambda: maintenance_service.cancel(current_user, window_id))
    if refused is not None:
        return _maintenance_page(refused.fields, refused.status_code)
    return _saved(f"Maintenance “{window.title}” cancelled.", "status.maintenance")
