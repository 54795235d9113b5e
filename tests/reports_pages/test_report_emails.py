"""Scheduled report emails: one outbox row per report and period however often the job runs, sent once to each
active manager, with the same numbers as the report page for that period."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, Role
from tests.conftest import login
from tests.ops.conftest import _Mailbox, free_port
from workers import periodic, reports_jobs
from workers.inline import run_pending

NOW = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)  # a Thursday: yesterday 1 April, last week 23-29 March, last month March


@pytest.fixture
def mailbox(app, monkeypatch):
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "PORTAL_URL": "http://portal.test",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    yield box
    controller.stop()


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == reports_jobs.KIND).order_by("id")))


def test_the_job_queues_each_ended_report_once_however_often_it_runs(app):
    with time_machine.travel(NOW, tick=False):
        assert reports_jobs.queue_report_emails() == 3
        db.session.commit()
        assert reports_jobs.queue_report_emails() == 0
        periodic.schedule_report_emails()  # the scheduled task itself, twice
        periodic.schedule_report_emails()
    assert [(r.payload["kind"], r.payload["from"], r.payload["to"]) for r in rows()] == [
        ("day", "2026-04-01", "2026-04-02"),
        ("week", "2026-03-23", "2026-03-30"),
        ("month", "2026-03-01", "2026-04-01"),
    ]
    assert {r.dedupe_key for r in rows()} == {
        "report-email:day:2026-04-01:UTC",
        "report-email:week:2026-03-23:UTC",
        "report-email:month:2026-03-01:UTC",
    }
    with time_machine.travel(datetime(2026, 4, 3, 0, 5, tzinfo=UTC), tick=False):
        assert periodic.schedule_report_emails() == 1  # only the new day
    assert len(rows()) == 4
    assert any(task is periodic.schedule_report_emails for task, _every, _queue in periodic.SCHEDULE)


def test_the_reports_follow_the_reporting_zone(app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_TIMEZONE", "Australia/Sydney")
    with time_machine.travel(datetime(2026, 4, 1, 14, 0, tzinfo=UTC), tick=False):  # 2 April 01:00 in Sydney
        reports_jobs.queue_report_emails()
        db.session.commit()
    assert [r.payload["from"] for r in rows()] == ["2026-04-01", "2026-03-23", "2026-03-01"]
    assert {r.payload["tz"] for r in rows()} == {"Australia/Sydney"}


def test_each_active_manager_gets_the_numbers_of_the_page_once(client, app, people, march, mailbox, make_user):
    away = make_user(Role.manager, name="Former Manager", is_active_account=False)
    with time_machine.travel(NOW, tick=False):
        reports_jobs.queue_report_emails()
        db.session.commit()
        run_pending()
        run_pending()  # a second run sends nothing more
        login(client, people["manager"])
        page = client.get("/reports/?period=month&date=2026-03-01&tz=UTC").text
    monthly = [m for m in mailbox.to(people["manager"].email) if m["Subject"].startswith("Monthly report")]
    assert len(monthly) == 1 and monthly[0]["Subject"] == "Monthly report: March 2026"
    assert not mailbox.to(away.email) and not mailbox.to(people["admin"].email)
    assert not mailbox.to(people["agent"].email)
    assert len(mailbox.to(people["manager"].email)) == 3  # daily, weekly, monthly

    body = monthly[0].get_body(("html",)).get_content()
    text = monthly[0].get_body(("plain",)).get_content()
    sent = {
        key: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", value)).split())
        for key, value in re.findall(r'data-figure="([\w.]+)">(.*?)</td>', body, re.S)
    }

    def on_page(element_id: str) -> str:
        match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(td|dd)>', page, re.S)
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())

    assert sent["response_sla.rate"].startswith(on_page("response-rate") + " (2 met, 1 breached)")
    assert sent["resolution_sla.rate"].startswith(on_page("resolution-rate"))
    assert sent["sla_compliance"] == on_page("sla-compliance")
    assert sent["tickets_solved"] + " of " + sent["tickets_created"] + " created" == on_page("tickets-solved")
    assert sent["fcr_rate"] == on_page("fcr-rate") and sent["reopen_rate"] == on_page("reopen-rate")
    assert sent["escalation_rate"] == on_page("escalation-rate")
    assert sent["avg_resolution_minutes"] == on_page("avg-resolution")
    assert sent["csat.average"].split(" from ")[0] == on_page("csat-average").split(" Target")[0]
    assert sent["cost_per_ticket"] == on_page("cost-per-ticket")
    assert "target ≥ 95 %: missed" in body
    assert "http://portal.test/reports/?period=month&date=2026-03-01&tz=UTC" in text
    assert f"SLA compliance: {on_page('sla-compliance')}" in text


def test_a_report_email_with_a_broken_payload_fails_for_good(app):
    with pytest.raises(reports_jobs.PermanentFailure):
        reports_jobs.report_summary({"kind": "fortnight", "from": "2026-03-01", "to": "2026-03-15"}, 1)
