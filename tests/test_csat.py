"""Satisfaction surveys end to end: offered on a solve (one per resolution cycle, never to staff), withdrawn by a
reopen, expired by the clock; answered once from the emailed link (a GET records nothing, the form's POST does) or
from the ticket page; low ratings reach the assignee and the managers by email and wait in the follow-up list; the
API and the timelines show the rating to those who may see it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import CsatSurvey, OutboxMessage, SurveyState
from portal.services import csat
from portal.services import tickets as svc
from portal.services.accounts import create_api_token
from portal.services.errors import ValidationFailed
from tests.conftest import csrf_from, csrf_token, login
from tests.ops.conftest import _Mailbox, free_port
from workers import periodic
from workers.inline import run_pending

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
LINK = re.compile(r"(\d)/5 [^:\n]+: (http\S+/csat/(\S+?)\?rating=\d)")


@pytest.fixture
def people(make_org, make_user):
    org = make_org("Demo Manufacturing", "demo.test")
    return {
        "org": org,
        "customer": make_user("customer", organization=org, name="Carla Customer"),
        "colleague": make_user("customer", organization=org, name="Colin Colleague"),
        "other": make_user("customer", organization=make_org("Acme", "acme.test")),
        "agent": make_user("agent", name="Alex Agent"),
        "manager": make_user("manager", name="Mona Manager"),
        "away_manager": make_user("manager", name="Old Manager", is_active_account=False),
        "admin": make_user("admin", name="Ada Admin"),
    }


@pytest.fixture
def ticket(people, make_ticket):
    ticket = make_ticket(people["customer"], subject="CSV import stops at row 3")
    svc.assign_ticket(people["agent"], ticket, people["agent"].id, expected_version=ticket.version)
    db.session.commit()
    return ticket


@pytest.fixture
def mailbox(app, monkeypatch):
    """A real SMTP server (aiosmtpd) that the in-process job runner delivers to."""
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_TIMEOUT": 10.0,
        "MAIL_FROM": "ESG Support <support@support.test>",
        "PORTAL_URL": "http://portal.test",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    yield box
    controller.stop()


def set_status(actor, ticket, status):
    svc.update_ticket(actor, ticket, expected_version=ticket.version, status=status)
    db.session.commit()


def surveys(ticket) -> list[CsatSurvey]:
    db.session.expire_all()
    return list(db.session.scalars(select(CsatSurvey).where(CsatSurvey.ticket_id == ticket.id).order_by("cycle")))


def outbox(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by("id")))


def survey_links(mailbox, customer) -> dict[int, str]:
    """The five rating links of the survey email the customer received (from its plain-text body)."""
    mails = [m for m in mailbox.to(customer.email) if "How did we do?" in m["Subject"]]
    assert len(mails) == 1, [m["Subject"] for m in mailbox.messages]
    text = mails[0].get_body(("plain",)).get_content()
    links = {int(value): url for value, url, _token in LINK.findall(text)}
    assert sorted(links) == [1, 2, 3, 4, 5], text
    return links


def path_of(url: str) -> str:
    return url.removeprefix("http://portal.test")


# --------------------------------------------------------------------------- offer, withdraw, cycles, expiry


def test_solving_offers_one_survey_and_its_email_row_in_the_same_transaction(app, people, ticket):
    with time_machine.travel(T0, tick=False):
        svc.update_ticket(people["agent"], ticket, expected_version=ticket.version, status="solved")
        db.session.rollback()  # a change that is not committed leaves no survey and no email behind
        assert surveys(ticket) == [] and outbox("notify.csat_survey") == []
        set_status(people["agent"], ticket, "solved")
    [survey] = surveys(ticket)
    assert survey.state is SurveyState.open and survey.cycle == 1
    assert survey.requester_id == people["customer"].id
    assert survey.offered_at == T0 and survey.expires_at == T0 + timedelta(days=14)
    [row] = outbox("notify.csat_survey")
    assert row.payload == {"survey_id": survey.id} and row.queue == "notify"


def test_expiry_days_come_from_the_configuration(app, people, ticket, monkeypatch):
    monkeypatch.setitem(app.config, "CSAT_EXPIRY_DAYS", 3)
    with time_machine.travel(T0, tick=False):
        set_status(people["agent"], ticket, "solved")
    assert surveys(ticket)[0].expires_at == T0 + timedelta(days=3)


def test_no_survey_when_the_requester_is_staff(people, make_ticket):
    own = make_ticket(people["agent"], subject="My own laptop")  # an agent filed it for themselves
    set_status(people["agent"], own, "solved")
    assert surveys(own) == [] and outbox("notify.csat_survey") == []


def test_a_reopen_withdraws_the_open_survey_and_the_next_solve_offers_a_new_one(people, ticket):
    set_status(people["agent"], ticket, "solved")
    svc.reopen_ticket(people["customer"], ticket, expected_version=ticket.version)
    db.session.commit()
    [first] = surveys(ticket)
    assert first.state is SurveyState.withdrawn
    set_status(people["agent"], ticket, "solved")
    first, second = surveys(ticket)
    assert first.state is SurveyState.withdrawn
    assert (second.cycle, second.state) == (2, SurveyState.open)
    assert [m.payload["survey_id"] for m in outbox("notify.csat_survey")] == [first.id, second.id]
    # A customer reply to a solved ticket reopens it too, and withdraws.
    svc.reply_to_ticket(people["customer"], ticket, "Still broken on Mondays.")
    db.session.commit()
    assert [s.state for s in surveys(ticket)] == [SurveyState.withdrawn, SurveyState.withdrawn]


def test_closing_a_solved_ticket_keeps_its_survey_open_and_answered_ones_survive_a_reopen(people, ticket):
    set_status(people["agent"], ticket, "solved")
    set_status(people["agent"], ticket, "closed")
    [survey] = surveys(ticket)
    assert survey.state is SurveyState.open
    csat.rate(survey, 4, "", datetime.now(UTC), "portal")
    db.session.commit()

    other = svc.create_ticket(people["customer"], subject="Second", description="d", category="data")
    set_status(people["agent"], other, "solved")
    csat.rate(surveys(other)[0], 5, "", datetime.now(UTC), "portal")
    set_status(people["agent"], other, "open")  # reopened after the answer: the rating stands
    assert [(s.state, s.rating) for s in surveys(other)] == [(SurveyState.answered, 5)]


def test_one_survey_per_ticket_and_cycle(people, ticket):
    set_status(people["agent"], ticket, "solved")
    [survey] = surveys(ticket)
    assert csat.offer(ticket, T0) is survey  # offering again in the same cycle is the same survey
    assert len(outbox("notify.csat_survey")) == 1
    db.session.add(
        CsatSurvey(ticket_id=ticket.id, requester_id=ticket.requester_id, cycle=1, expires_at=T0, comment="")
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_surveys_expire_by_the_clock_and_the_periodic_job_is_idempotent(app, people, ticket):
    assert any(task is periodic.csat_expiry for task, _every, _queue in periodic.SCHEDULE)
    with time_machine.travel(T0, tick=False):
        set_status(people["agent"], ticket, "solved")
    [survey] = surveys(ticket)
    assert csat.expire_due(T0 + timedelta(days=14) - timedelta(seconds=1)) == 0
    db.session.commit()
    assert surveys(ticket)[0].state is SurveyState.open
    # Past its expiry, before the job ran: already refused.
    with pytest.raises(csat.SurveyClosed, match="expired"):
        csat.rate(survey, 5, "", T0 + timedelta(days=14), "email")
    db.session.rollback()
    with time_machine.travel(T0 + timedelta(days=14, minutes=5), tick=False):
        assert periodic.csat_expiry() == 1
        assert periodic.csat_expiry() == 0
    [survey] = surveys(ticket)
    assert survey.state is SurveyState.expired and survey.rating is None


# --------------------------------------------------------------------------- answering


def test_rate_validates_and_answers_once(people, ticket):
    set_status(people["agent"], ticket, "solved")
    [survey] = surveys(ticket)
    now = datetime.now(UTC)
    for bad in (0, 6, "x", None, "", True):
        with pytest.raises(ValidationFailed) as refused:
            csat.rate(survey, bad, "", now, "email")
        assert refused.value.fields == {"rating": "Choose from 1 to 5 stars."}
    with pytest.raises(ValidationFailed):
        csat.rate(survey, 3, "x" * (csat.COMMENT_MAX + 1), now, "email")
    csat.rate(survey, "3", "  Took a while.\r\n", now, "email")
    db.session.commit()
    survey = surveys(ticket)[0]
    assert (survey.state, survey.rating, survey.comment, survey.source) == (
        SurveyState.answered,
        3,
        "Took a while.",
        "email",
    )
    with pytest.raises(csat.SurveyClosed, match="already answered"):
        csat.rate(survey, 1, "", now, "portal")


def test_a_withdrawn_survey_is_refused_with_a_clear_message(people, ticket):
    set_status(people["agent"], ticket, "solved")
    set_status(people["agent"], ticket, "open")
    with pytest.raises(csat.SurveyClosed, match="withdrawn because the ticket was reopened"):
        csat.rate(surveys(ticket)[0], 5, "", datetime.now(UTC), "email")


def test_the_emailed_link_shows_the_rating_and_only_the_form_post_records_it(app, client, people, ticket, mailbox):
    set_status(people["agent"], ticket, "solved")
    assert run_pending(["notify.csat_survey"]) == 1
    links = survey_links(mailbox, people["customer"])
    assert run_pending(["notify.csat_survey"]) == 0 and len(mailbox.to(people["customer"].email)) == 1

    # A mail scanner (or the customer) follows every link: the page shows the rating, nothing is recorded.
    for value in (1, 2, 3, 4, 5):
        page = client.get(path_of(links[value]))
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
        assert re.search(rf'id="csat-star-{value}" value="{value}" checked', page.text), page.text
        assert ticket.reference in page.text
    assert surveys(ticket)[0].state is SurveyState.open and outbox("notify.csat_low_rating") == []

    page = client.get(path_of(links[4]))
    response = client.post(
        path_of(links[4]), data={"csrf_token": csrf_from(page.text), "rating": "4", "comment": "Quick and clear."}
    )
    assert response.status_code == 303
    survey = surveys(ticket)[0]
    assert (survey.state, survey.rating, survey.comment, survey.source) == (
        SurveyState.answered,
        4,
        "Quick and clear.",
        "email",
    )
    shown = client.get(path_of(links[1]))
    assert shown.status_code == 200 and "You rated this 4/5" in shown.text and 'type="radio"' not in shown.text
    again = client.post(path_of(links[1]), data={"csrf_token": csrf_from(shown.text), "rating": "1"})
    assert again.status_code == 409 and "You rated this 4/5" in again.text
    assert surveys(ticket)[0].rating == 4


def test_the_survey_page_needs_its_csrf_token_and_a_rating(client, people, ticket):
    set_status(people["agent"], ticket, "solved")
    [survey] = surveys(ticket)
    path = f"/csat/{csat.token_for(survey)}"
    assert client.post(path, data={"rating": "5"}).status_code == 400  # no CSRF token
    page = client.get(path)
    assert "checked" not in page.text  # no rating chosen without one in the link
    missing = client.post(path, data={"csrf_token": csrf_from(page.text), "comment": "hm"})
    assert missing.status_code == 422 and "Choose from 1 to 5 stars." in missing.text
    assert 'aria-describedby="csat-rating-error"' in missing.text and ">hm</textarea>" in missing.text
    assert surveys(ticket)[0].state is SurveyState.open


def test_bad_tokens_and_closed_surveys_get_friendly_4xx_pages(app, client, people, ticket):
    with time_machine.travel(T0, tick=False):
        set_status(people["agent"], ticket, "solved")
    [survey] = surveys(ticket)
    token = csat.token_for(survey)
    page = client.get(f"/csat/{token}")
    csrf = csrf_from(page.text)
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("another-key", salt=csat.TOKEN_SALT).dumps({"survey": survey.id, "cycle": 1})
    other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="kb").dumps({"survey": survey.id, "cycle": 1})
    dangling = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=csat.TOKEN_SALT).dumps({"survey": 999, "cycle": 1})
    for bad in ("nonsense", token[:-3] + "abc", forged, other_salt, dangling, "a.b.c"):
        for response in (client.get(f"/csat/{bad}"), client.post(f"/csat/{bad}", data={"csrf_token": csrf})):
            assert response.status_code == 404, bad
            assert "This survey link is not valid" in response.text
    assert surveys(ticket)[0].state is SurveyState.open

    # Sessions are signed with a timestamp: every request under a travelled clock stays in its window.
    with time_machine.travel(T0 + timedelta(days=15), tick=False):
        expired = client.get(f"/csat/{token}?rating=5")
        assert expired.status_code == 410 and "This survey expired on 2026-03-24" in expired.text
        assert 'type="radio"' not in expired.text
        csrf = csrf_token(client, "/login")
        refused = client.post(f"/csat/{token}", data={"csrf_token": csrf, "rating": "5"})
        assert refused.status_code == 409 and "expired" in refused.text
    set_status(people["agent"], ticket, "open")
    withdrawn = client.get(f"/csat/{token}")
    assert withdrawn.status_code == 410 and "withdrawn" in withdrawn.text


def test_the_customer_rates_on_the_ticket_page(client, people, ticket):
    set_status(people["agent"], ticket, "solved")
    login(client, people["customer"])
    page = client.get(f"/portal/tickets/{ticket.reference}")
    assert page.status_code == 200
    assert "<legend>How satisfied are you with the solution?</legend>" in page.text
    assert page.text.count('type="radio" name="rating"') == 5
    no_choice = client.post(f"/csat/tickets/{ticket.reference}", data={"csrf_token": csrf_from(page.text)})
    assert no_choice.status_code == 303
    assert "Choose from 1 to 5 stars." in client.get(f"/portal/tickets/{ticket.reference}").text
    response = client.post(
        f"/csat/tickets/{ticket.reference}", data={"csrf_token": csrf_from(page.text), "rating": "5", "comment": ""}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{ticket.reference}#csat")
    page = client.get(f"/portal/tickets/{ticket.reference}")
    assert "You rated this 5/5" in page.text and 'name="rating"' not in page.text
    assert "Satisfaction: <strong>5/5</strong>" in page.text  # in the customer's own timeline too
    survey = surveys(ticket)[0]
    assert (survey.rating, survey.source) == (5, "portal")


def test_only_the_requester_sees_and_answers_the_survey(client, people, ticket):
    set_status(people["agent"], ticket, "solved")
    for user, status in ((people["colleague"], 403), (people["other"], 404)):
        login(client, user)
        token = csrf_token(client)
        if user is people["colleague"]:  # reads the shared ticket, without the survey
            page = client.get(f"/portal/tickets/{ticket.reference}")
            assert page.status_code == 200 and 'name="rating"' not in page.text
        response = client.post(f"/csat/tickets/{ticket.reference}", data={"csrf_token": token, "rating": "1"})
        assert response.status_code == status
        client.post("/logout", data={"csrf_token": token})
    login(client, people["agent"])
    token = csrf_token(client)
    assert (
        client.post(f"/csat/tickets/{ticket.reference}", data={"csrf_token": token, "rating": "1"}).status_code == 403
    )
    assert surveys(ticket)[0].state is SurveyState.open

    csat.rate(surveys(ticket)[0], 2, "Slow answers", datetime.now(UTC), "portal")
    db.session.commit()
    client.post("/logout", data={"csrf_token": token})
    login(client, people["colleague"])
    page = client.get(f"/portal/tickets/{ticket.reference}")
    assert "Slow answers" not in page.text and "rated the solution" not in page.text


# --------------------------------------------------------------------------- low ratings


def test_a_low_rating_alerts_the_assignee_and_the_active_managers_by_email(app, people, ticket, mailbox):
    set_status(people["agent"], ticket, "solved")
    csat.rate(surveys(ticket)[0], 1, "Nobody read my <file>.", datetime.now(UTC), "email")
    db.session.commit()
    [row] = outbox("notify.csat_low_rating")
    assert row.payload == {"survey_id": surveys(ticket)[0].id}
    run_pending()
    run_pending()
    for user in (people["agent"], people["manager"]):
        [mail] = [m for m in mailbox.to(user.email) if "Low satisfaction rating" in m["Subject"]]
        assert mail["Subject"] == f"[{ticket.reference}] Low satisfaction rating 1/5: {ticket.subject}"
        text = mail.get_body(("plain",)).get_content()
        assert "Carla Customer rated" in text and "Nobody read my <file>." in text
        assert "http://portal.test/reports/csat/follow-up" in text
        assert "Nobody read my &lt;file&gt;." in mail.get_body(("html",)).get_content()
    for user in (people["away_manager"], people["admin"], people["colleague"]):
        assert not [m for m in mailbox.to(user.email) if "Low satisfaction" in m["Subject"]]
    assert not [m for m in mailbox.to(people["customer"].email) if "Low satisfaction" in m["Subject"]]


def test_ratings_of_three_and_more_raise_no_alert(people, ticket, make_ticket):
    for rating in (3, 4, 5):
        other = make_ticket(people["customer"], subject=f"Question {rating}")
        set_status(people["agent"], other, "solved")
        csat.rate(surveys(other)[0], rating, "", datetime.now(UTC), "portal")
    db.session.commit()
    assert outbox("notify.csat_low_rating") == []


def test_a_survey_withdrawn_before_its_email_went_out_sends_nothing(people, ticket, mailbox):
    set_status(people["agent"], ticket, "solved")
    set_status(people["agent"], ticket, "open")
    run_pending(["notify.csat_survey"])
    assert not [m for m in mailbox.to(people["customer"].email) if "How did we do?" in m["Subject"]]


def test_follow_up_list_is_for_managers_and_admins(client, people, ticket):
    set_status(people["agent"], ticket, "solved")
    rated = T0 + timedelta(hours=3)
    csat.rate(surveys(ticket)[0], 2, "The answer missed the point.", rated, "email")
    db.session.commit()
    assert client.get("/reports/csat/follow-up").status_code == 302  # anonymous: to the sign-in page
    for role in ("customer", "agent"):
        login(client, people[role])
        token = csrf_token(client)
        assert client.get("/reports/csat/follow-up").status_code == 403
        survey_id = surveys(ticket)[0].id
        assert client.post(f"/reports/csat/follow-up/{survey_id}", data={"csrf_token": token}).status_code == 403
        client.post("/logout", data={"csrf_token": token})
    assert surveys(ticket)[0].followed_up_at is None

    people["manager"].timezone = "Europe/Berlin"
    db.session.commit()
    login(client, people["manager"])
    page = client.get("/reports/csat/follow-up")
    assert page.status_code == 200
    row = re.search(r'<tr id="follow-up-\d+">.*?</tr>', page.text, re.S).group(0)
    assert ticket.reference in row and f"/agent/tickets/{ticket.reference}" in row
    assert "2/5" in row and "The answer missed the point." in row and "Alex Agent" in row
    assert "Carla Customer" in row and "2026-03-10 13:00" in row  # 12:00 UTC in Berlin
    survey_id = surveys(ticket)[0].id
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        login(client, people["manager"])  # sessions are signed with a timestamp: sign in under the travelled clock
        token = csrf_token(client, "/reports/csat/follow-up")
        done = client.post(f"/reports/csat/follow-up/{survey_id}", data={"csrf_token": token})
    assert done.status_code == 303
    client.delete_cookie("session")  # signed under the travelled clock: no longer valid now
    login(client, people["manager"])
    survey = surveys(ticket)[0]
    assert survey.followed_up_by_id == people["manager"].id and survey.followed_up_at == T0 + timedelta(days=1)
    page = client.get("/reports/csat/follow-up")
    assert 'id="csat-follow-up-empty"' in page.text and "Mona Manager" in page.text
    again = client.post(f"/reports/csat/follow-up/{survey_id}", data={"csrf_token": csrf_from(page.text)})
    assert again.status_code == 303
    assert "Mona Manager already followed up" in client.get("/reports/csat/follow-up").text
    assert surveys(ticket)[0].followed_up_at == T0 + timedelta(days=1)

    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, people["admin"])
    assert client.get("/reports/csat/follow-up").status_code == 200


def test_only_low_answered_ratings_can_be_marked_followed_up(client, people, ticket):
    set_status(people["agent"], ticket, "solved")
    login(client, people["admin"])
    token = csrf_token(client)
    survey_id = surveys(ticket)[0].id
    assert client.post(f"/reports/csat/follow-up/{survey_id}", data={"csrf_token": token}).status_code == 404
    assert client.post("/reports/csat/follow-up/99999", data={"csrf_token": token}).status_code == 404


# --------------------------------------------------------------------------- where the rating shows


def test_staff_see_the_rating_in_the_ticket_timeline(client, people, ticket):
    set_status(people["agent"], ticket, "solved")
    csat.rate(surveys(ticket)[0], 2, "Too slow", datetime.now(UTC), "email")
    db.session.commit()
    svc.reply_to_ticket(people["agent"], ticket, "Sorry about that; here is what happened.")
    db.session.commit()
    login(client, people["agent"])
    for path in (f"/agent/tickets/{ticket.reference}", f"/agent/tickets/{ticket.reference}/timeline"):
        html = client.get(path).text
        assert "Carla Customer</strong> rated the solution" in html and "Satisfaction: <strong>2/5</strong>" in html
        assert "Too slow" in html and "waiting for a follow-up" in html
        # In time order: after the solve, before the apology written after it.
        assert html.index("rated the solution") < html.index("here is what happened")


def test_the_ticket_json_carries_the_latest_survey(client, people, ticket):
    headers = {}
    for key in ("customer", "colleague", "agent"):
        _, plain = create_api_token(people[key])
        headers[key] = {"Authorization": f"Bearer {plain}"}
    db.session.commit()
    url = f"/api/v1/tickets/{ticket.reference}"
    assert client.get(url, headers=headers["agent"]).json["ticket"]["csat"] is None
    with time_machine.travel(T0, tick=False):
        set_status(people["agent"], ticket, "solved")
    expected_open = {
        "state": "open",
        "cycle": 1,
        "rating": None,
        "comment": None,
        "rated_at": None,
        "offered_at": "2026-03-10T09:00:00Z",
        "expires_at": "2026-03-24T09:00:00Z",
    }
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert client.get(url, headers=headers["customer"]).json["ticket"]["csat"] == expected_open
        csat.rate(surveys(ticket)[0], 5, "Great", T0 + timedelta(hours=1), "email")
        db.session.commit()
        data = client.get(url, headers=headers["agent"]).json["ticket"]["csat"]
    assert data == {
        **expected_open,
        "state": "answered",
        "rating": 5,
        "comment": "Great",
        "rated_at": "2026-03-10T10:00:00Z",
    }
    assert client.get(url, headers=headers["colleague"]).json["ticket"]["csat"] is None
    listed = client.get("/api/v1/tickets", headers=headers["customer"]).json["tickets"]
    assert [t["csat"]["rating"] for t in listed if t["reference"] == ticket.reference] == [5]


def test_the_survey_count_stays_one_per_cycle_across_many_solves(people, ticket):
    for _ in range(3):
        set_status(people["agent"], ticket, "solved")
        set_status(people["agent"], ticket, "open")
    set_status(people["agent"], ticket, "solved")
    cycles = db.session.execute(
        select(CsatSurvey.cycle, func.count()).where(CsatSurvey.ticket_id == ticket.id).group_by(CsatSurvey.cycle)
    ).all()
    assert sorted(cycles) == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert [s.state for s in surveys(ticket)] == [SurveyState.withdrawn] * 3 + [SurveyState.open]


# --------------------------------------------------------------------------- demo data


def test_the_demo_seed_rates_a_few_solved_tickets_once():
    from portal.demo import seed

    first = seed(echo=lambda *_: None)
    db.session.commit()
    answered = list(db.session.scalars(select(CsatSurvey).where(CsatSurvey.state == SurveyState.answered)))
    assert first["csat_ratings"] == len(answered) >= 3
    assert any(s.rating in csat.LOW_RATINGS for s in answered)  # the follow-up list has something to show
    for survey in answered:
        assert survey.ticket.solved_at is not None and survey.offered_at == survey.ticket.solved_at
        assert survey.offered_at < survey.rated_at < survey.expires_at
    assert seed(echo=lambda *_: None)["csat_ratings"] == 0
    db.session.commit()
    assert db.session.scalar(select(func.count()).where(CsatSurvey.state == SurveyState.answered)) == len(answered)


def test_the_ticket_list_reads_the_surveys_of_a_whole_page_in_one_query(client, people, make_ticket):
    for n in range(6):
        other = make_ticket(people["customer"], subject=f"Question {n}")
        if n % 2:
            set_status(people["agent"], other, "solved")
    _, plain = create_api_token(people["agent"])
    db.session.commit()
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        listed = client.get("/api/v1/tickets?view=all", headers={"Authorization": f"Bearer {plain}"}).json["tickets"]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert sorted(bool(t["csat"]) for t in listed) == [False] * 3 + [True] * 3
    assert len([s for s in statements if "FROM csat_surveys" in s]) == 1


def test_the_batched_answers_follow_every_change(people, ticket):
    set_status(people["agent"], ticket, "solved")
    assert csat.summary_for(people["agent"], ticket)["state"] == "open"
    csat.rate(surveys(ticket)[0], 3, "", datetime.now(UTC), "portal")
    assert csat.summary_for(people["agent"], ticket)["rating"] == 3
    db.session.rollback()
    assert csat.summary_for(people["agent"], ticket)["state"] == "open"
    set_status(people["agent"], ticket, "open")
    assert csat.summary_for(people["agent"], ticket)["state"] == "withdrawn"
