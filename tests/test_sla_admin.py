"""Admin pages for SLA policies and business-hours calendars: edits change the clocks of tickets created afterwards,
organization overrides stay within their organization, bad input is a 422 with messages, only admins/managers."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Calendar, SlaPolicy
from portal.services import sla_admin
from portal.services import tickets as svc
from portal.services.errors import Forbidden, ValidationFailed

UTC = UTC
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # a Tuesday


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(svc, "utcnow", lambda: T0)


def policy_form(**overrides) -> dict:
    """The default targets as the policy form posts them."""
    data = {"name": "Default", "at_risk_percent": "75", "pause_statuses": ["pending", "solved"], "calendar_id": ""}
    for priority, (first, resolution) in {
        "critical": (15, "4"),
        "high": (60, "8"),
        "medium": (240, "24"),
        "low": (1440, "72"),
    }.items():
        data[f"{priority}_first_response"], data[f"{priority}_resolution"] = str(first), resolution
    return {**data, **overrides}


def new_ticket(customer, priority="high", staff=None):
    """Filed by the customer, or by ``staff`` on the customer's behalf (customers cannot choose critical)."""
    ticket = svc.create_ticket(
        staff or customer,
        subject="Export broken",
        description="Nothing happens.",
        category="data",
        priority=priority,
        requester=customer if staff else None,
    )
    db.session.commit()
    return ticket


def test_editing_the_high_policy_changes_tickets_created_afterwards(frozen, make_org, make_user, login_as):
    org = make_org()
    customer = make_user("customer", organization=org)
    before = new_ticket(customer)
    assert before.first_response_due == T0 + timedelta(hours=1)
    client, token = login_as(make_user("admin"))

    page = client.get("/admin/sla/default")
    assert page.status_code == 200 and 'name="high_first_response" id="f-high_first_response" value="60"' in page.text
    response = client.post(
        "/admin/sla/default",
        data={
            **policy_form(high_first_response="30", high_resolution="2.5", at_risk_percent="50"),
            "csrf_token": token,
        },
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/sla")

    after = new_ticket(customer)
    assert after.first_response_due == T0 + timedelta(minutes=30)
    assert after.first_response_risk_at == T0 + timedelta(minutes=15)
    assert after.resolution_due == T0 + timedelta(hours=2, minutes=30)
    db.session.refresh(before)
    assert before.first_response_due == T0 + timedelta(hours=1)  # existing tickets keep their clocks
    assert db.session.scalar(select(SlaPolicy.high_first_response)) == 30
    overview = client.get("/admin/sla")
    assert overview.status_code == 200 and "30 min" in overview.text and "2.5 h" in overview.text
    assert "created or re-targeted" in overview.text


def test_organization_override_applies_to_its_own_tickets_only(frozen, make_org, make_user, login_as):
    acme, other = make_org("Acme"), make_org("Other")
    manager = make_user("manager")
    client, token = login_as(manager)
    response = client.post(
        "/admin/sla/policies/new",
        data={
            **policy_form(name="Acme premium", critical_first_response="5", critical_resolution="1"),
            "organization_id": str(acme.id),
            "csrf_token": token,
        },
    )
    assert response.status_code == 303

    mine = new_ticket(make_user("customer", organization=acme), "critical", manager)
    theirs = new_ticket(make_user("customer", organization=other), "critical", manager)
    assert mine.first_response_due == T0 + timedelta(minutes=5)
    assert mine.resolution_due == T0 + timedelta(hours=1)
    assert theirs.first_response_due == T0 + timedelta(minutes=15)
    assert theirs.resolution_due == T0 + timedelta(hours=4)

    policy = db.session.scalar(select(SlaPolicy).where(SlaPolicy.organization_id == acme.id))
    assert "Acme premium" in client.get("/admin/sla").text
    edit = client.post(
        f"/admin/sla/policies/{policy.id}",
        data={**policy_form(critical_first_response="10", critical_resolution="1"), "csrf_token": token},
    )
    assert edit.status_code == 303
    db.session.expire_all()  # the test's own session loaded the policy before the page changed it
    assert new_ticket(mine.requester, "critical", manager).first_response_due == T0 + timedelta(minutes=10)

    second = client.post(
        "/admin/sla/policies/new", data={**policy_form(), "organization_id": str(acme.id), "csrf_token": token}
    )
    assert second.status_code == 422 and "already has its own policy" in second.text

    deleted = client.post(f"/admin/sla/policies/{policy.id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert new_ticket(mine.requester, "critical", manager).first_response_due == T0 + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("high_first_response", "0", "High: enter the first response target as a whole number of minutes"),
        ("high_first_response", "-5", "High: enter the first response target"),
        ("medium_resolution", "abc", "Medium: enter the resolution target in hours"),
        ("low_resolution", "0", "Low: enter the resolution target in hours"),
        ("critical_resolution", "0.1", "Critical: the resolution target must not be shorter than the first response"),
        ("at_risk_percent", "100", "Enter a whole number from 1 to 99."),
        ("at_risk_percent", "0", "Enter a whole number from 1 to 99."),
        ("pause_statuses", ["pending", "open"], "Unknown status open"),
        ("calendar_id", "999", "Choose a calendar from the list"),
    ],
)
def test_invalid_policy_values_are_422_with_messages(make_user, login_as, field, value, message):
    client, token = login_as(make_user("admin"))
    response = client.post("/admin/sla/default", data={**policy_form(**{field: value}), "csrf_token": token})
    assert response.status_code == 422
    assert message in response.text
    assert f'id="f-{field}"' in response.text  # the summary links to the field
    assert db.session.scalar(select(SlaPolicy.id)) is None  # nothing saved


