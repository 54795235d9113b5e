"""Input hardening by class: the strict parameter readers (portal/params.py), bounded ids in paths, text checked at
the edge (control characters, invalid Unicode, JSON depth and syntax — portal/hardening.py), single-line mail
headers, error pages and JSON errors with the request id, same-site ``next``, and the security headers."""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from flask import abort
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from portal import params
from portal.extensions import db
from portal.hardening import MAX_JSON_DEPTH, json_depth
from portal.models import Ticket
from portal.services import tickets as ticket_service
from portal.services.accounts import create_api_token
from portal.services.errors import ValidationFailed
from tests.conftest import csrf_from, login
from tests.ops.conftest import _Mailbox, free_port
from workers import senders
from workers.inline import run_pending

# --------------------------------------------------------------------------- the strict readers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("-3", -3),
        ("١٢", None),  # Arabic-Indic digits: isdigit() is true, int() accepts them
        ("²", None),  # superscript two: isdigit() is true, int() refuses it
        ("𝟗", None),
        ("1e9", None),
        ("1.5", None),
        ("+1", None),
        ("", None),
        ("0x10", None),
        ("1_000", None),
        ("9" * 20, None),  # more digits than any database integer
        (True, None),
        (3.0, None),
        (None, None),
        (5, 5),
    ],
)
def test_parse_int_takes_ascii_digits_only(text, expected):
    assert params.parse_int(text) == expected


def test_parse_int_and_parse_id_check_the_range():
    assert params.parse_int("5", min=1, max=4) is None
    assert params.parse_int("0", min=1) is None
    assert params.parse_id(str(2**31 - 1)) == 2**31 - 1
    assert params.parse_id(str(2**31)) is None and params.parse_id("0") is None and params.parse_id(-1) is None


def test_readers_on_the_query_string(app):
    with app.test_request_context("/?page=3&n=1&n=2&sort=oldest&bad=١٢&day=2026-02-29&d=2028-02-29&big=" + "9" * 30):
        assert params.page_param() == 3
        assert params.int_param("missing", 7) == 7
        assert params.int_param("n", 9, lenient=True) == 9  # sent twice: the default
        with pytest.raises(params.InvalidParameter) as twice:
            params.int_param("n")
        assert twice.value.status_code == 400 and twice.value.code == "invalid_parameter" and "n" in twice.value.fields
        with pytest.raises(params.InvalidParameter):
            params.int_param("bad")
        with pytest.raises(params.InvalidParameter):
            params.int_param("big")
        assert params.page_param("big") == 1
        assert params.choice_param("sort", ("newest", "oldest"), "newest") == "oldest"
        assert params.choice_param("page", ("newest", "oldest"), "newest") == "newest"
        with pytest.raises(params.InvalidParameter):
            params.choice_param("page", ("newest", "oldest"), lenient=False)
        assert params.date_param("day", lenient=True) is None  # 2026 is not a leap year
        assert params.date_param("d") == date(2028, 2, 29)
        with pytest.raises(params.InvalidParameter):
            params.date_param("day")
    with app.test_request_context("/?page=" + str(params.MAX_PAGE + 1)):
        assert params.page_param() == 1
        with pytest.raises(params.InvalidParameter):
            params.page_param(lenient=False)
    assert params.choice_param("x", ("a",), args=MultiDict([("x", "a"), ("x", "a")])) is None


def test_json_int_refuses_bools_floats_strings_and_out_of_range():
    assert params.json_int(4, "version") == 4
    for value in (True, 1.0, "1", None, 0, 2**31, [1]):
        with pytest.raises(ValidationFailed) as refused:
            params.json_int(value, "version")
        assert refused.value.status_code == 422 and "version" in refused.value.fields


def test_single_line_and_bad_text():
    assert params.single_line("Import\r\nfails\u2028again\x00 now\x85!") == "Import fails again now !"
    assert params.bad_text("fine\ttext\r\nwith lines") is None
    assert params.bad_text("nul\x00") and params.bad_text("bell\x07") and params.bad_text("\ud800")


# --------------------------------------------------------------------------- ids in paths


@pytest.fixture
def admin_client(client, make_user):
    admin = make_user("admin")
    assert login(client, admin).status_code == 302
    return client, admin


