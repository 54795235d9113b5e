"""Admin (admins and managers): overview and sign-up approval, organizations, users and roles, categories."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.admin.forms import (
    ROLE_FILTERS,
    ApproveForm,
    CategoryForm,
    EditUserForm,
    NewUserForm,
    OrganizationForm,
)
from portal.blueprints.common import admin_required, make_page, page_number
from portal.models import Role
from portal.services import account_flows, twofactor
from portal.services import admin as admin_service
from portal.services import phone as phone_service
from portal.services.catalog import category_usage, save_category
from portal.services.errors import ValidationFailed

# --------------------------------------------------------------------------- overview and approval


@admin_required
def index():
    return _render_overview()


@admin_required
def approve(user_id: int):
    user = admin_service.get_user(user_id)
    form = ApproveForm()
    if not form.validate_on_submit():
        return _render_overview(
            error=f"Could not approve {user.name}: choose an organization from the list.", status=422
        )
    try:
        admin_service.approve_pending_user(current_user, user, form.organization)
    except ValidationFailed as exc:
        return _render_overview(error=f"Could not approve {user.name}: {exc.message}", status=422)
    flash(f"{user.name} is approved and can sign in now.", "success")
    return redirect(url_for("admin.index"), 303)


def _render_overview(*, error: str | None = None, status: int = 200):
    pending = admin_service.pending_users()
    return render_template(
        "admin/index.html",
        counts=admin_service.overview_counts(),
        pending=pending,
        error=error,
        organizations=admin_service.organization_choices(),
        suggestions={u.id: admin_service.suggested_organization(u) for u in pending},
    ), status


# --------------------------------------------------------------------------- organizations


@admin_required
def organizations():
    return render_template("admin/organizations.html", rows=admin_service.list_organizations())


@admin_required
def new_organization():
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            org = admin_service.save_organization(current_user, None, **_organization_data(form))
        except ValidationFailed as exc:
            return _render_organization(form, None, exc)
        flash(f"Organization {org.name} created.", "success")
        return redirect(url_for("admin.organization", organization_id=org.id), 303)
    return _render_organization(form, None)


@admin_required
def organization(organization_id: int):
    org = admin_service.get_organization(organization_id)
    form = OrganizationForm(obj=org)
    if form.validate_on_submit():
        try:
            admin_service.save_organization(current_user, org, **_organization_data(form))
        except ValidationFailed as exc:
            return _render_organization(form, org, exc)
        flash(f"Organization {org.name} saved.", "success")
        return redirect(url_for("admin.organization", organization_id=org.id), 303)
    return _render_organization(form, org)


def _organization_data(form: OrganizationForm) -> dict:
    return {
        "name": form.name.data,
        "email_domains": form.email_domains.data,
        "region": form.region.data,
        "plan": form.plan.data,
        "notes": form.notes.data,
        "join_policy": form.join_policy.data,
    }


def _render_organization(form, org, exc: ValidationFailed | None = None):
    if exc is not None:
        _form_errors(form, exc)
        org = admin_service.get_organization(org.id) if org is not None else None  # reload after a rollback
    summary = admin_service.organization_summary(org) if org is not None else None
    pending = account_flows.pending_joins(org) if org is not None else []
    page = render_template("admin/organization.html", form=form, org=org, summary=summary, pending=pending)
    return page, _status(form, exc)


@admin_required
def approve_join(organization_id: int, user_id: int):
    return _decide_join(organization_id, user_id, approve=True)


@admin_required
def refuse_join(organization_id: int, user_id: int):
    return _decide_join(organization_id, user_id, approve=False)


def _decide_join(organization_id: int, user_id: int, *, approve: bool):
    """Approve or refuse a request to join the organization (the person is told by email)."""
    org = admin_service.get_organization(organization_id)
    user = account_flows.decide_join(current_user, org, user_id, approve=approve)
    flash(f"{user.name} {'joined' if approve else 'was refused'} {org.name}.", "success")
    return redirect(url_for("admin.organization", organization_id=org.id), 303)


# --------------------------------------------------------------------------- users


@admin_required
def users():
    role = _role_filter(request.args.get("role", ""))
    query = request.args.get("q", "").strip()[:100]
    number, size = page_number(), current_app.config.get("ADMIN_PAGE_SIZE", 50)
    page = make_page(admin_service.list_users(role=role, query=query, page=number, size=size), number, size)
    return render_template("admin/users.html", page=page, role=role, query=query, role_filters=ROLE_FILTERS)


@admin_required
def new_user():
    form = NewUserForm(actor=current_user)
    if form.validate_on_submit():
        try:
            user = admin_service.create_user(
                current_user, email=form.email.data, password=form.password.data, **_user_data(form)
            )
            phone_service.set_phone(current_user, user, form.phone.data or "")
        except ValidationFailed as exc:
            return _render_user(form, None, exc)
        flash(f"Account for {user.name} created. Give them the initial password through a safe channel.", "success")
        return redirect(url_for("admin.user", user_id=user.id), 303)
    return _render_user(form, None)


@admin_required
def user(user_id: int):
    user = admin_service.get_user(user_id)
    form = EditUserForm(obj=user, actor=current_user, user=user)
    if form.validate_on_submit():
        try:
            admin_service.update_user(
                current_user,
                user,
                is_active_account=form.is_active_account.data,
                is_org_admin=form.is_org_admin.data,
                new_password=form.new_password.data or "",
                **_user_data(form),
            )
            phone_service.set_phone(current_user, user, form.phone.data or "")
        except ValidationFailed as exc:
            return _render_user(form, user, exc)
        flash(f"Account of {user.name} saved.", "success")
        return redirect(url_for("admin.user", user_id=user.id), 303)
    return _render_user(form, user)


@admin_required
def reset_two_factor(user_id: int):
    """Turn a user's second factor off (a lost phone, no recovery codes left); audited with the admin as actor."""
    user = admin_service.get_user(user_id)
    if not user.has_two_factor and not user.totp_secret:
        flash(f"{user.name} has no two-factor authentication to reset.", "info")
        return redirect(url_for("admin.user", user_id=user.id), 303)
    twofactor.reset(current_user, user)
    flash(f"Two-factor authentication of {user.name} is reset: they set it up again at their next sign-in.", "success")
    return redirect(url_for("admin.user", user_id=user.id), 303)


