"""Live chat between two browsers: a customer on /chat and an agent in the console. Messages travel both ways
without a reload (the stream), typing shows, the visitor ends the chat and its ticket holds the transcript; the
last agent going away (the Away button, then closing the console tab) turns the visitor's side to "offline, leave a
message" within the presence window."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Channel, EventKind, Role, Ticket, TicketEvent


def test_customer_and_agent_chat_live(app, make_org, make_user, sign_in, monkeypatch, vendored_htmx_sse):
    for key, value in {
        "CHAT_PRESENCE_TIMEOUT_SECONDS": 4,
        "CHAT_HEARTBEAT_SECONDS": 1,
        "CHAT_STREAM_POLL_SECONDS": 0.2,
        "CHAT_STREAM_SECONDS": 4,  # several reconnects during the test: nothing may be lost or doubled
    }.items():
        monkeypatch.setitem(app.config, key, value)
    org = make_org(name="Acme Carbon")
    ada = make_user(Role.customer, organization=org, name="Ada Visitor")
    alex = make_user(Role.agent, name="Alex Agent")

    desk = sign_in(alex)
    desk.goto("/agent/chat")
    desk.get_by_role("button", name="Online").click()
    expect(desk.locator("#chat-presence")).to_contain_text("You are online")

    visitor = sign_in(ada)
    visitor.goto("/chat")
    expect(visitor.locator("#chat-state")).to_contain_text("An agent is available now.")
    visitor.get_by_label("How can we help?").fill("My Scope 2 import stops at row 3")
    visitor.get_by_role("button", name="Start chat").click()
    expect(visitor.locator("#chat-state")).to_contain_text("Waiting for an agent")

    expect(desk.locator("#chat-waiting")).to_contain_text("My Scope 2 import stops at row 3")
    desk.get_by_role("button", name="Accept the chat with Ada Visitor").click()
    pane = desk.locator(".chat-pane")
    expect(pane).to_contain_text("My Scope 2 import stops at row 3")
    expect(desk.locator("#chat-waiting")).to_contain_text("Nobody is waiting.")
    expect(visitor.locator("#chat-state")).to_contain_text("You are chatting with Alex Agent.")
    expect(visitor.locator("#chat-log")).to_contain_text("Alex Agent joined the chat.")

    desk.get_by_label("Reply to Ada Visitor").fill("Which unit does the file use?")
    desk.get_by_label("Reply to Ada Visitor").press("Enter")
    expect(visitor.locator("#chat-log")).to_contain_text("Which unit does the file use?")
    expect(desk.get_by_label("Reply to Ada Visitor")).to_have_value("")

    visitor.get_by_label("Your message").press_sequentially("kWh")
    expect(pane.locator(".chat-typing")).to_contain_text("Ada Visitor is typing")
    visitor.get_by_role("button", name="Send").click()
    expect(pane.locator(".chat-log")).to_contain_text("kWh")
    expect(pane.locator(".chat-typing")).to_have_text("")

    desk.get_by_label("Reply to Ada Visitor").fill("Fixed: the unit column was empty.")
    desk.get_by_role("button", name="Send").click()
    expect(visitor.locator("#chat-log")).to_contain_text("Fixed: the unit column was empty.")
    expect(visitor.locator("#chat-log .chat-msg", has_text="Fixed: the unit column")).to_have_count(1)

    visitor.get_by_role("button", name="End chat").click()
    expect(visitor.locator("#chat-state")).to_contain_text("This chat has ended.")
    expect(pane).to_contain_text("The visitor ended the chat.")
    expect(pane.locator("form.chat-compose")).to_have_count(0)
    expect(visitor.locator("#chat-state")).to_contain_text("An agent is available now.")

    # the agent steps away: the visitor's side says so at once and offers the ticket form
    desk.get_by_role("button", name="Away").click()
    expect(visitor.locator("#chat-state")).to_contain_text("Live chat is offline")
    expect(visitor.get_by_role("link", name="Leave a message")).to_have_attribute("href", "/portal/tickets/new")

    # back online, then the console tab closes: the beacon (or, at worst, the missing heartbeats) ends it
    desk.get_by_role("button", name="Online").click()
    expect(visitor.locator("#chat-state")).to_contain_text("An agent is available now.")
    desk.close()
    expect(visitor.locator("#chat-state")).to_contain_text("Live chat is offline")

    db.session.expire_all()
    ticket = db.session.scalar(select(Ticket).where(Ticket.channel == Channel.chat))
    assert ticket.requester_id == ada.id and ticket.description == "My Scope 2 import stops at row 3"
    replies = db.session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.public_reply)
        .order_by(TicketEvent.id)
    ).all()
    assert [(e.author_id, e.body) for e in replies] == [
        (alex.id, "Which unit does the file use?"),
        (ada.id, "kWh"),
        (alex.id, "Fixed: the unit column was empty."),
    ]
    expect(visitor.locator("#chat-state")).to_contain_text(ticket.reference)
    assert visitor.js_errors == []


def test_without_eventsource_the_visitor_side_polls(app, make_org, make_user, sign_in, monkeypatch, vendored_htmx_sse):
    monkeypatch.setitem(app.config, "CHAT_POLL_SECONDS", 1)
    ada = make_user(Role.customer, organization=make_org(), name="Ada Visitor")
    alex = make_user(Role.agent, name="Alex Agent")
    desk = sign_in(alex)
    desk.goto("/agent/chat")
    desk.get_by_role("button", name="Online").click()
    expect(desk.locator("#chat-presence")).to_contain_text("You are online")

    visitor = sign_in(ada)
    visitor.context.add_init_script("delete window.EventSource;")  # an old browser, or a proxy that breaks streams
    visitor.goto("/chat")
    assert visitor.evaluate("typeof window.EventSource") == "undefined"
    visitor.get_by_label("How can we help?").fill("Polling works?")
    visitor.get_by_role("button", name="Start chat").click()
    expect(desk.locator("#chat-waiting")).to_contain_text("Polling works?")
    desk.get_by_role("button", name="Accept the chat with Ada Visitor").click()
    expect(visitor.locator("#chat-state")).to_contain_text("You are chatting with Alex Agent.")
    desk.get_by_label("Reply to Ada Visitor").fill("Yes, every second.")
    desk.get_by_role("button", name="Send").click()
    expect(visitor.locator("#chat-log")).to_contain_text("Yes, every second.")
    expect(visitor.locator("#chat-log .chat-msg", has_text="Yes, every second.")).to_have_count(1)
    visitor.get_by_label("Your message").fill("Great")
    visitor.get_by_role("button", name="Send").click()
    expect(desk.locator(".chat-pane .chat-log")).to_contain_text("Great")
    assert visitor.js_errors == [] and desk.js_errors == []
