"""The cost model: the seed's defaults, validation, the roster option, and the admin page."""

from __future__ import annotations

from datetime import date

import pytest

from portal.extensions import db
from portal.models import Role, Setting
from portal.services import cost, reports
from portal.services.errors import Forbidden, ValidationFailed
from portal.services.reports import Period
from tests.conftest import csrf_from
from tests.reports.conftest import at


def test_the_defaults_cost_949000_a_year_and_about_190_per_ticket():
    figures = cost.breakdown()
    assert figures["salaries"] == 680_000
    assert figures["benefits"] == 204_000
    assert figures["total"] == cost.annual_total() == 949_000
    assert cost.cost_per_ticket(5000) == pytest.approx(189.8)
    assert round(cost.cost_per_ticket(5000)) == 190
    assert cost.cost_per_ticket(0) is None
    assert cost.cost_per_ticket(100, days=73) == pytest.approx(949_000 / 5 / 100)


def test_saving_validates_and_is_for_admins(make_user):
    admin, manager = make_user(Role.admin), make_user(Role.manager)
    values = cost.form_values()
    with pytest.raises(Forbidden):
        cost.save(values, manager)
    bad = {
        **values,
        "agent_headcount": "6.5",
        "senior_agent_salary": "-1",
        "benefits_percent": "130",
        "tools": "lots",
        "training": "",
        "office": "1.234",
        "headcount_source": "guess",
    }
    with pytest.raises(ValidationFailed) as caught:
        cost.save(bad, admin)
    assert set(caught.value.fields) == {
        "agent_headcount",
        "senior_agent_salary",
        "benefits_percent",
        "tools",
        "training",
        "office",
        "headcount_source",
    }
    assert db.session.get(Setting, cost.SETTING_KEY) is None
    cost.save({**values, "agent_headcount": "8", "tools": "$25,000", "benefits_percent": "25.5"}, admin)
    db.session.commit()
    stored = db.session.get(Setting, cost.SETTING_KEY).value
    assert stored["roles"]["agent"] == {"headcount": 8, "salary": 50000}
    assert stored["tools"] == 25000 and stored["benefits_percent"] == 25.5
    salaries = 8 * 50_000 + 210_000 + 90_000 + 80_000
    assert cost.annual_total() == pytest.approx(salaries * 1.255 + 25_000 + 15_000 + 30_000)


def test_a_damaged_setting_falls_back_to_the_defaults_key_by_key():
    db.session.add(
        Setting(key=cost.SETTING_KEY, value={"roles": {"agent": {"headcount": "x"}}, "tools": -5, "office": 1})
    )
    db.session.commit()
    model = cost.load()
    assert model["roles"]["agent"]["headcount"] == 6 and model["tools"] == 20_000 and model["office"] == 1


def test_headcounts_from_the_active_roster(make_user):
    admin = make_user(Role.admin)
    make_user(Role.agent), make_user(Role.agent), make_user(Role.agent, is_active_account=False)
    make_user(Role.manager), make_user(Role.customer)
    cost.save({**cost.form_values(), "headcount_source": "roster"}, admin)
    assert cost.headcounts() == {"agent": 2, "senior_agent": 0, "manager": 1, "admin": 1}
    assert cost.annual_total() == pytest.approx((2 * 50_000 + 90_000 + 80_000) * 1.3 + 65_000)


def test_the_reports_cost_per_ticket_follows_the_saved_model(make_user, history):
    admin = make_user(Role.admin)
    for day in range(1, 11):
        history.ticket(at(day, 12))
    cost.save({**cost.form_values(), "tools": "0", "training": "0", "office": "0", "benefits_percent": "0"}, admin)
    db.session.commit()
    figures = reports.summary(Period(date(2026, 3, 1), date(2026, 4, 1), "UTC"), now=at(5, month=4))
    assert figures["cost_per_ticket"] == pytest.approx(680_000 * 31 / 365 / 10)


def test_the_admin_page_shows_and_saves_the_model(client, login_as, make_user, history):
    admin = make_user(Role.admin)
    web, _token = login_as(admin)
    page = web.get("/admin/cost")
    assert page.status_code == 200
    assert "$949,000" in page.text and "$189.80" in page.text
    assert "Cost model" in web.get("/admin/").text
    token = csrf_from(page.text)
    form = {**cost.form_values(), "csrf_token": token, "office": "-3"}
    refused = web.post("/admin/cost", data=form)
    assert refused.status_code == 422
    assert "Nothing was saved" in refused.text and "Enter a number of 0 or more." in refused.text
    saved = web.post("/admin/cost", data={**form, "office": "40000"})
    assert saved.status_code == 303
    assert "$959,000" in web.get("/admin/cost").text


@pytest.mark.parametrize("role", [Role.manager, Role.agent, Role.customer])
def test_the_admin_page_is_for_admins_only(client, login_as, make_user, role):
    web, _token = login_as(make_user(role))
    assert web.get("/admin/cost").status_code == 403
    assert client.get("/admin/cost").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get("/admin/cost").status_code == 302