def test_override_needs_an_organization(make_user, login_as):
    client, token = login_as(make_user("admin"))
    response = client.post(
        "/admin/sla/policies/new", data={**policy_form(), "organization_id": "", "csrf_token": token}
    )
    assert response.status_code == 422 and "Choose an organization from the list." in response.text


def test_the_default_policy_cannot_be_deleted(make_user, login_as):
    admin = make_user("admin")
    policy = sla_admin.save_default_policy(admin, policy_form())
    db.session.commit()
    client, token = login_as(admin)
    response = client.post(f"/admin/sla/policies/{policy.id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert db.session.get(SlaPolicy, policy.id) is not None


def test_calendar_create_edit_and_use_in_a_policy(frozen, make_org, make_user, login_as):
    client, token = login_as(make_user("admin"))
    hours = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-17:00")
    created = client.post(
        "/admin/sla/calendars/new",
        data={
            "name": "Chat hours",
            "timezone": "UTC",
            **hours,
            "sat": "",
            "sun": "",
            "holidays": "2026-03-11 Company day\n",
            "csrf_token": token,
        },
    )
    assert created.status_code == 303
    calendar = db.session.scalar(select(Calendar).where(Calendar.name == "Chat hours"))
    assert calendar.weekly_hours["tue"] == [["09:00", "17:00"]] and "sat" not in calendar.weekly_hours
    assert [(h.day, h.name) for h in calendar.holidays] == [(date(2026, 3, 11), "Company day")]

    edited = client.post(
        f"/admin/sla/calendars/{calendar.id}",
        data={
            "name": "Chat hours",
            "timezone": "UTC",
            **hours,
            "tue": "09:00-12:00, 13:00-17:00",
            "holidays": "2026-03-11 Company day (moved)\n2026-12-25 Christmas Day",
            "csrf_token": token,
        },
    )
    assert edited.status_code == 303
    db.session.expire_all()
    calendar = db.session.get(Calendar, calendar.id)
    assert calendar.weekly_hours["tue"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert [h.name for h in calendar.holidays] == ["Company day (moved)", "Christmas Day"]

    assert (
        client.post(
            "/admin/sla/default", data={**policy_form(calendar_id=str(calendar.id)), "csrf_token": token}
        ).status_code
        == 303
    )
    ticket = new_ticket(make_user("customer", organization=make_org()))  # Tue 09:00, high: 1 h first response
    assert ticket.first_response_due == T0 + timedelta(hours=1)
    assert ticket.resolution_due == datetime(
        2026, 3, 12, 10, 0, tzinfo=UTC
    )  # 7 h on Tue (lunch break), Wed a holiday, 1 h on Thu
    assert "Chat hours" in client.get("/admin/sla").text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"timezone": "Mars/Olympus"}, "Choose a time zone from the list"),
        ({"mon": "9-17"}, "Monday: write hours as HH:MM-HH:MM"),
        ({"tue": "17:00-09:00"}, "Tuesday: 17:00-09:00 closes before it opens."),
        ({"wed": "09:00-13:00, 12:00-17:00"}, "Wednesday: the intervals overlap."),
        ({"mon": "", "tue": "", "wed": "", "thu": "", "fri": ""}, "Enter working hours for at least one day"),
        ({"holidays": "25/12/2026 Christmas"}, "Line 1: start with a date as YYYY-MM-DD"),
        ({"holidays": "2026-12-25\n2026-12-25 again"}, "Line 2: 2026-12-25 is listed twice."),
    ],
)
def test_invalid_calendars_are_422_with_messages(make_user, login_as, data, message):
    client, token = login_as(make_user("admin"))
    base = {
        "name": "Phone",
        "timezone": "Europe/London",
        "mon": "09:00-17:00",
        "tue": "09:00-17:00",
        "wed": "09:00-17:00",
        "thu": "09:00-17:00",
        "fri": "09:00-17:00",
        "holidays": "",
    }
    response = client.post("/admin/sla/calendars/new", data={**base, **data, "csrf_token": token})
    assert response.status_code == 422
    assert message in response.text
    assert db.session.scalar(select(Calendar.id)) is None