@pytest.mark.parametrize("value", [str(2**31), str(2**63), "9" * 30, "١٢", "0012x"])
def test_out_of_range_or_foreign_digit_ids_in_paths_are_404(admin_client, value):
    client, admin = admin_client
    assert client.get(f"/admin/users/{admin.id}").status_code == 200
    response = client.get(f"/admin/users/{value}")
    assert response.status_code == 404
    assert response.headers["X-Request-Id"] in response.text


def test_the_bounded_converter_is_the_int_converter_of_every_rule(app):
    from portal.hardening import BoundedIntegerConverter

    int_rules = [r for r in app.url_map.iter_rules() if any(c == "int" for c in _converter_names(r))]
    assert int_rules
    for rule in int_rules:
        assert all(
            isinstance(conv, BoundedIntegerConverter)
            for name, conv in rule._converters.items()
            if type(conv).__name__ != "UnicodeConverter" and "path" not in type(conv).__name__.lower()
        ), rule.rule


def _converter_names(rule):
    return [part.split(":")[0] for part in rule.rule.replace(">", "<").split("<")[1::2] if ":" in part]


# --------------------------------------------------------------------------- text at the edge: query strings


@pytest.mark.parametrize("query", ["q=a%00b", "q=%07", "sort=%1B", "x%00y=1", "page=%7F"])
def test_control_characters_in_a_query_string_are_a_400_page(client, query):
    response = client.get("/kb/search?" + query)
    assert response.status_code == 400
    assert "control character" in response.text
    assert response.headers["X-Request-Id"] in response.text
    assert "Traceback" not in response.text


def test_tabs_and_line_breaks_in_a_query_string_are_fine(client):
    assert client.get("/kb/search?q=carbon%09footprint%0A").status_code == 200


def test_control_characters_in_an_api_query_are_a_400_json_error(client, make_user):
    user = make_user("agent")
    _, plain = create_api_token(user)
    db.session.commit()
    response = client.get("/api/v1/tickets?q=a%00", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "invalid_parameter" and error["fields"] == {"q": "This value contains a control character."}
    assert error["request_id"] == response.headers["X-Request-Id"]


# --------------------------------------------------------------------------- text at the edge: forms


def test_control_characters_in_a_form_are_refused_and_nothing_is_stored(client, make_org, make_user):
    customer = make_user("customer", organization=make_org())
    assert login(client, customer).status_code == 302
    token = csrf_from(client.get("/portal/tickets/new").text)
    form = {"csrf_token": token, "subject": "Export", "category": "data", "priority": "medium"}
    response = client.post("/portal/tickets/new", data={**form, "description": "Broken\x00 file"})
    assert response.status_code == 422
    assert "description" in response.text and response.headers["X-Request-Id"] in response.text
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    fine = client.post("/portal/tickets/new", data={**form, "description": "Row 3\tfails\r\nagain"})
    assert fine.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1


# --------------------------------------------------------------------------- text at the edge: JSON bodies


@pytest.fixture
def api(client, make_org, make_user):
    customer = make_user("customer", organization=make_org())
    _, plain = create_api_token(customer)
    db.session.commit()
    return client, {"Authorization": f"Bearer {plain}"}


BODY = {"subject": "GRI report empty", "description": "No data.", "category": "data", "priority": "medium"}


def _post_raw(client, headers, raw: str | bytes):
    return client.post("/api/v1/tickets", data=raw, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize(
    "raw",
    [
        '{"subject": "\\ud800", "description": "x", "category": "data"}',  # a lone surrogate escape
        b'{"subject": "\xed\xa0\x80", "description": "x", "category": "data"}',  # its UTF-8 bytes
        '{"subject": "ok", "description": "nul \\u0000 here", "category": "data"}',
        '{"subject": "ok", "description": "x", "category": "data", "\\u0007": 1}',
    ],
)
def test_invalid_text_in_json_is_a_422_and_never_stored(api, raw):
    client, headers = api
    response = _post_raw(client, headers, raw)
    assert response.status_code == 422, response.text
    assert response.json["error"]["code"] == "validation_failed"
    assert response.json["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '{"subject": "x",}',
        "[" * 100_000 + "]" * 100_000,  # the parser would recurse into a RecursionError
        "{" + '"a":{' * 5_000 + "}" * 5_001,
        json.dumps({**BODY, "x": json.loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))}),
        b"\xff\xfe{",
    ],
)
def test_bodies_that_are_not_json_or_too_deep_are_a_400_json_error(api, raw):
    client, headers = api
    response = _post_raw(client, headers, raw)
    assert response.status_code == 400, response.text[:200]
    assert response.json["error"]["code"] == "invalid_json"
    assert response.json["error"]["request_id"] == response.headers["X-Request-Id"]


