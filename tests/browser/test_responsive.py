"""Phones and laptops in a real browser: every page of the portal, at 390 px and at 1366 px wide, never scrolls
sideways; data tables scroll inside their own named, keyboard-focusable region (or stack into one card per row);
checkboxes sit beside their labels; the agent queue keeps each ticket reference on one line on a laptop; and no page
reports a Content-Security-Policy violation.

The pages come from the app's URL map: every GET rule is visited as the role that uses it, with its path arguments
filled from realistic seeded data (long subjects, long organization and person names, unbroken file names), unless
it is listed in NOT_PAGES (JSON, files, htmx fragments, redirects). A new page is therefore visited without anyone
remembering to add it here, and a new kind of path argument fails the test until a value for it is seeded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import (
    Category,
    CsatSurvey,
    InboundSource,
    LinkPurpose,
    NotificationDelivery,
    OutboxMessage,
    OutboxStatus,
    Role,
    ShiftRegion,
    SlaPolicy,
    StatusSubscriber,
    User,
    utcnow,
)
from portal.models.kb import ArticleRevision, Faq, KbCategory, SearchSource
from portal.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookSubscription
from portal.services import account_flows, accounts, csat, sla_admin
from portal.services import roster as roster_service
from portal.services import tickets as ticket_service
from portal.services.incidents import core as incident_core
from portal.services.kb import analytics, faqs, feedback
from portal.services.kb import articles as kb_articles
from portal.services.mail import outgoing as mail_outgoing
from portal.services.mail import pipeline
from portal.services.paging import hotline as hotline_service
from portal.services.paging import pages as paging_pages
from portal.services.status import components as status_components
from portal.services.status import subscriptions as status_subscriptions
from tests.browser.test_accessibility import _axe_violations, _with_axe, vendored_axe  # noqa: F401
from tests.search.conftest import run_index_jobs, search_index  # noqa: F401  (fresh indexes, index jobs)

WIDTHS = (390, 1366)
HEIGHT = 900

# GET rules that are not pages to look at, by endpoint (the api blueprint answers JSON to bearer tokens).
NOT_PAGES = {
    "static": "static files",
    "main.healthz": "JSON health check",
    "main.favicon": "the site icon",
    "agent.counts": "htmx fragment: the queue's view counts (shown on the queue and ticket pages)",
    "agent.timeline": "htmx fragment: a ticket's timeline (shown on the agent ticket page)",
    "customer.suggestions": "htmx fragment: KB suggestions (typed for on the new-ticket page below)",
    "customer.suggestion": "htmx fragment: one opened suggestion (on the new-ticket page)",
    "kb.search_click": "redirects to the clicked search result",
    "reports.live_board": "htmx fragment: the live dashboard's board (polled by /reports/live)",
    "reports.csv": "CSV downloads of the report tables",
    "admin.audit_csv": "CSV download of the audit log",
    "attachments.download": "file downloads of attachments",
    "mail.raw": "a received message's raw source as plain text",
    "health.readyz": "JSON readiness check",
    "health.metrics": "Prometheus metrics (text)",
    "health.board": "htmx fragment: the health board (polled by /ops/health)",
    "incidents.live": "htmx fragment: an incident's updates and timeline (polled by its page)",
    "status.feed_atom": "Atom feed of the status page",
    "status.feed_rss": "RSS feed of the status page",
    "widget.script": "the widget's embed script (JavaScript for the platform's pages)",
    "widget.frame": "the widget frame: needs a site key and a host page (tests/browser/test_widget_browser.py)",
    "widget.panel": "htmx fragment of the widget frame (widget session header)",
    "widget.suggestions": "htmx fragment of the widget frame: KB suggestions",
    "widget.suggestion": "htmx fragment of the widget frame: one opened suggestion",
    "widget.tickets": "htmx fragment of the widget frame: the visitor's tickets",
    "widget.ticket": "htmx fragment of the widget frame: one ticket",
    "chat.panel": "htmx fragment: the chat panel (shown on /chat and in the widget frame)",
    "chat.stream": "server-sent event stream of the visitor's chat",
    "chat.poll": "htmx fragment: the visitor's chat without a stream (the polling fallback)",
    "chat.console_stream": "server-sent event stream of the agent chat console",
    "chat.console_poll": "htmx fragment: the chat console without a stream (the polling fallback)",
}
NOT_PAGE_BLUEPRINTS = {"api": "JSON API for bearer tokens"}

# Who visits a page, by path prefix (first match); everything else is public.
ROLE_BY_PREFIX = (
    ("/ops/roster/manage", "admin"),
    ("/ops/incidents/templates", "admin"),
    ("/ops/incidents/new", "admin"),  # declaring takes a senior agent or above
    ("/ops/status", "admin"),
    ("/ops/health", "admin"),
    ("/ops/on-call", "admin"),  # a manager or admin sees the override and rotation forms too
    ("/ops/pages/", "public"),  # the acknowledgement link: its signed token authenticates
    ("/mail/messages", "agent"),
    ("/reports", "admin"),
    ("/admin", "admin"),
    ("/ops", "agent"),
    ("/agent", "agent"),
    ("/chat", "customer"),
    ("/portal", "customer"),
    ("/profile", "customer"),
)
# Pages worth seeing as a second role too, or with a query that fills them.
ALSO = {
    "admin": ["/profile", "/agent/queue", "/reports/?period=day", "/reports/?period=month"],
    "agent": ["/profile", "/kb/", "/reports/"],
}
QUERIES = {
    "/kb/search": "?q=import",
    "/agent/search": "?q=import",
    "/portal/search": "?q=import",
    "/admin/users": "?q=e",
    # The caller found by address: the lookup and the call form with the customer's open tickets.
    "/agent/calls/new": "?q=maximiliane.featherstonehaugh-wolfeschlegelsteinhausen%40"
    "consolidated-northern-renewables.example.test",
    "/reports/tickets": "?figure=tickets_created&from=2020-01-01&to=2030-01-01&tz=UTC",
    "/reports/": "?period=week",
}

LONG_ORG = "Consolidated Northern Hemisphere Renewable Energy Generation and Distribution Holdings International plc"
LONG_FILE = "scope2_electricity_consumption_2026_q3_all_sites_consolidated_final_v7.xlsx"
LONG_SUBJECTS = [
    f"Bulk import of {LONG_FILE} rejects every row with 'unit kWh not recognised for activity grid_electricity'",
    "GRI 305-1 disclosure shows zero tCO2e for Plant B although fuel data was entered for all twelve months of 2026",
    "SAP S/4HANA connector stopped syncing after the service user's password was rotated; quarterly close at risk",
    "Scope 3 category 1 purchased goods: supplier-specific emission factors are ignored in favour of spend-based ones",
    "CSRD ESRS E1 report export times out for the group entity with 240 facilities and eleven legal entities",
    "Two-factor authentication codes are refused for users in the Australia/Sydney time zone since the last release",
]


@dataclass
class Seed:
    users: dict[str, User]
    ids: dict[str, object]


@pytest.fixture
def seed(app, make_org, make_user, make_ticket, run_index_jobs, monkeypatch) -> Seed:  # noqa: F811
    # Small pages so that the pagers show as well as the tables.
    monkeypatch.setitem(app.config, "QUEUE_PAGE_SIZE", 8)
    monkeypatch.setitem(app.config, "ADMIN_PAGE_SIZE", 6)

    org = make_org(
        name=LONG_ORG,
        domains="consolidated-northern-renewables.example.test, cnr-holdings-international.example.test",
        region="EMEA",
        plan="enterprise",
        notes="Pilot of the CSRD module; reporting for 240 facilities across eleven legal entities.",
    )
    other_org = make_org(name="Acme Reporting")
    customer = make_user(
        Role.customer,
        organization=org,
        name="Maximiliane Alexandra Featherstonehaugh-Wolfeschlegelsteinhausen",
        email="maximiliane.featherstonehaugh-wolfeschlegelsteinhausen@consolidated-northern-renewables.example.test",
        is_org_admin=True,  # sees the organization's members page
    )
    colleague = make_user(Role.customer, organization=org, name="Marco Rossi")
    make_user(Role.customer, organization=other_org, name="Olivia Park")
    agent = make_user(
        Role.agent, name="Bartholomew Oyelaran-Castellanos", shift_region=ShiftRegion.emea, specializations=["data"]
    )
    senior = make_user(
        Role.senior_agent,
        name="Sarah Johnson",
        shift_region=ShiftRegion.apac,
        specializations=["integration", "technical", "data"],
    )
    make_user(Role.manager, name="John Smith", shift_region=ShiftRegion.amer)
    admin = make_user(Role.admin, name="Alexandra Morgan-Whitfield")
    pending = make_user(
        Role.customer,
        name="Priya Venkataraman-Subramanian",
        email="priya.venkataraman-subramanian@unknown-sustainability-consultancy.example.test",
        is_approved=False,
    )

    tickets = []
    for i in range(14):
        requester = customer if i % 3 else colleague
        subject = LONG_SUBJECTS[i % len(LONG_SUBJECTS)] + (f" (site {i})" if i >= len(LONG_SUBJECTS) else "")
        tickets.append(
            make_ticket(
                requester,
                subject=subject,
                description=f"Since Monday every upload of {LONG_FILE} stops at row 3.\n\nSteps: open Data → Import.",
                priority=["low", "medium", "high", "critical"][i % 4],
                actor=agent,
            )
        )
    ticket = tickets[1]
    ticket_service.reply_to_ticket(agent, ticket, f"Could you send us {LONG_FILE}? We will check the importer.")
    ticket_service.reply_to_ticket(agent, ticket, "Importer logs show a date format issue.", internal=True)
    ticket_service.reply_to_ticket(customer, ticket, "Attached; the dates are in DD/MM/YYYY.")
    for other, status in zip(tickets[2:7], ["open", "pending", "on_hold", "solved", "solved"], strict=True):
        ticket_service.update_ticket(agent, other, expected_version=other.version, status=status, assignee=agent.id)
    solved = tickets[5]
    db.session.commit()
    # Satisfaction surveys: the customer's solved ticket keeps its open survey; the colleague's gets a low rating
    # with a long comment, so the follow-up list has a row.
    surveys = {s.ticket_id: s for s in db.session.scalars(db.select(CsatSurvey))}
    csat.rate(surveys[tickets[6].id], 1, f"Nobody opened {LONG_FILE} for three days. " * 3, utcnow(), "email")
    csat_token = csat.token_for(surveys[solved.id])
    db.session.commit()

    article = kb_articles.create_article(
        admin,
        kb_articles.ArticleInput(
            title="Importing emissions data from a CSV file exported from your ERP or metering system",
            category="data-entry",
            summary=f"How to import a CSV file such as {LONG_FILE} of emissions data.",
            tags="import, csv, bulk upload, validation",
            body_markdown="## Before you start\n\nSave the sheet as **CSV (UTF-8)**.\n\n"
            "## Import\n\n1. Open *Data → Import*.\n2. Choose the file.\n\n"
            "```\ncurl -H 'Authorization: Bearer $TOKEN' https://platform.example.test/api/v2/imports"
            "?file=scope2_electricity_consumption_2026_q3.csv&validate=strict&notify=owner\n```\n\n"
            "| Column | Meaning | Example |\n| --- | --- | --- |\n"
            f"| activity | The emission source | grid_electricity_market_based_{LONG_FILE} |\n",
        ),
    )
    kb_articles.publish_article(admin, article)
    kb_articles.update_article(
        admin,
        article,
        kb_articles.ArticleInput(
            title=article.title,
            category="data-entry",
            summary=article.summary,
            tags=article.tags,
            body_markdown=article.body_markdown + "\n## After the import\n\nCheck the validation report.\n",
        ),
        expected_version=article.version,
        note="Added the validation step",
    )
    kb_articles.create_article(
        agent,
        kb_articles.ArticleInput(
            title="Import troubleshooting (draft)", category="data-entry", body_markdown="Work in progress."
        ),
    )
    faqs.save_faq(
        admin,
        None,
        category="data-entry",
        question="Which date format does the import take when the file comes from a spreadsheet in another locale?",
        answer_markdown="Use ISO dates such as `2024-03-31`.",
    )
    feedback.record_feedback(article, helpful=False, reason=f"Does not say what to do when {LONG_FILE} is rejected")
    db.session.commit()
    log = analytics.log_search(SearchSource.kb, "bulk import validation error unit kWh not recognised", 0, customer)
    analytics.log_search(SearchSource.suggest, "import csv", 3, customer)
    analytics.record_deflection(customer, article, "How do I import a CSV file?")
    db.session.commit()

    default = sla_admin.save_default_policy(admin, _policy_form())
    calendar = sla_admin.save_calendar(
        admin,
        None,
        {
            "name": "Live chat and phone line (London office)",
            "timezone": "Europe/London",
            "mon": "09:00-12:00, 13:00-17:30",
            "tue": "09:00-12:00, 13:00-17:30",
            "holidays": "2026-12-25 Christmas Day\n2026-12-26 Boxing Day",
        },
    )
    policy = sla_admin.create_organization_policy(admin, org.id, _policy_form(name=f"{LONG_ORG} enterprise SLA"))
    db.session.commit()

    now = utcnow()
    db.session.add_all(
        [
            OutboxMessage(
                kind="notify.ticket_reply",
                queue="notify",
                payload={"ticket_id": ticket.id},
                status=OutboxStatus.failed,
                attempts=5,
                last_error="SMTPRecipientsRefused: {'maximiliane.featherstonehaugh-wolfeschlegelsteinhausen@"
                "consolidated-northern-renewables.example.test': (550, b'5.1.1 mailbox unavailable')}",
                processed_at=now,
            ),
            OutboxMessage(
                kind="notify.sla_alert",
                queue="notify",
                payload={"ticket_id": ticket.id},
                status=OutboxStatus.pending,
                attempts=2,
                last_error="TimeoutError: connection to the mail relay timed out after 30 seconds",
                available_at=now + timedelta(minutes=5),
            ),
        ]
    )
    db.session.flush()
    sending = db.session.scalar(db.select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.failed))
    db.session.add(
        NotificationDelivery(
            key=f"{sending.id}:email:{customer.email}", outbox_id=sending.id, channel="email", recipient=customer.email
        )
    )
    roster_service.seed_roster(now)
    day = now.strftime("%Y-%m-%d")
    roster_service.add_time_off(agent.id, f"{day}T00:00", f"{day}T23:59", "Dentist, then the sustainability summit")
    roster_service.add_on_call(senior.id, f"{day}T00:00", f"{day}T23:59")
    accounts.create_api_token(customer, "Support button in the ESG reporting platform")
    accounts.create_api_token(admin, "Nightly export script")
    # Emailed account links (their pages: confirm the address, set a new password, confirm a new address).
    joining = make_user(Role.customer, email="new.colleague@cnr-holdings-international.example.test")
    link_tokens = {
        "auth.verify_email": account_flows.token_for(account_flows.issue_link(joining, LinkPurpose.verify_email)),
        "auth.reset_password": account_flows.token_for(account_flows.issue_link(colleague, LinkPurpose.reset_password)),
        "auth.confirm_email_change": account_flows.token_for(
            account_flows.issue_link(colleague, LinkPurpose.change_email, new_email="marco.rossi@example.test")
        ),
    }
    # Email in: a mail that made a reply on the ticket, and one in quarantine.
    inbound = pipeline.ingest(
        (
            f"From: {customer.name} <{customer.email}>\r\nTo: support@support.esg.test\r\n"
            f"Subject: Re: [{ticket.reference}] {ticket.subject}\r\nMessage-ID: <responsive-1@example.test>\r\n"
            "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nThe importer still rejects row 3.\r\n"
        ).encode(),
        source=InboundSource.upload,
    )
    pipeline.ingest(
        b"From: nobody\r\nTo: support@support.esg.test\r\nSubject: broken\r\n\r\nNo sender.\r\n",
        source=InboundSource.upload,
    )
    # Incidents and the status page: the demo components, an open outage with an update, a subscriber.
    status_components.seed_demo(now)
    incident = incident_core.declare(
        admin,
        incident_core.Declaration(
            title=f"Imports of {LONG_FILE} fail for every organization in the EMEA region",
            summary="The import workers stopped after the 10:00 deployment.",
            components={c.id: "major_outage" for c in incident_core.active_components()[:2]},
            ticket_refs=[ticket.reference],
        ),
    )
    incident_core.post_update(admin, incident, "We have found the cause and are rolling back the deployment.")
    subscriber = StatusSubscriber(email="watcher@example.test", confirm_sent_at=now.replace(microsecond=0))
    db.session.add(subscriber)
    db.session.flush()
    link_tokens["status.confirm"] = status_subscriptions.confirm_token(subscriber)
    subscriber.confirm_token_hash = status_subscriptions._digest(link_tokens["status.confirm"])
    link_tokens["status.unsubscribe"] = status_subscriptions.manage_token(subscriber)
    link_tokens["email.unsubscribe"] = mail_outgoing.unsubscribe_token(customer, "email_ticket_updates")
    # Outgoing webhooks: a subscription with a long URL, one delivery and a failed attempt with a long answer.
    webhook = WebhookSubscription(
        url=f"https://hooks.example.com/esg-support/{LONG_FILE}?token=abc",
        secret="whsec_seed",
        events=["ticket.created"],
    )
    db.session.add(webhook)
    db.session.flush()
    webhook_delivery = WebhookDelivery(
        uuid="6f1c2a8e-0000-4000-8000-000000000001",
        subscription_id=webhook.id,
        event_type="ticket.created",
        payload={"type": "ticket.created", "data": {"ticket": {"reference": ticket.reference, "subject": LONG_FILE}}},
        state="retrying",
        attempts=1,
        last_status=500,
        last_error="HTTP 500",
        next_attempt_at=now,
    )
    db.session.add(webhook_delivery)
    db.session.flush()
    db.session.add(
        WebhookAttempt(
            delivery_id=webhook_delivery.id, number=1, status_code=500, outcome="retry", response_excerpt=LONG_FILE * 4
        )
    )
    # The emergency hotline: a call an agent took by hand pages on call; its acknowledgement link's page.
    hotline_call, _new = hotline_service.take_call(
        hotline_service.manual_call("+1 555 010 2030", customer.name, "", f"Imports of {LONG_FILE} fail"),
        taken_by=agent,
    )
    hotline_page = paging_pages.page_of_ticket(hotline_call.ticket)
    link_tokens["oncall.ack_link"] = paging_pages.ack_token(hotline_page.attempts[0])
    db.session.commit()
    run_index_jobs()

    revision = db.session.scalar(
        db.select(ArticleRevision).where(ArticleRevision.article_id == article.id).order_by(ArticleRevision.id.desc())
    )
    kb_category = db.session.scalar(db.select(KbCategory).where(KbCategory.slug == "data-entry"))
    faq = db.session.scalar(db.select(Faq))
    category = db.session.scalar(db.select(Category).order_by(Category.id))
    assert db.session.get(SlaPolicy, default.id) is not None and log
    return Seed(
        users={"customer": customer, "agent": agent, "admin": admin},
        ids={
            "reference": ticket.reference,
            "solved_reference": solved.reference,
            "article_id": article.id,
            "revision_id": revision.id,
            "article_slug": article.slug,
            "kb_category_slug": kb_category.slug,
            "faq_id": faq.id,
            "category_id": category.id,
            "organization_id": org.id,
            "user_id": pending.id,
            "calendar_id": calendar.id,
            "policy_id": policy.id,
            "token": csat_token,
            "inbound_id": inbound.id,
            "incident_id": incident.id,
            "subscription_id": webhook.id,
            "delivery_id": webhook_delivery.id,
            "page_id": hotline_page.id,
            **{f"token:{endpoint}": token for endpoint, token in link_tokens.items()},
        },
    )


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


ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _argument_value(rule, name: str, ids: dict) -> object:
    if name == "slug":
        return ids["article_slug"] if rule.endpoint == "kb.article" else ids["kb_category_slug"]
    if name == "token" and f"token:{rule.endpoint}" in ids:
        return ids[f"token:{rule.endpoint}"]
    if name == "reference" and rule.endpoint == "admin.kb_from_ticket":
        return ids["solved_reference"]
    if name not in ids:
        pytest.fail(
            f"{rule.rule} ({rule.endpoint}) takes <{name}>: seed a value for it in tests/browser/test_responsive"
        )
    return ids[name]


def portal_pages(app, ids: dict) -> dict[str, list[str]]:
    """Every GET page of the URL map with its arguments filled, grouped by the role that visits it."""
    pages: dict[str, list[str]] = {"public": [], "customer": [], "agent": [], "admin": []}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES:
            continue
        if rule.endpoint.split(".")[0] in NOT_PAGE_BLUEPRINTS:
            continue
        path = ARGUMENT.sub(lambda m, rule=rule: str(_argument_value(rule, m[1], ids)), rule.rule)
        role = next((role for prefix, role in ROLE_BY_PREFIX if path.startswith(prefix)), "public")
        pages[role].append(path + QUERIES.get(rule.rule, ""))
    for role, extra in ALSO.items():
        pages[role] += extra
    return pages


def test_every_get_rule_is_a_visited_page_or_named_as_not_a_page(app):
    ids = {
        "reference": "ESG-000001",
        "solved_reference": "ESG-000002",
        "article_slug": "a",
        "kb_category_slug": "c",
        **dict.fromkeys(
            ["article_id", "revision_id", "faq_id", "category_id", "organization_id", "user_id", "calendar_id"], 1
        ),
        "policy_id": 1,
        "token": "t",
        "inbound_id": 1,
        "incident_id": 1,
        "subscription_id": 1,
        "delivery_id": 1,
        "page_id": 1,
    }
    pages = portal_pages(app, ids)
    visited = {path.split("?")[0] for paths in pages.values() for path in paths}
    for endpoint in NOT_PAGES:
        assert endpoint in app.view_functions, f"NOT_PAGES names {endpoint}, which is no longer an endpoint"
    for must in ("/portal/tickets/new", "/agent/queue", "/ops/roster", "/ops/roster/manage", "/admin/kb/", "/kb/"):
        assert must in visited
    assert sum(len(paths) for paths in pages.values()) >= 45


# One call per page: the widths that matter, what sticks out past the right edge (outside any scrolling box), which
# boxes scroll sideways and whether a keyboard can reach them, and checkboxes whose label text is not on their line.
LAYOUT = """() => {
  const de = document.documentElement, width = de.clientWidth;
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const scrolls = el => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
  const insideScroller = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement)
      if (scrolls(p)) return true; return false; };
  const sticksOut = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if ((r.width || r.height) && r.right > width + 0.5 && !insideScroller(el))
      sticksOut.push(describe(el) + ' (right edge ' + Math.round(r.right) + ')');
  }
  const unreachableScrollers = [];
  for (const el of document.body.querySelectorAll('*')) {
    const ox = getComputedStyle(el).overflowX;
    if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
      const named = el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby');
      if (el.getAttribute('tabindex') !== '0' || el.getAttribute('role') !== 'region' || !named)
        unreachableScrollers.push(describe(el));
    }
  }
  const checkboxesApart = [];
  for (const box of document.querySelectorAll('input[type=checkbox], input[type=radio]')) {
    const b = box.getBoundingClientRect();
    if (!b.width) continue;
    for (const label of box.labels) {
      const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT,
          {acceptNode: n => n.textContent.trim() ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT});
      const text = walker.nextNode();
      if (!text) continue;
      const range = document.createRange();
      range.selectNodeContents(text);
      const t = [...range.getClientRects()].find(r => r.width > 1);
      if (t && !(t.top < b.bottom && t.bottom > b.top))
        checkboxesApart.push((box.id || box.name) + ': "' + text.textContent.trim() + '"');
    }
  }
  return {scrollWidth: de.scrollWidth, clientWidth: width, innerWidth: window.innerWidth,
          sticksOut: sticksOut.slice(0, 8), unreachableScrollers, checkboxesApart,
          csp: window.__cspViolations || []};
}"""

RECORD_CSP = """document.addEventListener('securitypolicyviolation', e => {
  (window.__cspViolations = window.__cspViolations || []).push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});"""


def _open(page: Page) -> Page:
    page.context.add_init_script(RECORD_CSP)
    page.console_csp = []
    page.on(
        "console",
        lambda msg: page.console_csp.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return page


def _problems(page: Page, path: str, width: int) -> list[str]:
    page.wait_for_load_state("load")
    found = page.evaluate(LAYOUT)
    where = f"{path} at {width}px"
    problems = []
    if not (found["scrollWidth"] <= found["innerWidth"] and found["scrollWidth"] <= found["clientWidth"]):
        problems.append(
            f"{where}: scrolls sideways (scrollWidth {found['scrollWidth']} > {found['clientWidth']}); "
            f"sticking out: {', '.join(found['sticksOut']) or '?'}"
        )
    problems += [
        f"{where}: {s} scrolls sideways but is not a named region with tabindex=0"
        for s in found["unreachableScrollers"]
    ]
    problems += [f"{where}: checkbox label not beside its box: {c}" for c in found["checkboxesApart"]]
    problems += [f"{where}: CSP violation {v}" for v in found["csp"]]
    problems += [f"{where}: console: {m}" for m in page.console_csp]
    page.console_csp.clear()
    return problems


def _visit_all(page: Page, paths: list[str]) -> list[str]:
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        for path in paths:
            response = page.goto(path)
            assert response is not None and response.ok, f"{path}: HTTP {response.status if response else '?'}"
            assert "html" in response.headers.get("content-type", ""), f"{path} is not a page"
            problems += _problems(page, path, width)
    return problems


def _assert_none(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} layout problem(s):\n" + "\n".join(problems)


def test_public_pages_fit_phones_and_laptops(app, seed, new_context):
    page = _open(new_context().new_page())
    problems = _visit_all(page, portal_pages(app, seed.ids)["public"])
    _assert_none(problems)
    assert page.js_errors == []


def test_customer_pages_fit_phones_and_laptops(app, seed, sign_in):
    page = _open(sign_in(seed.users["customer"]))
    problems = _visit_all(page, portal_pages(app, seed.ids)["customer"])
    problems += _visit_all(page, [f"/portal/tickets/{seed.ids['solved_reference']}"])  # with its survey form
    # The new-ticket form with its suggestions shown, on a phone.
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    page.goto("/portal/tickets/new")
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator("#subject").press_sequentially("How do I import a CSV file?", delay=10)
    expect(page.locator("#kb-suggestions .suggestion").first).to_be_visible()
    problems += _problems(page, "/portal/tickets/new with suggestions", WIDTHS[0])
    _assert_none(problems)
    assert page.js_errors == []


def test_agent_pages_fit_phones_and_laptops(app, seed, sign_in):
    page = _open(sign_in(seed.users["agent"]))
    problems = _visit_all(page, portal_pages(app, seed.ids)["agent"])
    _assert_none(problems)
    assert page.js_errors == []


def test_admin_pages_fit_phones_and_laptops(app, seed, sign_in):
    page = _open(sign_in(seed.users["admin"]))
    problems = _visit_all(page, portal_pages(app, seed.ids)["admin"])
    _assert_none(problems)
    assert page.js_errors == []


def test_queue_keeps_references_on_one_line_on_a_laptop(seed, sign_in):
    page = sign_in(seed.users["agent"])
    page.set_viewport_size({"width": 1366, "height": HEIGHT})
    page.goto("/agent/queue")
    references = page.locator("#queue-results tbody tr td > a[href*='/agent/tickets/']")
    expect(references.first).to_be_visible()
    lines = page.evaluate(
        """() => [...document.querySelectorAll('#queue-results tbody tr td > a[href*="/agent/tickets/"]')]
            .map(a => [a.textContent, a.getClientRects().length])"""
    )
    assert len(lines) >= 8 and all(n == 1 for _, n in lines), lines
    # On a laptop the whole queue fits: its region does not need to scroll.
    region = page.locator(".table-scroll:has(#queue-results)")
    assert region.evaluate("el => el.scrollWidth <= el.clientWidth"), "the queue table is wider than a laptop screen"
    # On a phone it scrolls inside its region, which the keyboard can reach.
    page.set_viewport_size({"width": 390, "height": HEIGHT})
    assert region.evaluate("el => el.scrollWidth > el.clientWidth")
    expect(region).to_have_attribute("tabindex", "0")
    expect(region).to_have_attribute("role", "region")


def test_phone_layouts_have_no_serious_accessibility_violations(seed, sign_in, vendored_axe):  # noqa: F811
    """The stacked tables, the scrolling table regions and the phone lines, checked by axe as a phone shows them."""
    found = []
    for role, paths in {
        "customer": ["/portal/tickets", "/portal/tickets/new"],
        "agent": ["/agent/queue", "/ops/roster"],
        "admin": [
            "/admin/users",
            "/admin/outbox",
            "/admin/kb/reports",
            "/admin/sla",
            "/ops/roster/manage",
            "/reports/csat/follow-up",
        ],
    }.items():
        page = _with_axe(sign_in(seed.users[role]))
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
        for path in paths:
            page.goto(path)
            found += _axe_violations(page)
    assert not found, "\n".join(found)