def _user_data(form) -> dict:
    return {
        "name": form.name.data,
        "role": form.role.data,
        "organization_id": form.organization,
        "timezone": form.timezone.data,
        "shift_region": form.shift_region.data,
        "specializations": form.specializations.data or [],
    }


def _render_user(form, user, exc: ValidationFailed | None = None):
    if exc is not None:
        _form_errors(form, exc)
        user = admin_service.get_user(user.id) if user is not None else None  # reload after a rollback
    can_edit = user is None or admin_service.can_edit_user(current_user, user)
    return render_template("admin/user.html", form=form, user=user, can_edit=can_edit), _status(form, exc)


# --------------------------------------------------------------------------- categories


@admin_required
def categories():
    form = CategoryForm(position=admin_service.next_category_position())
    if form.validate_on_submit():
        try:
            category = save_category(None, **_category_data(form))
        except ValidationFailed as exc:
            return _render_categories(form, exc)
        flash(f"Category {category.name} created.", "success")
        return redirect(url_for("admin.categories"), 303)
    return _render_categories(form)


@admin_required
def category(category_id: int):
    category = admin_service.get_category(category_id)
    form = CategoryForm(obj=category)
    if form.validate_on_submit():
        try:
            save_category(category, **_category_data(form))
        except ValidationFailed as exc:
            _form_errors(form, exc)
            return render_template("admin/category.html", form=form, category=category), 422
        flash(f"Category {category.name} saved.", "success")
        return redirect(url_for("admin.categories"), 303)
    return render_template("admin/category.html", form=form, category=category), _status(form)


@admin_required
def deactivate_category(category_id: int):
    return _set_category_active(category_id, False)


@admin_required
def activate_category(category_id: int):
    return _set_category_active(category_id, True)


def _set_category_active(category_id: int, active: bool):
    category = admin_service.get_category(category_id)
    admin_service.set_category_active(current_user, category, active)
    flash(
        f"Category {category.name} is {'offered again' if active else 'no longer offered'} for new tickets.", "success"
    )
    return redirect(url_for("admin.categories"), 303)


def _category_data(form: CategoryForm) -> dict:
    return {
        "slug": form.slug.data,
        "name": form.name.data,
        "description": form.description.data or "",
        "position": form.position.data or 0,
        "is_active": form.is_active.data,
    }


def _render_categories(form, exc: ValidationFailed | None = None):
    if exc is not None:
        _form_errors(form, exc)
    return render_template(
        "admin/categories.html", form=form, categories=admin_service.all_categories(), usage=category_usage()
    ), _status(form, exc)


# --------------------------------------------------------------------------- helpers


def _form_errors(form, exc: ValidationFailed) -> None:
    for name, message in exc.fields.items():
        if hasattr(form, name):
            getattr(form, name).errors = [message]
        else:
            form.form_errors.append(message)
    if not exc.fields:
        form.form_errors.append(exc.message)


def _role_filter(value: str) -> Role | None:
    try:
        return Role(value) if value else None
    except ValueError:
        return None  # an unknown filter shows everyone rather than an error


def _status(form, exc: ValidationFailed | None = None) -> int:
    return 422 if exc is not None or form.errors else 200
