"""Administration: organizations, user accounts and roles, sign-up approval, category activation.

Every function takes the acting user where rights matter, validates plain data, flushes and never commits (the
request boundary in ``portal/database.py`` does). Rules kept here, not in the views:

- only admins and managers administer accounts; only an admin grants, changes or removes the admin and manager roles,
  and only an admin edits an admin's or another manager's account;
- nobody changes their own role or deactivates their own account (so an admin cannot lock the team out by mistake);
- organization names are unique (case-insensitively) and an email domain belongs to at most one organization.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import OPEN_STATUSES, Category, JoinPolicy, Organization, Role, ShiftRegion, Ticket, User, utcnow
from portal.services import accounts, audit, sessions
from portal.services.errors import Forbidden, NotFound, ValidationFailed

log = logging.getLogger(__name__)

ADMINISTRATORS = frozenset({Role.admin, Role.manager})
PRIVILEGED_ROLES = frozenset({Role.admin, Role.manager})
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


# --------------------------------------------------------------------------- rights


def _require_administrator(actor: User) -> None:
    if actor.role not in ADMINISTRATORS:
        raise Forbidden("Only managers and admins administer accounts.")


def grantable_roles(actor: User) -> list[Role]:
    """The roles ``actor`` may give to an account (the UI offers exactly these)."""
    if actor.role is Role.admin:
        return list(Role)
    if actor.role is Role.manager:
        return [r for r in Role if r not in PRIVILEGED_ROLES]
    return []


def can_edit_user(actor: User, user: User) -> bool:
    """Admins edit everyone; managers edit themselves and accounts below manager."""
    if actor.role is Role.admin:
        return True
    return actor.role is Role.manager and (user.id == actor.id or user.role not in PRIVILEGED_ROLES)


# --------------------------------------------------------------------------- organizations


def parse_domains(raw: str) -> tuple[list[str], list[str]]:
    """Split a comma/space/newline separated list into lower-case domains; returns (valid, invalid)."""
    valid: list[str] = []
    invalid: list[str] = []
    for part in re.split(r"[\s,;]+", (raw or "").strip().lower()):
        domain = part.strip().lstrip("@").rstrip(".")
        if not domain:
            continue
        if not DOMAIN_RE.match(domain):
            invalid.append(part)
        elif domain not in valid:
            valid.append(domain)
    return valid, invalid


def save_organization(
    actor: User,
    organization: Organization | None,
    *,
    name: str,
    email_domains: str = "",
    region: str = "",
    plan: str = "",
    notes: str = "",
    join_policy: str | None = None,
) -> Organization:
    """Create (``organization`` None) or update an organization. Raises ValidationFailed with per-field messages.
    ``join_policy`` (None: unchanged) is how verified sign-ups at its domains join: "automatic" or "approval"."""
    _require_administrator(actor)
    errors: dict[str, str] = {}
    if join_policy is not None and join_policy not in {p.value for p in JoinPolicy}:
        errors["join_policy"] = "Choose automatic or approval."
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = "This field is required."
    elif len(name) > 200:
        errors["name"] = "Use at most 200 characters."
    elif _organization_named(name, organization) is not None:
        errors["name"] = "Another organization already has this name."
    domains, invalid = parse_domains(email_domains)
    if invalid:
        errors["email_domains"] = "Not a valid domain: " + ", ".join(invalid[:5]) + "."
    elif len(",".join(domains)) > 500:
        errors["email_domains"] = "Too many domains (at most 500 characters in all)."
    else:
        taken = [
            f"{d} ({owner.name})"
            for d in domains
            if (owner := accounts.organization_for_domain("x@" + d)) is not None and owner is not organization
        ]
        if taken:
            errors["email_domains"] = "Already used by another organization: " + ", ".join(taken) + "."
    if errors:
        raise ValidationFailed("The organization could not be saved.", errors)
    before = _audited_fields(organization) if organization is not None and organization.id is not None else None
    if organization is None:
        organization = Organization()
        db.session.add(organization)
    organization.name, organization.email_domains = name, ",".join(domains)
    organization.region = (region or "").strip()[:20] or None
    organization.plan = (plan or "").strip()[:50] or None
    organization.notes = (notes or "").strip()
    if join_policy is not None:
        organization.join_policy = join_policy
    _flush_or_fail("The organization could not be saved.", {"name": "Another organization already has this name."})
    if before is None:
        audit.record("organization.created", target=organization, after=_audited_fields(organization), actor=actor)
    else:
        old, new = audit.changes(before, _audited_fields(organization))
        if new:
            audit.record("organization.changed", target=organization, before=old, after=new, actor=actor)
    log.info("%s saved organization %s (%s)", actor.email, organization.id, organization.name)
    return organization


def _organization_named(name: str, exclude: Organization | None) -> Organization | None:
    query = select(Organization).where(func.lower(Organization.name) == name.lower())
    if exclude is not None and exclude.id is not None:
        query = query.where(Organization.id != exclude.id)
    return db.session.scalars(query.limit(1)).first()


def organization_choices() -> list[Organization]:
    return list(db.session.scalars(select(Organization).order_by(func.lower(Organization.name))))


@dataclass
class OrganizationRow:
    organization: Organization
    user_count: int
    ticket_count: int


def list_organizations() -> list[OrganizationRow]:
    users = dict(db.session.execute(select(User.organization_id, func.count()).group_by(User.organization_id)).all())
    tickets = dict(
        db.session.execute(select(Ticket.organization_id, func.count()).group_by(Ticket.organization_id)).all()
    )
    return [OrganizationRow(org, users.get(org.id, 0), tickets.get(org.id, 0)) for org in organization_choices()]


@dataclass
class OrganizationSummary:
    users: list[User]
    ticket_count: int
    open_ticket_count: int


def organization_summary(organization: Organization) -> OrganizationSummary:
    users = list(
        db.session.scalars(select(User).where(User.organization_id == organization.id).order_by(func.lower(User.name)))
    )
    count = select(func.count()).select_from(Ticket).where(Ticket.organization_id == organization.id)
    return OrganizationSummary(
        users, db.session.scalar(count) or 0, db.session.scalar(count.where(Ticket.status.in_(OPEN_STATUSES))) or 0
    )


def get_organization(organization_id: int) -> Organization:
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("No such organization.")
    return organization


# --------------------------------------------------------------------------- users


def list_users(*, role: Role | None = None, query: str = "", page: int = 1, size: int = 50) -> list[User]:
    """One page of accounts (``size + 1`` rows so the caller knows whether a next page exists), by name."""
    stmt = select(User).order_by(func.lower(User.name), User.id)
    if role is not None:
        stmt = stmt.where(User.role == role)
    query = (query or "").strip().lower()
    if query:
        stmt = stmt.where(
            or_(
                func.lower(User.name).contains(query, autoescape=True),
                func.lower(User.email).contains(query, autoescape=True),
            )
        )
    return list(db.session.scalars(stmt.offset((page - 1) * size).limit(size + 1)))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def create_user(
    actor: User,
    *,
    email: str,
    name: str,
    role: str | Role,
    password: str,
    organization_id: int | None = None,
    timezone: str = "UTC",
    shift_region: str = "",
    specializations: Iterable[str] = (),
) -> User:
    """An account made by staff: approved and active at once, with an initial password the person changes later."""
    _require_administrator(actor)
    errors: dict[str, str] = {}
    try:
        email = accounts.normalize_email(email)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    else:
        if accounts.find_user_by_email(email) is not None:
            errors["email"] = "An account with this email already exists."
    try:
        accounts.check_password_strength(password, email=email if "email" not in errors else None)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    role = _parse_role(actor, role, errors)
    profile = _profile(
        name=name,
        role=role,
        organization_id=organization_id,
        timezone=timezone,
        shift_region=shift_region,
        specializations=specializations,
        errors=errors,
    )
    if errors:
        raise ValidationFailed("The account could not be created.", errors)
    user = User(
        email=email,
        password_hash=accounts.hash_password(password),
        role=role,
        is_approved=True,
        is_active_account=True,
        email_verified_at=utcnow(),  # made by staff: the address counts as verified
        **profile,
    )
    db.session.add(user)
    _flush_or_fail("The account could not be created.", {"email": "An account with this email already exists."})
    audit.record(
        "user.created",
        target=user,
        after={"role": role, "organization": _organization_label(user.organization), "is_approved": True},
        actor=actor,
    )
    log.info("%s created user %s (%s)", actor.email, user.email, role.value)
    return user


def update_user(
    actor: User,
    user: User,
    *,
    name: str,
    role: str | Role,
    is_active_account: bool,
    organization_id: int | None = None,
    timezone: str = "UTC",
    shift_region: str = "",
    specializations: Iterable[str] = (),
    new_password: str = "",
    is_org_admin: bool | None = None,
) -> User:
    """Change an account's profile, role, organization, shift, specializations, active flag and, optionally,
    password and organization-admin flag (None: unchanged; only a customer with an organization can be one)."""
    _require_administrator(actor)
    if not can_edit_user(actor, user):
        raise Forbidden("Only an admin can change an admin's or another manager's account.")
    errors: dict[str, str] = {}
    new_role = _parse_role(actor, role, errors, current=user.role)
    if user.id == actor.id:
        if new_role is not user.role:
            errors["role"] = "You cannot change your own role; ask another admin."
        if not is_active_account:
            errors["is_active_account"] = "You cannot deactivate your own account."
    if new_password:
        try:
            accounts.check_password_strength(new_password, "new_password", email=user.email)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    profile = _profile(
        name=name,
        role=new_role,
        organization_id=organization_id,
        timezone=timezone,
        shift_region=shift_region,
        specializations=specializations,
        errors=errors,
    )
    if errors:
        raise ValidationFailed("The account could not be saved.", errors)
    before = {
        "role": user.role,
        "is_org_admin": bool(user.is_org_admin),
        "organization": user.organization,
        "active": user.is_active_account,
    }
    if new_role is not user.role:
        log.info("%s changed the role of %s from %s to %s", actor.email, user.email, user.role.value, new_role.value)
    user.role, user.is_active_account = new_role, bool(is_active_account)
    for key, value in profile.items():
        setattr(user, key, value)
    if is_org_admin is not None:
        user.is_org_admin = bool(is_org_admin)
    if user.role is not Role.customer or user.organization is None:
        user.is_org_admin = False
    if new_password:
        accounts.set_password(user, new_password)  # dated; outstanding reset links stop working
        sessions.end_all(user, reason="password set by an admin")  # whoever used the old one is signed out
    db.session.flush()
    _audit_account_changes(actor, user, before, new_password=bool(new_password))
    return user


def _audit_account_changes(actor: User, user: User, before: dict, *, new_password: bool) -> None:
    """One audit row per kind of change an admin made on the user page: role (with the organization-admin flag),
    organization, active, password."""
    old, new = audit.changes(
        {"role": before["role"], "is_org_admin": before["is_org_admin"]},
        {"role": user.role, "is_org_admin": bool(user.is_org_admin)},
    )
    if new:
        audit.record("user.role", target=user, before=old, after=new, actor=actor)
    if before["organization"] is not user.organization:
        audit.record(
            "user.organization",
            target=user,
            before={"organization": _organization_label(before["organization"])},
            after={"organization": _organization_label(user.organization)},
            actor=actor,
        )
    if before["active"] != user.is_active_account:
        audit.record(
            "user.reactivated" if user.is_active_account else "user.deactivated",
            target=user,
            before={"is_active_account": before["active"]},
            after={"is_active_account": user.is_active_account},
            actor=actor,
        )
    if new_password:
        audit.record("account.password_changed", target=user, detail="set by an admin on the user page", actor=actor)


def _organization_label(organization: Organization | None) -> str | None:
    return None if organization is None else f"{organization.name} (#{organization.id})"


def _audited_fields(row) -> dict:
    """Every stored column of ``row`` but its id and creation time (the audit log's before/after)."""
    return {a.key: getattr(row, a.key) for a in sa_inspect(type(row)).column_attrs if a.key not in ("id", "created_at")}


def _parse_role(actor: User, value: str | Role, errors: dict[str, str], current: Role | None = None) -> Role:
    try:
        role = Role(value)
    except ValueError:
        errors["role"] = "Choose a role."
        return current or Role.customer
    if role is not current and role not in grantable_roles(actor):
        raise Forbidden("Only an admin can grant the admin or manager role.")
    if current in PRIVILEGED_ROLES and role is not current and actor.role is not Role.admin:
        raise Forbidden("Only an admin can change the admin or manager role.")
    return role


def _profile(
    *,
    name: str,
    role: Role,
    organization_id: int | None,
    timezone: str,
    shift_region: str,
    specializations: Iterable[str],
    errors: dict[str, str],
) -> dict:
    """The validated fields shared by create and update; staff-only fields are cleared for customers."""
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = "This field is required."
    organization = None
    if organization_id:
        organization = db.session.get(Organization, organization_id)
        if organization is None:
            errors["organization_id"] = "No such organization."
    zone = accounts.validate_timezone(timezone, errors)
    shift, skills = None, []
    if role is not Role.customer:
        if shift_region:
            try:
                shift = ShiftRegion(shift_region)
            except ValueError:
                errors["shift_region"] = "Choose a shift region."
        known = set(db.session.scalars(select(Category.slug)))
        skills = sorted({s.strip().lower() for s in specializations if s and s.strip()})
        unknown = [s for s in skills if s not in known]
        if unknown:
            errors["specializations"] = "Unknown specialization: " + ", ".join(unknown) + "."
    return {
        "name": name[:200],
        "organization": organization,
        "timezone": zone,
        "shift_region": shift,
        "specializations": skills,
    }


# --------------------------------------------------------------------------- approval


def pending_users(limit: int = 100) -> list[User]:
    """Self sign-ups waiting for approval, oldest first (once they confirmed their address: before that nobody
    knows the address is theirs)."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.is_approved.is_(False), User.is_active_account.is_(True), User.email_verified_at.is_not(None))
            .order_by(User.created_at, User.id)
            .limit(limit)
        )
    )


def suggested_organization(user: User) -> Organization | None:
    return user.organization or accounts.organization_for_domain(user.email)


def approve_pending_user(actor: User, user: User, organization_id: int | None) -> User:
    """Approve a waiting sign-up, optionally placing it in an organization; it can sign in afterwards."""
    _require_administrator(actor)
    if user.is_approved:
        raise ValidationFailed("This account is already approved.", {"user": "Already approved."})
    organization = None
    if organization_id:
        organization = db.session.get(Organization, organization_id)
        if organization is None:
            raise ValidationFailed("No such organization.", {"organization_id": "No such organization."})
    before = {"is_approved": user.is_approved, "organization": _organization_label(user.organization)}
    accounts.approve_user(actor, user, organization)
    old, new = audit.changes(before, {"is_approved": True, "organization": _organization_label(user.organization)})
    audit.record("user.approved", target=user, before=old, after=new, actor=actor)
    log.info("%s approved %s", actor.email, user.email)
    return user


# --------------------------------------------------------------------------- overview and categories


def overview_counts() -> dict:
    by_role = dict(db.session.execute(select(User.role, func.count()).group_by(User.role)).all())
    return {
        "organizations": db.session.scalar(select(func.count()).select_from(Organization)) or 0,
        "users_by_role": [(role, by_role.get(role, 0)) for role in Role],
        "users": sum(by_role.values()),
        "pending": db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_approved.is_(False), User.is_active_account.is_(True), User.email_verified_at.is_not(None))
        )
        or 0,
        "inactive": db.session.scalar(select(func.count()).select_from(User).where(User.is_active_account.is_(False)))
        or 0,
        "categories": db.session.scalar(select(func.count()).select_from(Category).where(Category.is_active.is_(True)))
        or 0,
        "open_tickets": db.session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.status.in_(OPEN_STATUSES))
        )
        or 0,
    }


def all_categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.name)))


def get_category(category_id: int) -> Category:
    category = db.session.get(Category, category_id)
    if category is None:
        raise NotFound("No such category.")
    return category


def next_category_position() -> int:
    return (db.session.scalar(select(func.max(Category.position))) or 0) + 1


def set_category_active(actor: User, category: Category, active: bool) -> Category:
    """Categories are never deleted (tickets keep referring to them): deactivating hides them from new tickets."""
    _require_administrator(actor)
    was_active = category.is_active
    category.is_active = bool(active)
    db.session.flush()
    if was_active != category.is_active:
        audit.record(
            "settings.other",
            target=category,
            before={"is_active": was_active},
            after={"is_active": category.is_active},
            detail="category " + ("activated" if active else "deactivated"),
            actor=actor,
        )
    log.info("%s %s category %s", actor.email, "activated" if active else "deactivated", category.slug)
    return category


# --------------------------------------------------------------------------- helpers


def _flush_or_fail(message: str, fields: dict[str, str]) -> None:
    """Flush; a unique constraint lost to a concurrent request becomes a validation error instead of a 500.

    The failed flush leaves the session unusable, so it is rolled back here — the request would roll back anyway."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ValidationFailed(message, fields) from None