def test_calendar_names_are_unique(make_user):
    admin = make_user("admin")
    sla_admin.save_calendar(admin, None, {"name": "Phone", "timezone": "UTC", "mon": "09:00-17:00"})
    db.session.commit()
    with pytest.raises(ValidationFailed) as exc:
        sla_admin.save_calendar(admin, None, {"name": "phone", "timezone": "UTC", "mon": "09:00-17:00"})
    assert exc.value.fields == {"name": "Another calendar already has this name."}


@pytest.mark.parametrize("role", ["customer", "agent", "senior_agent"])
def test_customers_and_agents_get_403(make_org, make_user, login_as, role, frozen):
    admin = make_user("admin")
    policy = sla_admin.save_default_policy(admin, policy_form())
    calendar = sla_admin.save_calendar(admin, None, {"name": "Phone", "timezone": "UTC", "mon": "09:00-17:00"})
    db.session.commit()
    user = make_user(role, organization=make_org() if role == "customer" else None)
    client, token = login_as(user)
    for url in (
        "/admin/sla",
        "/admin/sla/default",
        "/admin/sla/policies/new",
        f"/admin/sla/policies/{policy.id}",
        "/admin/sla/calendars/new",
        f"/admin/sla/calendars/{calendar.id}",
    ):
        assert client.get(url).status_code == 403, url
        if url == "/admin/sla":
            continue
        assert client.post(url, data={**policy_form(high_first_response="1"), "csrf_token": token}).status_code == 403
    assert client.post(f"/admin/sla/policies/{policy.id}/delete", data={"csrf_token": token}).status_code == 403
    db.session.expire_all()
    assert db.session.get(SlaPolicy, policy.id).high_first_response == 60
    with pytest.raises(Forbidden):
        sla_admin.update_policy(user, policy, policy_form(high_first_response="1"))


def test_admin_nav_links_to_sla_policies(make_user, login_as):
    client, _ = login_as(make_user("manager"))
    page = client.get("/admin/sla")
    assert page.status_code == 200
    assert re.search(r'href="/admin/sla"\s+aria-current="page">SLA policies</a>', page.text)
    other = client.get("/admin/categories").text
    assert re.search(r'href="/admin/sla"\s*>SLA policies</a>', other)
