"""Staff record a customer's phone number on the admin user page: validated, stored in E.164, found by lookups."""

from __future__ import annotations

from portal.extensions import db
from portal.models import Role
from portal.services.phone import find_callers


def _form(user, token, **changes):
    data = {
        "csrf_token": token,
        "name": user.name,
        "role": user.role.value,
        "organization_id": str(user.organization_id or ""),
        "timezone": user.timezone,
        "shift_region": "",
        "is_active_account": "y",
    }
    data.update(changes)
    return data


def test_admin_saves_a_normalized_number(make_user, login_as):
    admin = make_user(Role.admin)
    customer = make_user(Role.customer, name="Dana")
    client, token = login_as(admin)
    response = client.post(f"/admin/users/{customer.id}", data=_form(customer, token, phone="+44 (0)20 7946-0000"))
    assert response.status_code == 303, response.text
    db.session.refresh(customer)
    assert customer.phone == "+442079460000"
    assert find_callers("+442079460000") == [customer]
    page = client.get(f"/admin/users/{customer.id}")
    assert 'value="+442079460000"' in page.text


def test_admin_clears_a_number(make_user, login_as):
    admin = make_user(Role.admin)
    customer = make_user(Role.customer, phone="+442079460000")
    client, token = login_as(admin)
    client.post(f"/admin/users/{customer.id}", data=_form(customer, token, phone=""))
    db.session.refresh(customer)
    assert customer.phone is None


def test_a_bad_number_is_shown_on_the_form_and_nothing_saved(make_user, login_as):
    admin = make_user(Role.admin)
    customer = make_user(Role.customer, name="Dana", phone="+15550102030")
    client, token = login_as(admin)
    response = client.post(
        f"/admin/users/{customer.id}", data=_form(customer, token, name="Dana Renamed", phone="020 7946 0000")
    )
    assert response.status_code == 422
    assert "international form" in response.text and 'value="020 7946 0000"' in response.text
    db.session.refresh(customer)
    assert customer.phone == "+15550102030" and customer.name == "Dana"


def test_new_user_with_a_number(make_user, login_as):
    admin = make_user(Role.admin)
    client, token = login_as(admin)
    response = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "name": "New Caller",
            "email": "new.caller@example.test",
            "password": "a-long-initial-password",
            "role": "customer",
            "organization_id": "",
            "timezone": "UTC",
            "shift_region": "",
            "phone": "+61 2 9999 0000",
        },
    )
    assert response.status_code == 303, response.text
    assert [u.email for u in find_callers("+61299990000")] == ["new.caller@example.test"]