def test_json_depth_counts_brackets_outside_strings_only():
    assert json_depth('{"a": [1, {"b": "[[[[{{{"}]}') == 3
    assert json_depth(b"[]") == 1 and json_depth('"x"') == 0


def test_a_json_body_at_the_depth_limit_is_parsed(api):
    client, headers = api
    nested = json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))
    response = client.post("/api/v1/tickets", json={**BODY, "extra": nested}, headers=headers)
    assert response.status_code == 422 and response.json["error"]["fields"] == {
        "extra": "Unknown or not allowed field."
    }
    assert client.post("/api/v1/tickets", json=BODY, headers=headers).status_code == 201


def test_json_ids_beyond_the_database_range_are_refused(client, make_org, make_user, make_ticket):
    agent = make_user("agent")
    ticket = make_ticket(make_user("customer", organization=make_org()))
    _, plain = create_api_token(agent)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    for assignee in (2**31, 2**63, 10**30, 1.0, True, "١٢"):
        response = client.patch(
            f"/api/v1/tickets/{ticket.reference}",
            json={"version": ticket.version, "assignee": assignee},
            headers=headers,
        )
        assert response.status_code == 422, (assignee, response.text[:200])
        assert response.json["error"]["fields"] == {"assignee": "Choose an active agent, senior agent or manager."}


# --------------------------------------------------------------------------- subjects and mail headers


@pytest.mark.parametrize("subject", ["Import\r\nfails", "Import\nfails", "Import\u2028fails", "Import\x0bfails"])
def test_a_subject_is_stored_on_one_line(make_org, make_user, subject):
    customer = make_user("customer", organization=make_org())
    ticket = ticket_service.create_ticket(customer, subject=subject, description="x", category="data", priority="low")
    assert ticket.subject == "Import fails"


def test_the_api_stores_a_subject_with_line_breaks_on_one_line(api):
    client, headers = api
    response = client.post("/api/v1/tickets", json={**BODY, "subject": "GRI\r\nBcc: x@evil.test"}, headers=headers)
    assert response.status_code == 201 and response.json["ticket"]["subject"] == "GRI Bcc: x@evil.test"


def test_build_email_makes_single_line_headers(app):
    message = senders.build_email(
        "a@example.test\r\n", "Hello\r\nBcc: x@evil.test\u2028more", "text", "<p>html</p>", message_id="<m@x>"
    )
    assert message["Subject"] == "Hello Bcc: x@evil.test more"
    assert message["Bcc"] is None and message["To"] == "a@example.test"


@pytest.fixture
def mailbox(app, monkeypatch):
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": controller.port, "MAIL_TIMEOUT": 10.0}.items():
        monkeypatch.setitem(app.config, key, value)
    yield box
    controller.stop()


def test_a_stored_subject_with_a_line_break_is_mailed_with_a_single_line_subject(
    mailbox, make_org, make_user, make_ticket
):
    """A subject stored before the edge check (or by an import) still makes a sendable notification."""
    agent, manager = make_user("agent"), make_user("manager")
    ticket = make_ticket(make_user("customer", organization=make_org()))
    run_pending()
    mailbox.messages.clear()
    ticket.subject = "Export broken\r\nBcc: someone@evil.test\u2028(again)"
    db.session.commit()
    ticket_service.assign_ticket(manager, ticket, agent.id, expected_version=ticket.version)
    db.session.commit()
    assert run_pending(["notify.assignment"]) == 1
    [message] = mailbox.to(agent.email)
    subject = str(message["Subject"])
    assert "\n" not in subject and "\r" not in subject and "\u2028" not in subject
    assert subject.strip() == f"[{ticket.reference}] Assigned to you: Export broken Bcc: someone@evil.test (again)"
    assert message["Bcc"] is None


# --------------------------------------------------------------------------- error pages and JSON errors

SECRET = "SELECT password_hash FROM users -- SECRET_KEY=abc123"


