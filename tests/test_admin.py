"""Admin blueprint: organizations, users and roles, sign-up approval, categories — and who may use it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Category, Organization, Role, ShiftRegion, User, utcnow
from portal.services import admin as admin_service
from portal.services.accounts import register_customer
from portal.services.errors import Forbidden, ValidationFailed
from tests.conftest import PASSWORD, csrf_from, login

NEW_PASSWORD = "a-long-initial-password"


def _logout(client):
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/profile").text)})


def _user_form(user: User, **changes) -> dict:
    """The edit form of ``user`` as the page would send it back, with ``changes`` applied."""
    data = {
        "name": user.name,
        "role": user.role.value,
        "organization_id": str(user.organization_id or ""),
        "timezone": user.timezone,
        "shift_region": user.shift_region.value if user.shift_region else "",
        "specializations": list(user.specializations or []),
        "is_active_account": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --------------------------------------------------------------------------- access


ADMIN_PAGES = [
    "/admin/",
    "/admin/organizations",
    "/admin/organizations/new",
    "/admin/users",
    "/admin/users/new",
    "/admin/categories",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_anonymous_is_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["customer", "agent", "senior_agent"])
def test_customers_and_agents_are_refused(client, make_user, make_org, role):
    user = make_user(role, organization=make_org() if role == "customer" else None)
    other = make_user("agent")
    assert login(client, user).status_code == 302
    for path in ADMIN_PAGES + [f"/admin/users/{other.id}"]:
        assert client.get(path).status_code == 403, path
    token = csrf_from(client.get("/profile").text)
    response = client.post("/admin/organizations/new", data={"name": "Sneaky", "csrf_token": token})
    assert response.status_code == 403
    assert db.session.scalar(select(Organization).where(Organization.name == "Sneaky")) is None


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_admins_and_managers_see_every_page(make_user, make_org, make_ticket, login_as, role):
    org = make_org()
    customer = make_user("customer", organization=org)
    make_ticket(customer)
    client, _ = login_as(make_user(role))
    category = db.session.scalar(select(Category).where(Category.slug == "data"))
    for path in ADMIN_PAGES + [
        f"/admin/organizations/{org.id}",
        f"/admin/users/{customer.id}",
        f"/admin/categories/{category.id}",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert 'name="csrf_token"' in response.text or path in ("/admin/organizations", "/admin/users"), path


def test_unknown_ids_are_404(make_user, login_as):
    client, _ = login_as(make_user("admin"))
    for path in ("/admin/organizations/999", "/admin/users/999", "/admin/categories/999"):
        assert client.get(path).status_code == 404, path


def test_posts_without_csrf_token_are_refused(make_user, login_as):
    client, _ = login_as(make_user("admin"))
    response = client.post("/admin/organizations/new", data={"name": "No token"})
    assert response.status_code == 400
    assert db.session.scalar(select(Organization).where(Organization.name == "No token")) is None


# --------------------------------------------------------------------------- organizations


def test_admin_creates_and_edits_an_organization(make_user, login_as):
    client, token = login_as(make_user("admin"))
    response = client.post(
        "/admin/organizations/new",
        data={
            "name": "  Green  Steel AG ",
            "email_domains": "GreenSteel.example, @gs-group.example ,greensteel.example",
            "region": "EMEA",
            "plan": "enterprise",
            "notes": "Pilot",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    org = db.session.scalar(select(Organization).where(Organization.name == "Green Steel AG"))
    assert org is not None
    assert org.email_domains == "greensteel.example,gs-group.example"  # lower-cased, de-duplicated
    assert response.headers["Location"].endswith(f"/admin/organizations/{org.id}")

    response = client.post(
        f"/admin/organizations/{org.id}",
        data={
            "name": "Green Steel SE",
            "email_domains": "greensteel.example",
            "region": "EMEA",
            "plan": "professional",
            "notes": "",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    db.session.expire_all()
    org = db.session.get(Organization, org.id)
    assert (org.name, org.email_domains, org.plan) == ("Green Steel SE", "greensteel.example", "professional")
    page = client.get(f"/admin/organizations/{org.id}")
    assert "Green Steel SE" in page.text and "0 tickets in all" in page.text


def test_organization_page_shows_its_users_and_ticket_count(make_org, make_user, make_ticket, login_as):
    org = make_org("Blue Water Ltd")
    alice = make_user("customer", organization=org, name="Alice Example")
    make_ticket(alice)
    make_ticket(alice, subject="Second")
    client, _ = login_as(make_user("admin"))
    page = client.get(f"/admin/organizations/{org.id}")
    assert page.status_code == 200
    assert "Alice Example" in page.text
    assert "2 tickets in all, 2 open" in page.text
    listing = client.get("/admin/organizations")
    assert "Blue Water Ltd" in listing.text and '<th scope="col">Tickets</th>' in listing.text


def test_duplicate_organization_name_is_422_with_a_message(make_org, make_user, login_as):
    make_org("Acme Corp", domains="acme.example")
    client, token = login_as(make_user("admin"))
    response = client.post(
        "/admin/organizations/new", data={"name": "acme corp", "email_domains": "", "csrf_token": token}
    )
    assert response.status_code == 422
    assert "Another organization already has this name." in response.text
    assert 'aria-invalid="true"' in response.text
    assert db.session.scalar(select(db.func.count()).select_from(Organization)) == 1


def test_renaming_onto_another_name_is_422(make_org, make_user, login_as):
    make_org("First Org")
    second = make_org("Second Org")
    client, token = login_as(make_user("admin"))
    response = client.post(f"/admin/organizations/{second.id}", data={"name": "First Org", "csrf_token": token})
    assert response.status_code == 422
    assert "Another organization already has this name." in response.text
    db.session.expire_all()
    assert db.session.get(Organization, second.id).name == "Second Org"


def test_bad_or_taken_domains_are_422(make_org, make_user, login_as):
    make_org("Owner", domains="owned.example")
    client, token = login_as(make_user("admin"))
    response = client.post(
        "/admin/organizations/new", data={"name": "New", "email_domains": "not a domain!, x", "csrf_token": token}
    )
    assert response.status_code == 422 and "Not a valid domain" in response.text
    response = client.post(
        "/admin/organizations/new", data={"name": "New", "email_domains": "OWNED.example", "csrf_token": token}
    )
    assert response.status_code == 422 and "Already used by another organization" in response.text


def test_empty_organization_name_is_422(make_user, login_as):
    client, token = login_as(make_user("admin"))
    response = client.post("/admin/organizations/new", data={"name": "", "csrf_token": token})
    assert response.status_code == 422


# --------------------------------------------------------------------------- users


def test_admin_creates_a_staff_user_who_can_sign_in(client, make_user, login_as):
    admin = make_user("admin")
    _, token = login_as(admin)
    response = client.post(
        "/admin/users/new",
        data={
            "name": "Priya Agent",
            "email": "Priya@Support.example",
            "role": "senior_agent",
            "organization_id": "",
            "timezone": "Asia/Singapore",
            "shift_region": "APAC",
            "specializations": ["integration", "data"],
            "password": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 303, response.text
    user = db.session.scalar(select(User).where(User.email == "priya@support.example"))
    assert user.role is Role.senior_agent and user.shift_region is ShiftRegion.apac
    assert user.specializations == ["data", "integration"] and user.timezone == "Asia/Singapore"
    assert user.is_approved and user.is_active_account
    _logout(client)
    assert login(client, "priya@support.example", NEW_PASSWORD).status_code == 302
    assert client.get("/agent/queue").status_code == 200


def test_new_user_validation_errors_are_422(make_user, login_as):
    taken = make_user("agent")
    client, token = login_as(make_user("admin"))
    response = client.post(
        "/admin/users/new",
        data={
            "name": "Dup",
            "email": taken.email,
            "role": "agent",
            "timezone": "Mars/Olympus",
            "password": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert "An account with this email already exists." in response.text
    assert "Unknown time zone." in response.text
    response = client.post(
        "/admin/users/new",
        data={
            "name": "Short",
            "email": "short@example.test",
            "role": "agent",
            "timezone": "UTC",
            "password": "short",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert db.session.scalar(select(User).where(User.email == "short@example.test")) is None


def test_admin_changes_a_role(make_user, login_as):
    agent = make_user("agent")
    client, token = login_as(make_user("admin"))
    response = client.post(
        f"/admin/users/{agent.id}", data=_user_form(agent, role="senior_agent", shift_region="EMEA", csrf_token=token)
    )
    assert response.status_code == 303
    db.session.expire_all()
    agent = db.session.get(User, agent.id)
    assert agent.role is Role.senior_agent and agent.shift_region is ShiftRegion.emea


def test_admin_may_grant_the_manager_role(make_user, login_as):
    agent = make_user("agent")
    client, token = login_as(make_user("admin"))
    response = client.post(f"/admin/users/{agent.id}", data=_user_form(agent, role="manager", csrf_token=token))
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, agent.id).role is Role.manager


def test_manager_cannot_grant_the_admin_role(make_user, login_as):
    agent = make_user("agent")
    client, token = login_as(make_user("manager"))
    page = client.get(f"/admin/users/{agent.id}")
    assert 'value="admin"' not in page.text  # not offered
    for role in ("admin", "manager"):
        response = client.post(f"/admin/users/{agent.id}", data=_user_form(agent, role=role, csrf_token=token))
        assert response.status_code in (403, 422), role
        response = client.post(
            "/admin/users/new",
            data={
                "name": "Boss",
                "email": f"boss-{role}@example.test",
                "role": role,
                "timezone": "UTC",
                "password": NEW_PASSWORD,
                "csrf_token": token,
            },
        )
        assert response.status_code in (403, 422), role
    db.session.expire_all()
    assert db.session.get(User, agent.id).role is Role.agent
    assert db.session.scalar(select(User).where(User.email.like("boss-%"))) is None


def test_manager_manages_agents_but_not_admins(make_user, login_as):
    agent, admin = make_user("agent"), make_user("admin")
    client, token = login_as(make_user("manager"))
    response = client.post(f"/admin/users/{agent.id}", data=_user_form(agent, role="senior_agent", csrf_token=token))
    assert response.status_code == 303
    response = client.post(f"/admin/users/{admin.id}", data=_user_form(admin, is_active_account=None, csrf_token=token))
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, admin.id).is_active_account
    assert "Only an admin can change" in client.get(f"/admin/users/{admin.id}").text


def test_admin_cannot_deactivate_or_demote_themselves(make_user, login_as):
    admin = make_user("admin")
    client, token = login_as(admin)
    response = client.post(f"/admin/users/{admin.id}", data=_user_form(admin, is_active_account=None, csrf_token=token))
    assert response.status_code == 422
    assert "You cannot deactivate your own account." in response.text
    response = client.post(f"/admin/users/{admin.id}", data=_user_form(admin, role="agent", csrf_token=token))
    assert response.status_code == 422
    assert "You cannot change your own role" in response.text
    db.session.expire_all()
    admin = db.session.get(User, admin.id)
    assert admin.is_active_account and admin.role is Role.admin
    # Their other details stay editable.
    response = client.post(f"/admin/users/{admin.id}", data=_user_form(admin, name="Renamed Admin", csrf_token=token))
    assert response.status_code == 303


def test_deactivated_user_cannot_sign_in(client, make_user, login_as):
    agent = make_user("agent")
    _, token = login_as(make_user("admin"))
    response = client.post(f"/admin/users/{agent.id}", data=_user_form(agent, is_active_account=None, csrf_token=token))
    assert response.status_code == 303
    _logout(client)
    assert login(client, agent).status_code == 401


def test_admin_resets_a_password(client, make_user, login_as):
    agent = make_user("agent")
    _, token = login_as(make_user("admin"))
    response = client.post(
        f"/admin/users/{agent.id}", data=_user_form(agent, new_password=NEW_PASSWORD, csrf_token=token)
    )
    assert response.status_code == 303
    _logout(client)
    assert login(client, agent).status_code == 401
    assert login(client, agent, NEW_PASSWORD).status_code == 302


def test_customer_fields_are_cleared_of_staff_details(make_org, make_user, login_as):
    org = make_org()
    client, token = login_as(make_user("admin"))
    response = client.post(
        "/admin/users/new",
        data={
            "name": "Carla Customer",
            "email": "carla@example.test",
            "role": "customer",
            "organization_id": str(org.id),
            "timezone": "UTC",
            "shift_region": "EMEA",
            "specializations": ["data"],
            "password": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    carla = db.session.scalar(select(User).where(User.email == "carla@example.test"))
    assert carla.organization_id == org.id and carla.shift_region is None and carla.specializations == []


def test_user_list_filters_by_role_and_pages(app, make_user, login_as, monkeypatch):
    monkeypatch.setitem(app.config, "ADMIN_PAGE_SIZE", 2)
    for n in range(3):
        make_user("agent", name=f"Agent {n}")
    make_user("customer", name="Only Customer")
    client, _ = login_as(make_user("admin", name="Zed Admin"))
    first = client.get("/admin/users?role=agent")
    assert first.status_code == 200
    assert "Agent 0" in first.text and "Agent 1" in first.text and "Agent 2" not in first.text
    assert "Only Customer" not in first.text and "Next page" in first.text
    second = client.get("/admin/users?role=agent&page=2")
    assert "Agent 2" in second.text and "Next page" not in second.text and "Previous page" in second.text
    assert "Only Customer" in client.get("/admin/users?q=only").text
    assert client.get("/admin/users?role=nonsense&page=abc").status_code == 200


# --------------------------------------------------------------------------- approval


def test_approving_a_pending_customer_lets_them_sign_in(client, make_org, make_user, login_as):
    org = make_org("Late Joiners GmbH")
    pending = make_user("customer", email="newbie@unknown.example", name="Nina Newbie", is_approved=False)
    assert login(client, pending).status_code == 401
    _, token = login_as(make_user("admin"))
    overview = client.get("/admin/")
    assert "Nina Newbie" in overview.text and f'action="/admin/users/{pending.id}/approve"' in overview.text
    response = client.post(
        f"/admin/users/{pending.id}/approve", data={"organization_id": str(org.id), "csrf_token": token}
    )
    assert response.status_code == 303
    db.session.expire_all()
    approved = db.session.get(User, pending.id)
    assert approved.is_approved and approved.organization_id == org.id
    assert f'action="/admin/users/{pending.id}/approve"' not in client.get("/admin/").text
    _logout(client)
    page = client.get("/login")
    response = client.post(
        "/login", data={"email": "newbie@unknown.example", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 302


def test_self_signup_waits_then_manager_approves(client, app, make_user, login_as):
    with app.test_request_context():
        register_customer(name="Sam Signup", email="sam@nowhere.example", password=PASSWORD)
    db.session.commit()
    sam = db.session.scalar(select(User).where(User.email == "sam@nowhere.example"))
    assert not sam.is_approved
    sam.email_verified_at = utcnow()  # he followed the emailed link (tests/test_account_flows.py)
    db.session.commit()
    _, token = login_as(make_user("manager"))
    response = client.post(f"/admin/users/{sam.id}/approve", data={"organization_id": "", "csrf_token": token})
    assert response.status_code == 303
    _logout(client)
    assert login(client, "sam@nowhere.example").status_code == 302


def test_approval_with_an_unknown_organization_is_422(make_user, login_as):
    pending = make_user("customer", is_approved=False)
    client, token = login_as(make_user("admin"))
    response = client.post(f"/admin/users/{pending.id}/approve", data={"organization_id": "999", "csrf_token": token})
    assert response.status_code == 422
    db.session.expire_all()
    assert not db.session.get(User, pending.id).is_approved


# --------------------------------------------------------------------------- categories


def _category(slug: str) -> Category:
    db.session.expire_all()
    return db.session.scalar(select(Category).where(Category.slug == slug))


def test_category_create_edit_deactivate(client, make_org, make_user, make_ticket, login_as):
    customer = make_user("customer", organization=make_org())
    make_ticket(customer, category="data")
    _, token = login_as(make_user("admin"))
    page = client.get("/admin/categories")
    assert page.status_code == 200 and "Deactivate" in page.text

    response = client.post(
        "/admin/categories",
        data={
            "name": "Security",
            "slug": "Security",
            "description": "Access",
            "position": "7",
            "is_active": "y",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    security = _category("security")
    assert security is not None and security.is_active and security.position == 7

    response = client.post(
        f"/admin/categories/{security.id}",
        data={
            "name": "Security and access",
            "slug": "security",
            "description": "SSO, MFA",
            "position": "8",
            "is_active": "y",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    security = _category("security")
    assert (security.name, security.description, security.position) == ("Security and access", "SSO, MFA", 8)

    data = _category("data")
    response = client.post(f"/admin/categories/{data.id}/deactivate", data={"csrf_token": token})
    assert response.status_code == 303
    assert _category("data").is_active is False
    assert _category("data") is not None  # never deleted: the ticket still refers to it

    _logout(client)
    login(client, customer)
    form = client.get("/portal/tickets/new").text
    assert 'value="data"' not in form
    assert 'value="security"' in form

    _logout(client)
    _, token = login_as(make_user("admin"))
    response = client.post(f"/admin/categories/{data.id}/activate", data={"csrf_token": token})
    assert response.status_code == 303 and _category("data").is_active


def test_category_usage_counts_are_shown(make_org, make_user, make_ticket, login_as):
    customer = make_user("customer", organization=make_org())
    make_ticket(customer, category="training")
    make_ticket(customer, category="training")
    client, _ = login_as(make_user("admin"))
    page = client.get("/admin/categories").text
    row = page.split("<code>training</code>", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td>" in row


def test_category_validation_is_422(make_user, login_as):
    client, token = login_as(make_user("admin"))
    response = client.post(
        "/admin/categories", data={"name": "Dup", "slug": "data", "position": "1", "csrf_token": token}
    )
    assert response.status_code == 422 and "Another category has this slug." in response.text
    response = client.post(
        "/admin/categories", data={"name": "Bad", "slug": "no spaces!", "position": "1", "csrf_token": token}
    )
    assert response.status_code == 422 and "Use lower-case letters" in response.text
    data = _category("data")
    response = client.post(f"/admin/categories/{data.id}", data={"name": "", "slug": "data", "csrf_token": token})
    assert response.status_code == 422


# --------------------------------------------------------------------------- services, directly


def test_services_enforce_the_role_rules(make_user):
    admin, manager, agent = make_user("admin"), make_user("manager"), make_user("agent")
    with pytest.raises(Forbidden):
        admin_service.update_user(manager, agent, name=agent.name, role="admin", is_active_account=True)
    with pytest.raises(Forbidden):
        admin_service.create_user(manager, email="x@example.test", name="X", role=Role.manager, password=NEW_PASSWORD)
    with pytest.raises(Forbidden):
        admin_service.update_user(agent, agent, name="Self", role="agent", is_active_account=True)
    with pytest.raises(Forbidden):
        admin_service.update_user(manager, admin, name=admin.name, role="admin", is_active_account=False)
    with pytest.raises(ValidationFailed) as exc:
        admin_service.update_user(admin, admin, name=admin.name, role="admin", is_active_account=False)
    assert "is_active_account" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        admin_service.update_user(
            admin, agent, name=agent.name, role="agent", is_active_account=True, specializations=["astrology"]
        )
    assert "specializations" in exc.value.fields
    assert admin_service.grantable_roles(manager) == [Role.customer, Role.agent, Role.senior_agent]


def test_save_organization_checks_names_case_insensitively(make_user, make_org):
    admin = make_user("admin")
    make_org("Existing Name")
    with pytest.raises(ValidationFailed) as exc:
        admin_service.save_organization(admin, None, name="EXISTING NAME")
    assert exc.value.fields == {"name": "Another organization already has this name."}
    org = admin_service.save_organization(admin, None, name="Fresh", email_domains="A.example B.example")
    assert org.id is not None and org.domain_list == ["a.example", "b.example"]
