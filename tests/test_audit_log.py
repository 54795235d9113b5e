"""The audit log: the hooks in admin, settings, roster, reports, exports and the knowledge base (one row per action,
in the change's own transaction), the read-only /admin/audit page and its CSV export (admins only), and rows that
cannot be changed or removed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEntry, Calendar, OnCall, Role, SlaPolicy, TimeOff, User
from portal.models.kb import Article, ArticleStatus
from portal.services import admin as admin_service
from portal.services import audit, sla_admin
from portal.services.accounts import create_api_token
from portal.services.audit import AuditImmutable
from portal.services.kb.articles import ArticleInput, create_article
from tests.conftest import csrf_from, login

CLIENT_IP = "127.0.0.1"  # the test client's address


# --------------------------------------------------------------------------- helpers


def _last_id() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.max(AuditEntry.id))) or 0


def _new(since: int, action: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    stmt = select(AuditEntry).where(AuditEntry.id > since).order_by(AuditEntry.id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    return list(db.session.scalars(stmt))


def _one(since: int, action: str) -> AuditEntry:
    """Exactly one new row since ``since``, with ``action`` (and no other new row)."""
    rows = _new(since)
    assert [r.action for r in rows] == [action], [(r.action, r.before, r.after) for r in rows]
    return rows[0]


def _assert_by(entry: AuditEntry, actor: User | None, *, ip: str | None = CLIENT_IP) -> None:
    assert entry.actor_id == (actor.id if actor else None)
    assert entry.actor_label == (actor.email if actor else "system")
    assert entry.ip == ip


def _user_form(user: User, **changes) -> dict:
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


def _entry(at: datetime, action: str = "auth.login", **fields) -> AuditEntry:
    """A stored audit row at ``at`` (the tests of the page need rows at chosen instants)."""
    entry = AuditEntry(at=at, action=action, actor_label=fields.pop("actor_label", "someone@example.test"), **fields)
    db.session.add(entry)
    db.session.commit()
    return entry


@pytest.fixture
def admin(make_user):
    return make_user(Role.admin, email="boss@example.test")


# --------------------------------------------------------------------------- users and organizations


def test_a_role_change_writes_one_row_with_before_and_after(make_user, admin, login_as):
    agent = make_user(Role.agent)
    client, token = login_as(admin)
    since = _last_id()
    response = client.post(
        f"/admin/users/{agent.id}", data={**_user_form(agent, role="senior_agent"), "csrf_token": token}
    )
    assert response.status_code == 303
    entry = _one(since, "user.role")
    _assert_by(entry, admin)
    assert (entry.target_type, entry.target_id, entry.target_label) == ("users", str(agent.id), agent.email)
    assert entry.before == {"role": "agent"} and entry.after == {"role": "senior_agent"}
    assert entry.request_id


def test_an_organization_change_of_a_user_is_audited(make_user, make_org, admin, login_as):
    old, new = make_org("Old Co"), make_org("New Co")
    customer = make_user(Role.customer, organization=old)
    client, token = login_as(admin)
    since = _last_id()
    response = client.post(
        f"/admin/users/{customer.id}", data={**_user_form(customer, organization_id=str(new.id)), "csrf_token": token}
    )
    assert response.status_code == 303
    entry = _one(since, "user.organization")
    _assert_by(entry, admin)
    assert entry.target_id == str(customer.id)
    assert entry.before == {"organization": f"Old Co (#{old.id})"}
    assert entry.after == {"organization": f"New Co (#{new.id})"}


def test_making_a_customer_an_organization_admin_is_a_role_change(make_user, make_org, admin, login_as):
    customer = make_user(Role.customer, organization=make_org("Acme"))
    client, token = login_as(admin)
    since = _last_id()
    form = {**_user_form(customer), "is_org_admin": "y", "csrf_token": token}
    assert client.post(f"/admin/users/{customer.id}", data=form).status_code == 303
    entry = _one(since, "user.role")
    _assert_by(entry, admin)
    assert entry.before == {"is_org_admin": False} and entry.after == {"is_org_admin": True}


def test_deactivation_reactivation_and_a_password_set_by_an_admin_are_audited(make_user, admin, login_as):
    agent = make_user(Role.agent)
    client, token = login_as(admin)
    since = _last_id()
    form = _user_form(agent, is_active_account=None)
    assert client.post(f"/admin/users/{agent.id}", data={**form, "csrf_token": token}).status_code == 303
    entry = _one(since, "user.deactivated")
    _assert_by(entry, admin)
    assert entry.before == {"is_active_account": True} and entry.after == {"is_active_account": False}

    since = _last_id()
    form = _user_form(agent, new_password="another-long-password-9")
    assert client.post(f"/admin/users/{agent.id}", data={**form, "csrf_token": token}).status_code == 303
    rows = _new(since)
    assert sorted(r.action for r in rows) == ["account.password_changed", "user.reactivated"]
    assert all(r.actor_id == admin.id and r.target_id == str(agent.id) for r in rows)
    assert "password" not in str([(r.before, r.after) for r in rows]).replace("password_changed", "")

    since = _last_id()
    assert client.post(f"/admin/users/{agent.id}", data={**_user_form(agent), "csrf_token": token}).status_code == 303
    assert _new(since) == []  # nothing changed, nothing recorded


def test_creating_a_user_is_audited(make_org, admin, login_as):
    org = make_org("Acme")
    client, token = login_as(admin)
    since = _last_id()
    response = client.post(
        "/admin/users/new",
        data={
            "email": "new.person@acme.test",
            "password": "a-long-initial-password",
            "name": "New Person",
            "role": "customer",
            "organization_id": str(org.id),
            "timezone": "UTC",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303, response.text
    entry = _one(since, "user.created")
    _assert_by(entry, admin)
    created = db.session.scalar(select(User).where(User.email == "new.person@acme.test"))
    assert (entry.target_id, entry.target_label) == (str(created.id), "new.person@acme.test")
    assert entry.before is None
    assert entry.after == {"role": "customer", "organization": f"Acme (#{org.id})", "is_approved": True}
    assert "a-long-initial-password" not in str(entry.after)


def test_approving_a_sign_up_is_audited(make_user, make_org, admin, login_as):
    org = make_org("Acme")
    waiting = make_user(Role.customer, is_approved=False)
    client, token = login_as(admin)
    since = _last_id()
    response = client.post(
        f"/admin/users/{waiting.id}/approve", data={"organization_id": str(org.id), "csrf_token": token}
    )
    assert response.status_code == 303
    entry = _one(since, "user.approved")
    _assert_by(entry, admin)
    assert entry.target_id == str(waiting.id)
    assert entry.before == {"is_approved": False, "organization": None}
    assert entry.after == {"is_approved": True, "organization": f"Acme (#{org.id})"}


def test_creating_and_editing_an_organization_is_audited(admin, login_as):
    client, token = login_as(admin)
    form = {"name": "Globex", "email_domains": "globex.test", "region": "EMEA", "plan": "basic", "notes": ""}
    since = _last_id()
    created = client.post("/admin/organizations/new", data={**form, "join_policy": "automatic", "csrf_token": token})
    assert created.status_code == 303, created.text
    entry = _one(since, "organization.created")
    _assert_by(entry, admin)
    assert entry.target_type == "organizations" and entry.target_label == "Globex"
    assert entry.after["name"] == "Globex" and entry.after["email_domains"] == "globex.test"
    assert entry.after["plan"] == "basic" and entry.before is None

    since = _last_id()
    edited = client.post(
        f"/admin/organizations/{entry.target_id}",
        data={**form, "plan": "enterprise", "region": "AMER", "join_policy": "automatic", "csrf_token": token},
    )
    assert edited.status_code == 303
    change = _one(since, "organization.changed")
    _assert_by(change, admin)
    assert change.target_id == entry.target_id
    assert change.before == {"region": "EMEA", "plan": "basic"}
    assert change.after == {"region": "AMER", "plan": "enterprise"}


# --------------------------------------------------------------------------- settings


def _policy_form(**overrides) -> dict:
    data = {"name": "Default", "at_risk_percent": "75", "pause_statuses": ["pending", "solved"], "calendar_id": ""}
    for priority, (first, resolution) in {
        "critical": (15, "4"),
        "high": (60, "8"),
        "medium": (240, "24"),
        "low": (1440, "72"),
    }.items():
        data[f"{priority}_first_response"], data[f"{priority}_resolution"] = str(first), resolution
    return {**data, **overrides}


def test_sla_policy_changes_are_audited(admin, login_as, make_org):
    client, token = login_as(admin)
    since = _last_id()
    assert client.post("/admin/sla/default", data={**_policy_form(), "csrf_token": token}).status_code == 303
    created = _one(since, "settings.sla")
    _assert_by(created, admin)
    assert created.target_type == "sla_policies" and created.detail == "default policy created"
    assert created.after["high_first_response"] == 60

    since = _last_id()
    data = {**_policy_form(high_first_response="30", at_risk_percent="50"), "csrf_token": token}
    assert client.post("/admin/sla/default", data=data).status_code == 303
    changed = _one(since, "settings.sla")
    assert changed.target_id == created.target_id
    assert changed.before == {"high_first_response": 60, "at_risk_percent": 75}
    assert changed.after == {"high_first_response": 30, "at_risk_percent": 50}

    org = make_org("Acme")
    policy = sla_admin.create_organization_policy(admin, str(org.id), _policy_form(name="Acme"))
    db.session.commit()
    policy_id, org_id = policy.id, org.id
    since = _last_id()
    assert client.post(f"/admin/sla/policies/{policy_id}/delete", data={"csrf_token": token}).status_code == 303
    deleted = _one(since, "settings.sla")
    assert deleted.target_id == str(policy_id) and deleted.detail == "organization policy deleted"
    assert deleted.before["organization_id"] == org_id and deleted.after is None
    assert db.session.get(SlaPolicy, policy_id) is None


def test_business_hours_calendars_and_holidays_are_audited(admin, login_as):
    client, token = login_as(admin)
    form = {
        "name": "London office",
        "timezone": "Europe/London",
        "mon": "09:00-17:00",
        "holidays": "",
        "csrf_token": token,
    }
    since = _last_id()
    assert client.post("/admin/sla/calendars/new", data=form).status_code == 303
    created = _one(since, "settings.sla")
    _assert_by(created, admin)
    assert created.target_type == "business_calendars" and created.after["name"] == "London office"
    calendar = db.session.scalar(select(Calendar))

    since = _last_id()
    data = {**form, "holidays": "2026-12-25 Christmas Day"}
    assert client.post(f"/admin/sla/calendars/{calendar.id}", data=data).status_code == 303
    changed = _one(since, "settings.sla")
    assert changed.before == {"holidays": {}} and changed.after == {"holidays": {"2026-12-25": "Christmas Day"}}


def test_roster_changes_are_audited(make_user, admin, login_as):
    admin.timezone = "Europe/Berlin"
    db.session.commit()
    agent = make_user(Role.agent)
    client, token = login_as(admin)

    since = _last_id()
    shift = {"region": "EMEA", "start": "07:00", "end": "16:00", "csrf_token": token}
    assert client.post("/ops/roster/shifts", data=shift).status_code == 303
    entry = _one(since, "settings.roster")
    _assert_by(entry, admin)
    assert entry.target_label == "EMEA" and entry.after == {"shift": "07:00–16:00 UTC"}
    since = _last_id()
    assert client.post("/ops/roster/shifts", data={**shift, "start": "08:00"}).status_code == 303
    assert _one(since, "settings.roster").before == {"shift": "07:00–16:00 UTC"}

    since = _last_id()
    assert (
        client.post(f"/ops/roster/people/{agent.id}/away", data={"away": "1", "csrf_token": token}).status_code == 303
    )
    away = _one(since, "settings.roster")
    assert (away.target_id, away.before, away.after) == (str(agent.id), {"away": False}, {"away": True})

    since = _last_id()
    period = {"user_id": agent.id, "starts_at": "2026-04-08T09:00", "ends_at": "2026-04-08T17:00", "csrf_token": token}
    assert client.post("/ops/roster/time-off", data={**period, "note": "dentist"}).status_code == 303
    off = _one(since, "settings.roster")
    assert off.target_type == "time_off" and off.target_label == agent.email and off.detail == "added"
    assert off.after["starts_at"].startswith("2026-04-08T07:00")  # 09:00 Berlin (summer time) in UTC
    assert off.after["note"] == "dentist"

    since = _last_id()
    assert client.post("/ops/roster/on-call", data=period).status_code == 303
    call = _one(since, "settings.roster")
    assert call.target_type == "on_call" and call.after["user"] == agent.id

    entry_id = db.session.scalar(select(TimeOff.id))
    since = _last_id()
    assert client.post(f"/ops/roster/time-off/{entry_id}/delete", data={"csrf_token": token}).status_code == 303
    removed = _one(since, "settings.roster")
    assert removed.target_id == str(entry_id) and removed.detail == "removed" and removed.after is None
    assert removed.before["note"] == "dentist"
    assert db.session.scalar(select(func.count()).select_from(OnCall)) == 1


def test_cost_model_go_live_and_categories_are_audited(admin, login_as):
    from portal.services import cost

    client, token = login_as(admin)
    since = _last_id()
    form = {**cost.form_values(), "office": "40000", "csrf_token": token}
    assert client.post("/admin/cost", data=form).status_code == 303
    entry = _one(since, "settings.other")
    _assert_by(entry, admin)
    assert (entry.target_type, entry.target_id, entry.target_label) == ("portal_settings", "cost_model", "cost model")
    assert entry.before == {"office": 30000} and entry.after == {"office": 40000}

    since = _last_id()
    response = client.post("/reports/success/go-live", data={"go_live_date": "2026-03-10", "csrf_token": token})
    assert response.status_code == 303
    live = _one(since, "settings.other")
    assert live.target_id == "go_live_date"
    assert live.before == {"go_live_date": None} and live.after == {"go_live_date": "2026-03-10"}

    since = _last_id()
    data = {"slug": "billing-x", "name": "Billing X", "description": "", "position": "9", "is_active": "y"}
    assert client.post("/admin/categories", data={**data, "csrf_token": token}).status_code == 303
    made = _one(since, "settings.other")
    assert made.target_type == "categories" and made.detail == "category created" and made.after["slug"] == "billing-x"
    since = _last_id()
    assert client.post(f"/admin/categories/{made.target_id}/deactivate", data={"csrf_token": token}).status_code == 303
    off = _one(since, "settings.other")
    assert off.before == {"is_active": True} and off.after == {"is_active": False}


# --------------------------------------------------------------------------- downloads and exports


def test_report_downloads_are_audited_on_the_pages_and_in_the_api(make_user, client):
    manager = make_user(Role.manager)
    login(client, manager)
    since = _last_id()
    response = client.get("/reports/agents.csv?from=2026-03-01&to=2026-04-01&tz=Europe/London", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    entry = _one(since, "report.download")
    _assert_by(entry, manager)
    assert (entry.target_type, entry.target_id) == ("report", "agents")
    assert entry.detail == "agents 2026-03-01 to 2026-04-01 (Europe/London)"

    since = _last_id()
    assert client.get("/reports/agents.csv?from=2026-04-01&to=2026-03-01").status_code == 400  # refused: no row
    assert _new(since) == []

    _token, plain = create_api_token(manager, "reports")
    db.session.commit()
    since = _last_id()
    api = client.get(
        "/api/v1/reports/summary.csv?from=2026-03-01&to=2026-04-01&tz=UTC",
        headers={"Authorization": f"Bearer {plain}"},
        buffered=True,
    )
    assert api.status_code == 200
    row = _one(since, "report.download")
    _assert_by(row, manager)
    assert row.target_id == "summary" and row.detail == "summary 2026-03-01 to 2026-04-01 (UTC)"


def test_the_tickets_export_command_is_audited_without_an_actor(runner, make_user, make_ticket, tmp_path):
    make_ticket(make_user(Role.customer))
    since = _last_id()
    out = tmp_path / "tickets.jsonl"
    result = runner.invoke(args=["tickets", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") == 1
    entry = _one(since, "export.download")
    _assert_by(entry, None, ip=None)
    assert entry.target_type == "tickets" and str(out) in entry.detail


def test_publishing_and_archiving_an_article_is_audited(make_user, admin, login_as):
    draft = create_article(
        admin, ArticleInput(title="Connecting SAP", body_markdown="Step one.", category="integrations")
    )
    db.session.commit()
    client, token = login_as(admin)
    since = _last_id()
    response = client.post(
        f"/admin/kb/{draft.id}/status", data={"csrf_token": token, "version": 1, "action": "publish"}
    )
    assert response.status_code == 303
    published = _one(since, "kb.published")
    _assert_by(published, admin)
    assert (published.target_type, published.target_id, published.target_label) == (
        "kb_articles",
        str(draft.id),
        "Connecting SAP",
    )
    assert published.before == {"status": "draft", "version": 1}
    assert published.after == {"status": "published", "version": 2}

    since = _last_id()
    response = client.post(
        f"/admin/kb/{draft.id}/status", data={"csrf_token": token, "version": 2, "action": "archive"}
    )
    assert response.status_code == 303
    archived = _one(since, "kb.archived")
    assert archived.before == {"status": "published", "version": 2} and archived.after["status"] == "archived"
    assert db.session.get(Article, draft.id).status is ArticleStatus.archived

    since = _last_id()
    stale = client.post(f"/admin/kb/{draft.id}/status", data={"csrf_token": token, "version": 1, "action": "publish"})
    assert stale.status_code == 409 and _new(since) == []  # a refused change leaves no row


# --------------------------------------------------------------------------- the page


@pytest.mark.parametrize("role", [Role.customer, Role.agent, Role.senior_agent, Role.manager])
def test_only_admins_see_the_audit_log(make_user, make_org, login_as, role):
    user = make_user(role, organization=make_org() if role is Role.customer else None)
    client, _token = login_as(user)
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403
    assert "/admin/audit" not in client.get("/admin/").text


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/admin/audit", "/admin/audit.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_log_is_read_only(admin, login_as):
    client, token = login_as(admin)
    assert "/admin/audit" in client.get("/admin/").text
    for path in ("/admin/audit", "/admin/audit.csv"):
        assert client.post(path, data={"csrf_token": token}).status_code == 405


def test_the_page_lists_newest_first_with_a_readable_escaped_diff(admin, login_as):
    _entry(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), "auth.login", ip="203.0.113.9", detail="older-row")
    _entry(
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        "user.role",
        actor_label="boss@example.test",
        target_type="users",
        target_id="7",
        target_label="pat@example.test",
        before={"role": "agent", "note": "<script>x</script>"},
        after={"role": "manager", "scopes": ["a", "b"]},
        ip="198.51.100.4",
        detail="newer-row",
    )
    client, _token = login_as(admin)
    page = client.get("/admin/audit")
    assert page.status_code == 200
    html = page.text
    assert "<caption>Audit log, newest first, page 1</caption>" in html and 'scope="col"' in html
    assert html.index("newer-row") < html.index("older-row")
    assert '<code>role</code>: agent <span aria-label="changed to">→</span> manager' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html
    assert "[&#34;a&#34;, &#34;b&#34;]" in html  # JSON, escaped
    assert "198.51.100.4" in html and "pat@example.test" in html and "<time datetime=" in html
    assert '<optgroup label="Users">' in html and 'value="user.*"' in html


def test_filters_by_action_actor_target_and_address(admin, login_as):
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    _entry(at, "auth.login", actor_label="ann@example.test", ip="203.0.113.9", detail="row-a")
    _entry(at, "auth.login_failed", actor_label="system", target_label="bob@example.test", detail="row-b")
    _entry(at, "user.role", actor_label="boss@example.test", target_type="users", target_id="42", detail="row-c")
    client, _token = login_as(admin)

    def shown(query: str) -> list[str]:
        response = client.get("/admin/audit?" + query)
        assert response.status_code == 200, response.text
        return sorted(r for r in ("row-a", "row-b", "row-c") if r in response.text)

    assert shown("action=auth.login") == ["row-a"]
    assert shown("action=auth.*") == ["row-a", "row-b"]
    assert shown("actor=ANN@") == ["row-a"]
    assert shown("actor=%25") == []  # a LIKE wildcard is literal text
    assert shown("target_type=users&target=42") == ["row-c"]
    assert shown("target=bob") == ["row-b"]
    assert shown("ip=203.0.") == ["row-a"]
    partial = client.get("/admin/audit?action=user.role", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and partial.text.lstrip().startswith('<div id="audit-rows">')
    assert "row-c" in partial.text and "<h1>" not in partial.text
    for bad in ("action=nope", "action=nope.*", "ip=not-an-ip", "target_type=Bad%20Type", "actor=" + "x" * 300):
        refused = client.get("/admin/audit?" + bad)
        assert refused.status_code == 422 and "could not be filtered" in refused.text, bad


def test_the_date_range_is_in_the_viewers_time_zone(make_user, login_as):
    viewer = make_user(Role.admin, timezone="Pacific/Auckland")  # UTC+13 in December
    _entry(datetime(2026, 12, 1, 10, 30, tzinfo=UTC), detail="late-on-the-1st")  # 23:30 on the 1st in Auckland
    _entry(datetime(2026, 12, 1, 11, 30, tzinfo=UTC), detail="early-on-the-2nd")  # 00:30 on the 2nd in Auckland
    client, _token = login_as(viewer)

    def shown(query: str) -> list[str]:
        text = client.get("/admin/audit?" + query).text
        return [d for d in ("late-on-the-1st", "early-on-the-2nd") if d in text]

    assert shown("date_from=2026-12-01&date_to=2026-12-01") == ["late-on-the-1st"]
    assert shown("date_from=2026-12-02&date_to=2026-12-02") == ["early-on-the-2nd"]
    assert shown("date_from=2026-12-02") == ["early-on-the-2nd"]
    assert shown("date_to=2026-12-01") == ["late-on-the-1st"]
    assert "2026-12-02 00:30:00 NZDT" in client.get("/admin/audit").text
    for bad in ("date_from=2026-13-01", "date_from=1.12.2026", "date_from=2026-12-03&date_to=2026-12-01"):
        response = client.get("/admin/audit?" + bad)
        assert response.status_code == 422 and "could not be filtered" in response.text, bad


def test_pages_are_bounded_and_strict(admin, login_as):
    base = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    db.session.add_all(
        AuditEntry(at=base.replace(minute=i), action="auth.login", actor_label="a@x.test", detail=f"n{i:02d}")
        for i in range(51)
    )
    db.session.commit()
    client, _token = login_as(admin)
    first = client.get("/admin/audit?actor=a@x.test")
    assert first.status_code == 200 and "n50" in first.text and "n00" not in first.text and 'rel="next"' in first.text
    second = client.get("/admin/audit?actor=a@x.test&page=2")
    assert second.status_code == 200 and "n00" in second.text and "n01" not in second.text
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    assert client.get("/admin/audit?page=3").status_code == 200
    for bad in ("-1", "0", str(10**30), "abc", "1.5", "١", "10001"):
        response = client.get("/admin/audit", query_string={"page": bad})
        assert response.status_code == 422 and "page must be a whole number" in response.text, bad


def test_the_csv_export_has_the_filtered_rows_and_is_itself_audited(admin, login_as):
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    _entry(at, "auth.login", actor_label="ann@corp.test", detail='=HYPERLINK("http://evil")', ip="203.0.113.9")
    _entry(
        at.replace(hour=10),
        "user.role",
        actor_label="carl@corp.test",
        target_type="users",
        target_id="7",
        before={"role": "agent"},
        after={"role": "manager"},
    )
    _entry(at.replace(hour=11), "kb.published", actor_label="ann@corp.test", detail="not-selected")
    client, _token = login_as(admin)
    since = _last_id()
    response = client.get("/admin/audit.csv?actor=corp.test&action=auth.*")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in rows] == ["auth.login"]
    assert rows[0]["detail"] == '\'=HYPERLINK("http://evil")'  # formula-safe
    assert rows[0]["at"] == "2026-12-01T09:00:00Z" and rows[0]["ip"] == "203.0.113.9"

    everything = list(csv.DictReader(io.StringIO(client.get("/admin/audit.csv?actor=corp.test").text)))
    assert [r["action"] for r in everything] == ["kb.published", "user.role", "auth.login"]  # newest first
    assert everything[1]["changes"] == "role: agent → manager"
    assert everything[1]["before"] == '{"role": "agent"}' and everything[1]["target_id"] == "7"

    exports = _new(since, "export.download")
    assert len(exports) == 2
    _assert_by(exports[0], admin)
    assert exports[0].target_type == "audit_log" and "actor=corp.test" in exports[0].detail
    assert "action=auth.%2A" in exports[0].detail or "action=auth.*" in exports[0].detail
    refused = client.get("/admin/audit.csv?date_from=yesterday")
    assert refused.status_code == 422
    assert len(_new(since, "export.download")) == 2  # a refused export is not recorded


def test_the_csv_export_streams_every_row_in_batches(admin, login_as, monkeypatch):
    from portal.blueprints.admin import audit as audit_view

    monkeypatch.setattr(audit_view, "CSV_BATCH", 3)
    base = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    db.session.add_all(
        AuditEntry(at=base.replace(minute=i // 2), action="auth.login", actor_label="a@x.test", detail=f"n{i:02d}")
        for i in range(10)
    )  # pairs of rows share an instant: the keyset must not skip or repeat them
    db.session.commit()
    client, _token = login_as(admin)
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/audit.csv?actor=a@x.test").text)))
    assert [r["detail"] for r in rows] == [f"n{i:02d}" for i in (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)]


# --------------------------------------------------------------------------- append-only, one transaction


def test_rows_cannot_be_updated_or_deleted_through_the_orm(admin):
    entry = audit.record("auth.login", target=admin, actor=admin)
    db.session.commit()
    entry.detail = "edited"
    with pytest.raises(AuditImmutable):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditImmutable):
        db.session.flush()
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(AuditEntry, entry.id).detail is None


def test_a_rolled_back_change_leaves_no_audit_row(make_user, admin, client):
    agent = make_user(Role.agent)
    since = _last_id()
    admin_service.update_user(admin, agent, name=agent.name, role="senior_agent", is_active_account=True)
    assert [r.action for r in db.session.new if isinstance(r, AuditEntry)] == ["user.role"]
    db.session.rollback()
    assert _new(since) == []
    assert db.session.get(User, agent.id).role is Role.agent

    # Through a request: a refused save (422) rolls back the whole request, audit rows included.
    login(client, admin)
    token = csrf_from(client.get("/admin/users").text)
    since = _last_id()
    refused = client.post(
        f"/admin/users/{agent.id}", data={**_user_form(agent, role="senior_agent", name=""), "csrf_token": token}
    )
    assert refused.status_code == 422
    assert _new(since) == []


def test_an_audited_request_that_fails_keeps_no_row(admin, login_as, monkeypatch):
    """A view that recorded its row and then failed commits nothing: the row goes with the request."""
    from portal.blueprints.admin import audit as audit_view

    def broken(*_args):
        raise RuntimeError("boom")

    monkeypatch.setattr(audit_view, "_csv_lines", broken)
    client, _token = login_as(admin)
    since = _last_id()
    assert client.get("/admin/audit.csv").status_code == 500
    assert _new(since) == []


def test_the_database_itself_refuses_to_change_an_audit_row(app):
    """Bulk statements bypass the ORM guard; the trigger the migration installs still refuses them."""
    from sqlalchemy import update
    from sqlalchemy.exc import DatabaseError

    from portal.models import AuditEntry
    from portal.services import audit

    audit.record("settings.other", target_type="setting", target_id="x", after={"v": 1}, actor=None)
    db.session.commit()
    with pytest.raises(DatabaseError):
        db.session.execute(update(AuditEntry).values(detail="rewritten"))
    db.session.rollback()
    assert db.session.scalar(select(AuditEntry.detail)) is None
