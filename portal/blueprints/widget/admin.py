"""/admin/widget: the sites that embed the widget, their origins and signing keys (admins only). A new key's
secret is shown once, on the page answering its creation, and never again."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import roles_required
from portal.blueprints.widget.forms import SiteForm
from portal.models import Role
from portal.services.errors import ValidationFailed
from portal.services.widget import sites as site_service

admin_only = roles_required(Role.admin)


def _site_form(site=None, *, formdata=None) -> SiteForm:
    if site is None:
        return SiteForm(formdata=formdata, prefix="new")
    form = SiteForm(formdata=formdata, prefix=f"site{site.id}", obj=site if formdata is None else None)
    if formdata is None:
        form.origins.data = "\n".join(site.origins or [])
    return form


def _page(*, new_form=None, edit_forms=None, revealed=None, status: int = 200):
    sites = site_service.all_sites()
    forms = {site.id: _site_form(site) for site in sites}
    forms.update(edit_forms or {})
    return render_template(
        "widget/admin_sites.html",
        sites=sites,
        forms=forms,
        new_form=new_form or _site_form(),
        revealed=revealed,
        portal_url=request.host_url.rstrip("/"),
    ), status


def _errors(form: SiteForm, exc: ValidationFailed) -> None:
    for name, message in exc.fields.items():
        if hasattr(form, name):
            getattr(form, name).errors = [message]


@admin_only
def sites():
    if request.method == "GET":
        return _page()
    form = _site_form(formdata=request.form)
    if not form.validate():
        return _page(new_form=form, status=422)
    try:
        site, secret = site_service.create_site(
            current_user,
            name=form.name.data,
            origins=form.origins.data,
            verified_only=form.verified_only.data,
            identity_mode=form.identity_mode.data,
            is_active=form.is_active.data,
        )
    except ValidationFailed as exc:
        _errors(form, exc)
        return _page(new_form=form, status=422)
    flash(f"Site {site.name} created. Copy its signing secret now: it is not shown again.", "success")
    return _page(revealed={"site_id": site.id, "kid": site.secrets[0].kid, "secret": secret})


@admin_only
def update(site_id: int):
    site = site_service.get_site(site_id)
    form = _site_form(site, formdata=request.form)
    if not form.validate():
        return _page(edit_forms={site.id: form}, status=422)
    try:
        site_service.update_site(
            current_user,
            site,
            name=form.name.data,
            origins=form.origins.data,
            verified_only=form.verified_only.data,
            identity_mode=form.identity_mode.data,
            is_active=form.is_active.data,
        )
    except ValidationFailed as exc:
        _errors(form, exc)
        return _page(edit_forms={site.id: form}, status=422)
    flash(f"Site {site.name} saved.", "success")
    return redirect(url_for("widget.sites") + f"#site-{site.id}", 303)


@admin_only
def new_key(site_id: int):
    site = site_service.get_site(site_id)
    secret, plain = site_service.create_secret(current_user, site)
    flash(f"New key {secret.kid} for {site.name}. Copy its secret now: it is not shown again.", "success")
    return _page(revealed={"site_id": site.id, "kid": secret.kid, "secret": plain})


@admin_only
def rotate_key(site_id: int, key_id: int):
    site = site_service.get_site(site_id)
    secret, plain = site_service.rotate_secret(current_user, site, key_id)
    flash(f"Key replaced by {secret.kid}; the old one signs nothing any more. Copy the new secret now.", "success")
    return _page(revealed={"site_id": site.id, "kid": secret.kid, "secret": plain})


@admin_only
def revoke_key(site_id: int, key_id: int):
    site = site_service.get_site(site_id)
    secret = site_service.revoke_secret(current_user, site, key_id)
    flash(f"Key {secret.kid} revoked: identities it signed are refused from now on.", "success")
    return redirect(url_for("widget.sites") + f"#site-{site.id}", 303)
