"""A manager declares an outage from a critical ticket, links two more from the queue and posts one update: both
linked tickets show it as a public reply, the affected organization's customer gets the email and sees the banner
(and the status page when it exists), an unaffected organization's customer sees nothing."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Incident, IncidentTicket, Role
from tests.incidents.conftest import run_jobs

UPDATE = "We have found the faulty database node and are failing over."


def test_manager_declares_links_and_updates_customers_see_it(make_org, make_user, make_ticket, sign_in, mailbox):
    acme, other = make_org(name="Acme Carbon"), make_org(name="Elsewhere Inc")
    carla = make_user(Role.customer, organization=acme, name="Carla Customer")
    dan = make_user(Role.customer, organization=acme, name="Dan Contact")
    eve = make_user(Role.customer, organization=acme, name="Eve Contact")  # no ticket: the incident email
    olga = make_user(Role.customer, organization=other, name="Olga Other")
    agent = make_user(Role.agent, name="Alex Agent")
    manager = make_user(Role.manager, name="Mia Manager")
    critical = make_ticket(carla, subject="Portal returns 500 everywhere", priority="critical", actor=agent)
    second = make_ticket(carla, subject="Cannot open reports")
    third = make_ticket(dan, subject="Dashboard blank")

    desk = sign_in(manager)
    desk.goto(f"/agent/tickets/{critical.reference}")
    desk.get_by_role("link", name="Declare an incident from this ticket").click()
    desk.wait_for_url(re.compile(r"/ops/incidents/new"))
    expect(desk.locator("#title")).to_have_value("Portal returns 500 everywhere")
    desk.get_by_label("Only these (and those of the linked tickets):").check()
    desk.get_by_role("button", name="Declare").click()
    desk.wait_for_url(re.compile(r"/ops/incidents/\d+$"))
    incident = db.session.scalar(select(Incident))
    expect(desk.locator("h1")).to_contain_text(incident.reference)
    expect(desk.locator("#incident")).to_contain_text("Acknowledge the incident immediately")

    desk.goto("/agent/queue")
    desk.get_by_label(f"Select {second.reference}").check()
    desk.get_by_label(f"Select {third.reference}").check()
    desk.get_by_label("Link the ticked tickets to incident").select_option(str(incident.id))
    desk.get_by_role("button", name="Link to incident").click()
    desk.wait_for_url(re.compile(rf"/ops/incidents/{incident.id}$"))
    expect(desk.locator("#tickets-h")).to_contain_text("(3)")

    desk.locator("#update-body").fill(UPDATE)
    desk.get_by_role("button", name="Post update").click()
    expect(desk.locator("#incident-status")).to_contain_text("Update posted")
    expect(desk.locator("#incident")).to_contain_text(UPDATE)
    db.session.expire_all()
    assert set(db.session.scalars(select(IncidentTicket.ticket_id))) == {critical.id, second.id, third.id}

    run_jobs()

    desk.goto(f"/agent/tickets/{second.reference}")
    expect(desk.locator("#timeline li.public_reply")).to_contain_text(UPDATE)
    desk.goto(f"/agent/tickets/{third.reference}")
    expect(desk.locator("#timeline li.public_reply")).to_contain_text(UPDATE)

    # Dan is the requester of a linked ticket: he hears it as that ticket's reply; Olga hears nothing
    assert any(UPDATE in m.get_body(("plain",)).get_content() for m in mailbox.to(dan.email))
    assert mailbox.to(olga.email) == []
    notice = [m for m in mailbox.to(eve.email) if incident.reference in m["Subject"]]
    assert len(notice) == 1 and UPDATE in notice[0].get_body(("plain",)).get_content()

    portal = sign_in(carla)
    portal.goto(f"/portal/tickets/{second.reference}")
    expect(portal.locator("#timeline")).to_contain_text(UPDATE)
    banner = portal.get_by_role("region", name="Open incidents")
    expect(banner).to_contain_text("Portal returns 500 everywhere")
    expect(banner).to_contain_text(UPDATE)
    status = portal.goto("/status")
    if status is not None and status.status == 200:  # the public status page (when it is installed)
        expect(portal.locator("main")).to_contain_text("Portal returns 500 everywhere")
    eve_page = sign_in(eve)
    expect(eve_page.get_by_role("region", name="Open incidents")).to_contain_text("Portal returns 500 everywhere")

    outsider = sign_in(olga)
    outsider.goto("/portal")
    expect(outsider.get_by_role("region", name="Open incidents")).to_have_count(0)
    assert desk.js_errors == [] and portal.js_errors == [] and outsider.js_errors == [] and eve_page.js_errors == []