@pytest.mark.parametrize("code", [400, 403, 404, 405, 413, 429, 500])
def test_every_error_page_shows_a_short_message_and_the_request_id(app, client, monkeypatch, code):
    def broken():
        if code == 500:
            raise RuntimeError(SECRET)
        abort(code)

    monkeypatch.setitem(app.view_functions, "kb.videos", broken)
    monkeypatch.setitem(app.view_functions, "api.kb_suggest", broken)
    page = client.get("/kb/videos")
    assert page.status_code == code
    assert page.mimetype == "text/html"
    rid = page.headers["X-Request-Id"]
    assert len(rid) >= 8 and rid in page.text
    assert "Traceback" not in page.text and SECRET not in page.text and "SECRET_KEY" not in page.text
    api = client.get("/api/v1/kb/suggest?text=x")
    assert api.status_code == code
    assert api.json["error"]["request_id"] == api.headers["X-Request-Id"]
    assert SECRET not in api.text


def test_real_404_and_405_pages_carry_the_request_id(client):
    for response in (client.get("/no/such/page"), client.get("/logout")):
        assert response.status_code in (404, 405)
        assert response.headers["X-Request-Id"] in response.text


# --------------------------------------------------------------------------- next, headers


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.com",
        "//evil.com",
        "https://evil.com",
        "/%2F%2Fevil.com",
        "\t//evil.com",
        "/\t/evil.com",
        "///evil.com",
        "http:/evil.com",
        "javascript:alert(1)",
        " //evil.com",
    ],
)
def test_next_only_accepts_same_site_paths(client, make_user, target):
    user = make_user("customer")
    page = client.get("/login", query_string={"next": target})
    data = {"email": user.email, "password": "correct-horse-battery", "csrf_token": csrf_from(page.text)}
    response = client.post("/login", query_string={"next": target}, data=data)
    assert response.status_code in (302, 303), response.status_code
    location = response.headers["Location"]
    parts = urlsplit(location.replace("\\", "/"))
    assert not parts.scheme and not parts.netloc and location.startswith("/"), location
    assert not location.lstrip("/\t ").startswith(("evil.com", "/")), location  # no authority hidden in the path


def test_next_keeps_a_same_site_path(client, make_user):
    user = make_user("customer")
    page = client.get("/login", query_string={"next": "/kb/search?q=carbon"})
    data = {"email": user.email, "password": "correct-horse-battery", "csrf_token": csrf_from(page.text)}
    response = client.post("/login", query_string={"next": "/kb/search?q=carbon"}, data=data)
    assert response.headers["Location"] == "/kb/search?q=carbon"


def test_security_headers_on_every_kind_of_response(client):
    for path in ("/", "/kb/", "/no/such/page", "/api/v1/tickets", "/healthz", "/login"):
        response = client.get(path)
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert "camera=()" in headers["Permissions-Policy"] and "geolocation=()" in headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in headers, path
    secure = client.get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("path", ["/kb/a/%00", "/kb/c/a%07b", "/csat/%00"])
def test_control_characters_in_a_path_are_a_404(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.headers["X-Request-Id"] in response.text


@pytest.mark.parametrize("reference", ["ESG-2147483648", "99999999999", "ESG-١٢"])
def test_ticket_references_beyond_the_id_range_are_not_found(client, make_org, make_user, make_ticket, reference):
    customer = make_user("customer", organization=make_org())
    make_ticket(customer)
    _, plain = create_api_token(customer)
    db.session.commit()
    response = client.get(f"/api/v1/tickets/{reference}", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    listing = client.get("/api/v1/tickets", query_string={"q": reference}, headers={"Authorization": f"Bearer {plain}"})
    assert listing.status_code == 200 and listing.json["tickets"] == []


@pytest.mark.parametrize("value", ["²", "١٢", "1e3", "9" * 30, "-5"])
def test_numbers_in_service_forms_take_ascii_digits_only(make_user, value):
    from portal.services import csat, sla_admin

    admin = make_user("admin")
    data = {"at_risk_percent": value, "calendar_id": value}
    for priority in ("critical", "high", "medium", "low"):
        data |= {f"{priority}_first_response": value, f"{priority}_resolution": "8"}
    with pytest.raises(ValidationFailed) as refused:
        sla_admin.save_default_policy(admin, data)
    assert {"at_risk_percent", "calendar_id", "critical_first_response"} <= set(refused.value.fields)
    with pytest.raises(ValidationFailed):
        csat._parse_rating(value)
