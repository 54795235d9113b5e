"""Two edits of the same ticket version at the same moment — through the API and the agent's htmx form, on a real
threaded server — never overwrite each other silently and never answer 5xx: one wins (200), the other gets 409 with
the fresh state; the final state is the accepted change and every accepted change is in the audit trail."""

from __future__ import annotations

import http.cookiejar
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import Role, TicketEvent
from portal.services.accounts import create_api_token
from tests.conftest import PASSWORD, csrf_from

PAIRS = 40
PRIORITIES = ("low", "high")  # both differ from the tickets' medium: every accepted edit is a change


@pytest.fixture
def server(app) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


def _send(request: urllib.request.Request, opener=None) -> tuple[int, bytes]:
    try:
        with (opener.open if opener else urllib.request.urlopen)(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _signed_in_browser(base: str, email: str):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login", timeout=30) as page:
        token = csrf_from(page.read().decode())
    body = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": token}).encode()
    with opener.open(urllib.request.Request(f"{base}/login", data=body), timeout=30):
        pass
    with opener.open(f"{base}/profile", timeout=30) as page:  # signing in starts a new session: a new CSRF token
        token = csrf_from(page.read().decode())
    return opener, token


def test_simultaneous_edits_of_one_version_are_200_or_409_never_5xx(server, make_org, make_user, make_ticket):
    agent = make_user(Role.senior_agent)
    customer = make_user(Role.customer, organization=make_org())
    _token, bearer = create_api_token(agent, "race")
    db.session.commit()
    opener, csrf = _signed_in_browser(server, agent.email)
    tickets = [make_ticket(customer) for _ in range(PAIRS)]
    outcomes: list[tuple[int, int]] = []
    for n, ticket in enumerate(tickets):
        api_priority, form_priority = PRIORITIES[n % 2], PRIORITIES[(n + 1) % 2]
        api = urllib.request.Request(
            f"{server}/api/v1/tickets/{ticket.reference}",
            data=json.dumps({"version": ticket.version, "priority": api_priority}).encode(),
            headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
            method="PATCH",
        )
        form = urllib.request.Request(
            f"{server}/agent/tickets/{ticket.reference}/fields",
            data=urllib.parse.urlencode(
                {"priority": form_priority, "version": ticket.version, "csrf_token": csrf}
            ).encode(),
            headers={"HX-Request": "true", "X-CSRFToken": csrf},
        )
        start = threading.Barrier(2)
        codes: dict[str, int] = {}
        bodies: dict[str, bytes] = {}

        def fire(name, request, use_opener, barrier=start, codes=codes, bodies=bodies):
            barrier.wait()
            codes[name], bodies[name] = _send(request, opener if use_opener else None)

        threads = [
            threading.Thread(target=fire, args=("api", api, False)),
            threading.Thread(target=fire, args=("form", form, True)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        outcomes.append((codes["api"], codes["form"]))
        if codes["api"] == 409:  # the fresh state comes with the refusal
            refused = json.loads(bodies["api"])
            assert refused["error"]["code"] == "version_conflict" and refused["ticket"]["version"] > ticket.version

    assert all(code in (200, 409) for pair in outcomes for code in pair), outcomes
    assert all(sorted(pair) == [200, 409] for pair in outcomes), outcomes  # exactly one of each pair wins
    db.session.expire_all()
    for ticket, (api_code, form_code), n in zip(tickets, outcomes, range(PAIRS), strict=True):
        db.session.refresh(ticket)
        changes = db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.field == "priority")
        ).all()
        accepted = [PRIORITIES[n % 2]] * (api_code == 200) + [PRIORITIES[(n + 1) % 2]] * (form_code == 200)
        assert len(changes) == len(accepted)  # every accepted change is in the audit trail, nothing else
        assert ticket.priority.value == changes[-1].new_value  # the final state is the last accepted change
