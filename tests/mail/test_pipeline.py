"""The inbound pipeline's rules: storing, dedupe, loops and noise, who is writing, threading order, follow-ups,
participants, merge suggestions, failures and the admin actions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Channel,
    EventKind,
    InboundMessage,
    InboundSource,
    InboundState,
    JoinPolicy,
    MailDirection,
    Role,
    Status,
    Ticket,
    TicketEvent,
    TicketMailId,
    TicketParticipant,
    User,
)
from portal.services import accounts
from portal.services.mail import pipeline, tokens
from portal.services.notifications import wants_email
from tests.conftest import csrf_from
from tests.mail._corpus_helpers import SUPPORT, ingest, new_id, outbox_rows, raw_mail


@pytest.fixture
def org(make_org):
    return make_org("Client Ltd", domains="client.test")


@pytest.fixture
def ann(make_user, org):
    return make_user(email="ann@client.test", name="Ann Client", organization=org)


@pytest.fixture
def ticket(make_ticket, ann):
    return make_ticket(ann, subject="Export stops at row 3")


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _token_mid(ticket: Ticket, user: User, unique: str = "n1") -> str:
    return tokens.message_id(tokens.reply_token(ticket.id, user.id), unique, "support.esg.test")


def _events(ticket: Ticket, kind: EventKind) -> list[TicketEvent]:
    return list(
        db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == kind))
    )


# --------------------------------------------------------------------------- storing


def test_receive_stores_raw_and_header_summary_before_processing():
    raw = raw_mail(sender="Ann@Client.test", name="Ann Client", subject="Hello", message_id="<abc@Client.TEST>")
    inbound = pipeline.receive(raw, source=InboundSource.pipe)
    assert inbound.id and inbound.state is InboundState.received
    assert inbound.raw == raw and inbound.size == len(raw) and not inbound.raw_truncated
    assert (inbound.from_address, inbound.from_name, inbound.subject) == ("ann@client.test", "Ann Client", "Hello")
    assert inbound.message_id == "<abc@Client.TEST>" and inbound.to_addresses == SUPPORT
    assert _count(Ticket) == 0


def test_receive_with_a_known_imap_key_returns_the_stored_row():
    raw = raw_mail(sender="ann@client.test")
    first = pipeline.receive(raw, source=InboundSource.imap, imap_folder="INBOX", imap_uidvalidity=7, imap_uid=3)
    db.session.commit()
    again = pipeline.receive(raw, source=InboundSource.imap, imap_folder="INBOX", imap_uidvalidity=7, imap_uid=3)
    assert again.id == first.id and _count(InboundMessage) == 1


def test_raw_is_capped_and_a_truncated_message_is_quarantined_as_oversize(app, monkeypatch, ann):
    monkeypatch.setitem(app.config, "MAIL_RAW_MAX", 300)
    raw = raw_mail(sender=ann.email, body="x" * 2000)
    inbound = ingest(raw)
    assert inbound.raw_truncated and len(inbound.raw) == 300 and inbound.size == len(raw)
    assert (inbound.state, inbound.reason) == (InboundState.quarantined, "oversize")
    assert _count(Ticket) == 0


def test_oversize_is_quarantined_without_a_ticket(app, monkeypatch, ann):
    monkeypatch.setitem(app.config, "MAIL_MAX_MESSAGE_BYTES", 1000)
    inbound = ingest(raw_mail(sender=ann.email, body="y" * 5000))
    assert (inbound.state, inbound.reason) == (InboundState.quarantined, "oversize")
    assert "limit is 1,000" in inbound.detail and _count(Ticket) == 0


def test_a_message_that_cannot_be_parsed_is_quarantined():
    inbound = ingest(b"this is not an email at all")
    assert (inbound.state, inbound.reason) == (InboundState.quarantined, "parse_error")


@pytest.mark.parametrize(
    "from_header",
    ["Ann <ann@client.test>, Bob <bob@client.test>", "Ann <ann>", "", "<<<@@@>>> broken"],
)
def test_missing_malformed_or_ambiguous_from_is_quarantined(from_header):
    raw = raw_mail(sender="ann@client.test").replace(b"From: ann@client.test\r\n", b"")
    if from_header:
        raw = f"From: {from_header}\r\n".encode() + raw
    inbound = ingest(raw)
    assert (inbound.state, inbound.reason) == (InboundState.quarantined, "malformed_from"), inbound.detail
    assert _count(Ticket) == 0 and _count(User) == 0


def test_two_from_headers_are_quarantined():
    raw = b"From: ann@client.test\r\n" + raw_mail(sender="mallory@client.test")
    inbound = ingest(raw)
    assert (inbound.reason, inbound.detail) == ("malformed_from", "The message has more than one From header.")


# --------------------------------------------------------------------------- new tickets


def test_known_customer_files_a_ticket_by_email(ann):
    mid = new_id()
    inbound = ingest(raw_mail(sender="ANN@client.test", subject="Export stops", message_id=mid, body="It stops.\n"))
    assert (inbound.state, inbound.outcome, inbound.thread_method) == (InboundState.processed, "new_ticket", "none")
    ticket = db.session.get(Ticket, inbound.ticket_id)
    assert ticket.requester_id == ann.id and ticket.channel is Channel.email and ticket.subject == "Export stops"
    assert ticket.description == "It stops." and ticket.organization_id == ann.organization_id
    assert inbound.sender_id == ann.id and inbound.event_id == _events(ticket, EventKind.created)[0].id
    row = db.session.scalar(select(TicketMailId).where(TicketMailId.ticket_id == ticket.id))
    assert row.message_id == mid.strip("<>") and row.direction is MailDirection.inbound
    assert inbound.dedupe_key is not None
    [ack] = outbox_rows("mail.acknowledge")
    assert ack.payload == {"inbound_id": inbound.id, "ticket_id": ticket.id}


def test_to_and_cc_become_participants_of_a_new_ticket(app, monkeypatch, ann, make_user):
    monkeypatch.setitem(app.config, "SUPPORT_ADDRESS", "help@support.esg.test")
    carol = make_user(email="carol@partner.test")
    inbound = ingest(
        raw_mail(
            sender=ann.email,
            to=f"ESG Support <{SUPPORT}>, help@support.esg.test, Dave <dave@partner.test>",
            cc=f"Carol@Partner.test, {ann.email}",
        )
    )
    rows = db.session.scalars(select(TicketParticipant).where(TicketParticipant.ticket_id == inbound.ticket_id))
    assert sorted((p.email, p.user_id, p.source) for p in rows) == [
        ("carol@partner.test", carol.id, "email"),
        ("dave@partner.test", None, "email"),
    ]


def test_a_cc_participants_reply_all_threads_to_the_same_ticket(ann):
    original = new_id()
    first = ingest(raw_mail(sender=ann.email, cc="carol@partner.test", message_id=original))
    # Carol answers everyone: In-Reply-To is Ann's message, not one of ours
    reply = ingest(
        raw_mail(
            sender="carol@partner.test",
            subject="Re: Export stops at row 3",
            to=f"{ann.email}, {SUPPORT}",
            in_reply_to=original,
            references=original,
            body="Same here.\n\nOn Tue, Ann wrote:\n> Hello",
        )
    )
    assert (reply.outcome, reply.thread_method, reply.ticket_id) == ("reply", "references", first.ticket_id)
    assert "a mail we received" in reply.thread_detail and _count(Ticket) == 1
    event = db.session.get(TicketEvent, reply.event_id)
    assert event.kind is EventKind.public_reply and event.body == "Same here."
    assert not outbox_rows("mail.acknowledge")[1:]  # a reply gets no acknowledgement


def test_duplicate_message_id_is_ignored(ann):
    mid = new_id()
    first = ingest(raw_mail(sender=ann.email, message_id=mid))
    second = ingest(raw_mail(sender=ann.email, message_id=mid.replace("client.test", "CLIENT.test")))
    assert (second.state, second.reason) == (InboundState.ignored, "duplicate")
    assert f"#{first.id}" in second.detail and second.dedupe_key is None
    assert _count(Ticket) == 1 and len(outbox_rows("mail.acknowledge")) == 1


def test_duplicate_race_is_settled_by_the_unique_key(monkeypatch, ann):
    mid = new_id()
    first = ingest(raw_mail(sender=ann.email, message_id=mid))
    # the second processor did not see the first copy yet (both checked at the same moment)
    monkeypatch.setattr(pipeline, "_processed_copy", lambda inbound, key: None)
    second = pipeline.receive(raw_mail(sender=ann.email, message_id=mid), source=InboundSource.pipe)
    db.session.commit()
    monkeypatch.undo()
    real = pipeline._processed_copy
    calls = []

    def first_blind(inbound, key):
        calls.append(key)
        return None if len(calls) == 1 else real(inbound, key)

    monkeypatch.setattr(pipeline, "_processed_copy", first_blind)
    pipeline.process(second)
    db.session.commit()
    assert (second.state, second.reason) == (InboundState.ignored, "duplicate")
    assert f"#{first.id}" in second.detail and _count(Ticket) == 1


def test_a_failure_rolls_back_only_that_message_and_quarantines_it(monkeypatch, ann):
    from portal.services import tickets as ticket_service

    def boom(*args, **kwargs):
        raise RuntimeError("index exploded")

    monkeypatch.setattr(ticket_service, "create_ticket", boom)
    broken = ingest(raw_mail(sender="newbie@elsewhere.test"))
    assert (broken.state, broken.reason) == (InboundState.quarantined, "error")
    assert "RuntimeError: index exploded" in broken.detail and broken.attempts == 1
    assert _count(Ticket) == 0 and db.session.scalar(select(User).where(User.email == "newbie@elsewhere.test")) is None
    monkeypatch.undo()
    fine = ingest(raw_mail(sender=ann.email))
    assert fine.state is InboundState.processed
    # the admin retries the failed one once the fault is gone
    pipeline.reprocess(broken, ann)
    db.session.commit()
    assert broken.state is InboundState.processed and broken.attempts == 2 and _count(Ticket) == 2


# --------------------------------------------------------------------------- loops and noise


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto_reply"),
        ({"Auto-Submitted": "auto-generated"}, "auto_reply"),
        ({"X-Autoreply": "yes"}, "auto_reply"),
        ({"X-Autorespond": "yes"}, "auto_reply"),
        ({"X-Auto-Response-Suppress": "All"}, "auto_reply"),
        ({"Precedence": "bulk"}, "bulk"),
        ({"Precedence": "junk"}, "bulk"),
        ({"Precedence": "list"}, "bulk"),
        ({"List-Id": "<news.client.test>"}, "bulk"),
        ({"List-Unsubscribe": "<mailto:u@client.test>"}, "bulk"),
    ],
)
def test_machine_mail_is_ignored_and_changes_nothing(ticket, ann, headers, reason):
    ticket.status = Status.solved
    db.session.commit()
    inbound = ingest(
        raw_mail(
            sender=ann.email,
            subject=f"Re: [{ticket.reference}] {ticket.subject}",
            in_reply_to=_token_mid(ticket, ann),
            headers=headers,
        )
    )
    assert (inbound.state, inbound.reason) == (InboundState.ignored, reason)
    db.session.refresh(ticket)
    assert ticket.status is Status.solved and len(_events(ticket, EventKind.public_reply)) == 0
    assert _count(Ticket) == 1 and not outbox_rows("mail.acknowledge")


def test_auto_submitted_no_is_a_person(ann):
    inbound = ingest(raw_mail(sender=ann.email, headers={"Auto-Submitted": "no"}))
    assert inbound.outcome == "new_ticket"


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.client.test", "postmaster@client.test"])
def test_mail_from_a_mail_system_is_a_bounce(sender):
    inbound = ingest(raw_mail(sender=sender, subject="Undelivered Mail Returned to Sender"))
    assert (inbound.state, inbound.reason) == (InboundState.ignored, "bounce") and _count(User) == 0


@pytest.mark.parametrize("address", [SUPPORT, "Help@Support.esg.test"])
def test_mail_from_our_own_address_is_a_loop(app, monkeypatch, address):
    monkeypatch.setitem(app.config, "SUPPORT_ADDRESS", "help@support.esg.test")
    inbound = ingest(raw_mail(sender=address))
    assert (inbound.state, inbound.reason) == (InboundState.ignored, "own_address") and _count(Ticket) == 0


# --------------------------------------------------------------------------- who is writing


def test_unknown_sender_at_an_automatic_organization_domain_joins_it(org):
    inbound = ingest(raw_mail(sender="Zoe@Client.test", name="Zoe Zed"))
    user = db.session.get(User, inbound.sender_id)
    assert (user.email, user.name, user.role) == ("zoe@client.test", "Zoe Zed", Role.customer)
    assert user.organization_id == org.id and user.email_verified_at is None
    assert db.session.get(Ticket, inbound.ticket_id).organization_id == org.id
    assert "New customer account" in inbound.detail


def test_an_account_made_from_mail_has_no_password_until_a_reset(client, org):
    """The new customer cannot sign in with any password (not even an empty one) until a password reset proves the
    address; the sign-in page answers as for a wrong password, never an error."""
    inbound = ingest(raw_mail(sender="zoe@client.test", name="Zoe Zed"))
    user = db.session.get(User, inbound.sender_id)
    assert accounts.authenticate("zoe@client.test", "") is None
    assert accounts.authenticate("zoe@client.test", user.password_hash) is None
    token = csrf_from(client.get("/login").text)
    answer = client.post("/login", data={"email": "zoe@client.test", "password": "!unusable", "csrf_token": token})
    assert answer.status_code == 401 and "Location" not in answer.headers  # as for a wrong password
    user.password_hash = accounts.hash_password("a-long-new-passphrase")  # what a reset link does
    db.session.commit()
    assert accounts.authenticate("zoe@client.test", "a-long-new-passphrase") == user


def test_unknown_sender_at_an_approval_organization_requests_it(org):
    org.join_policy = JoinPolicy.approval.value
    db.session.commit()
    inbound = ingest(raw_mail(sender="yan@client.test"))
    user = db.session.get(User, inbound.sender_id)
    assert user.organization_id is None and user.requested_organization_id == org.id
    assert db.session.get(Ticket, inbound.ticket_id).organization_id is None
    assert "waits for approval" in inbound.detail and "no organization" in inbound.detail


def test_unknown_sender_is_accepted_without_organization_by_default():
    inbound = ingest(raw_mail(sender="x@nowhere.test", name="Xavier"))
    user = db.session.get(User, inbound.sender_id)
    assert user.organization_id is None and user.requested_organization_id is None and not user.is_verified
    assert inbound.outcome == "new_ticket"


def test_unknown_sender_is_quarantined_when_configured(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_UNKNOWN_SENDERS", "quarantine")
    inbound = ingest(raw_mail(sender="x@nowhere.test"))
    assert (inbound.state, inbound.reason) == (InboundState.quarantined, "unknown_sender")
    assert _count(User) == 0 and _count(Ticket) == 0


def test_disabled_sender_is_quarantined(make_user):
    make_user(email="gone@client.test", is_active_account=False)
    inbound = ingest(raw_mail(sender="gone@client.test"))
    assert (inbound.state, inbound.reason) == (InboundState.quarantined, "sender_inactive")


def test_staff_address_without_a_token_is_quarantined(make_user, ticket):
    agent = make_user(Role.agent, email="agent@support.esg.test")
    inbound = ingest(raw_mail(sender=agent.email, subject=f"Re: [{ticket.reference}] Export stops at row 3"))
    assert (inbound.state, inbound.reason) == (InboundState.quarantined, "staff_unverified")
    assert _events(ticket, EventKind.public_reply) == [] and _events(ticket, EventKind.internal_note) == []
    assert _count(Ticket) == 1


def test_staff_with_someone_elses_token_is_quarantined(make_user, ticket, ann):
    agent = make_user(Role.agent, email="agent@support.esg.test")
    inbound = ingest(raw_mail(sender=agent.email, in_reply_to=_token_mid(ticket, ann)))
    assert inbound.reason == "staff_unverified" and "made for someone else" in inbound.detail
    assert _events(ticket, EventKind.public_reply) == []


def test_staff_with_their_own_token_writes_a_staff_reply(make_user, ticket):
    agent = make_user(Role.agent, email="agent@support.esg.test")
    inbound = ingest(
        raw_mail(
            sender="Agent@Support.esg.test",
            in_reply_to=_token_mid(ticket, agent),
            body="We deployed a fix.\n\n" + tokens.REPLY_MARKER + "\nold text",
        )
    )
    assert (inbound.state, inbound.outcome, inbound.thread_method) == (InboundState.processed, "staff_reply", "token")
    [event] = _events(ticket, EventKind.public_reply)
    assert event.author_id == agent.id and event.body == "We deployed a fix."
    assert inbound.thread_detail == "Matched by the reply token in In-Reply-To"


def test_staff_token_in_the_body_marker_counts(make_user, ticket):
    agent = make_user(Role.agent, email="agent@support.esg.test")
    marker = tokens.marker(tokens.reply_token(ticket.id, agent.id))
    inbound = ingest(raw_mail(sender=agent.email, body=f"Done.\n\n> {tokens.REPLY_MARKER}\n> {marker}\n"))
    assert inbound.outcome == "staff_reply" and inbound.thread_detail == "Matched by the reply token in the body marker"


def test_a_forged_token_is_not_a_token(make_user, ticket):
    agent = make_user(Role.agent, email="agent@support.esg.test")
    forged = f"<r-{ticket.id}-{agent.id}-{'a' * 20}.x@support.esg.test>"
    inbound = ingest(raw_mail(sender=agent.email, in_reply_to=forged))
    assert inbound.reason == "staff_unverified"


# --------------------------------------------------------------------------- threading order


def test_customer_token_threads_the_reply(ticket, ann):
    inbound = ingest(raw_mail(sender=ann.email, subject="something else", references=_token_mid(ticket, ann)))
    assert (inbound.outcome, inbound.thread_method, inbound.ticket_id) == ("reply", "token", ticket.id)
    assert inbound.thread_detail == "Matched by the reply token in References"


def test_a_colleagues_token_is_fine_for_a_member_of_the_organization(ticket, make_user, org, ann):
    colleague = make_user(email="cole@client.test", organization=org)
    inbound = ingest(raw_mail(sender=colleague.email, in_reply_to=_token_mid(ticket, ann)))
    assert (inbound.thread_method, inbound.ticket_id) == ("token", ticket.id)


def test_someone_elses_token_does_not_thread_a_stranger(ticket, ann):
    inbound = ingest(raw_mail(sender="eve@evil.test", in_reply_to=_token_mid(ticket, ann)))
    assert inbound.outcome == "new_ticket" and inbound.ticket_id != ticket.id
    assert "neither the requester, a participant nor a member" in inbound.thread_detail


def test_the_token_wins_over_references_and_subject(make_ticket, ann):
    first = make_ticket(ann, subject="First")
    second = make_ticket(ann, subject="Second")
    db.session.add(
        TicketMailId(message_id="ours-2@support.esg.test", ticket_id=second.id, direction=MailDirection.outbound)
    )
    db.session.commit()
    inbound = ingest(
        raw_mail(
            sender=ann.email,
            subject=f"Re: [{second.reference}]",
            in_reply_to=_token_mid(first, ann),
            references="<ours-2@support.esg.test>",
        )
    )
    assert (inbound.thread_method, inbound.ticket_id) == ("token", first.id)


def test_references_to_our_mail_thread_the_reply(ticket, ann):
    db.session.add(
        TicketMailId(message_id="notify-1.abc@support.esg.test", ticket_id=ticket.id, direction=MailDirection.outbound)
    )
    db.session.commit()
    inbound = ingest(
        raw_mail(sender=ann.email, subject="Re: hi", references="<x@y.test> <notify-1.abc@support.esg.test>")
    )
    assert (inbound.thread_method, inbound.ticket_id) == ("references", ticket.id)
    assert inbound.thread_detail.startswith("Matched by References <notify-1.abc@support.esg.test> (our mail of ")


def test_subject_reference_threads_for_the_requester(ticket, ann):
    inbound = ingest(raw_mail(sender=ann.email, subject=f"Re: [{ticket.reference}] more"))
    assert (inbound.thread_method, inbound.ticket_id, inbound.outcome) == ("subject", ticket.id, "reply")
    assert inbound.thread_detail == f"Matched by the reference {ticket.reference} in the subject"


def test_subject_reference_threads_for_a_participant(ticket):
    db.session.add(TicketParticipant(ticket_id=ticket.id, email="pat@partner.test", source="email"))
    db.session.commit()
    inbound = ingest(raw_mail(sender="pat@partner.test", subject=f"{ticket.reference} from me"))
    assert (inbound.thread_method, inbound.ticket_id) == ("subject", ticket.id)


def test_a_stranger_with_the_same_subject_gets_a_new_ticket(ticket):
    inbound = ingest(raw_mail(sender="eve@evil.test", subject=f"Re: [{ticket.reference}] Export stops at row 3"))
    assert inbound.outcome == "new_ticket" and inbound.ticket_id != ticket.id
    assert inbound.thread_detail == (
        f"Not threaded: the subject names {ticket.reference} but the sender is neither the requester, a participant "
        "nor a member of its organization."
    )
    assert _events(ticket, EventKind.public_reply) == []


def test_a_reply_to_a_closed_ticket_becomes_a_linked_follow_up(ticket, ann):
    ticket.status = Status.closed
    db.session.commit()
    inbound = ingest(raw_mail(sender=ann.email, in_reply_to=_token_mid(ticket, ann), body="It is back."))
    follow_up = db.session.get(Ticket, inbound.ticket_id)
    assert inbound.outcome == "follow_up" and follow_up.follow_up_of_id == ticket.id
    assert follow_up.description == "It is back." and inbound.event_id is not None
    assert f"{ticket.reference} is closed" in inbound.thread_detail
    assert not outbox_rows("mail.acknowledge")


def test_a_customer_reply_reopens_a_solved_ticket(ticket, ann):
    ticket.status = Status.solved
    db.session.commit()
    ingest(raw_mail(sender=ann.email, in_reply_to=_token_mid(ticket, ann), body="Still broken."))
    db.session.refresh(ticket)
    assert ticket.status is Status.open


def test_the_same_subject_as_a_recent_open_ticket_suggests_a_merge(ticket, ann):
    inbound = ingest(raw_mail(sender=ann.email, subject="AW: Fwd: RE:  export STOPS at row 3"))
    assert inbound.outcome == "new_ticket" and inbound.ticket_id != ticket.id
    assert inbound.suggested_ticket_id == ticket.id and "merge suggested" in inbound.thread_detail


def test_no_merge_suggestion_when_two_tickets_match(ticket, make_ticket, ann):
    make_ticket(ann, subject="Export stops at row 3")
    inbound = ingest(raw_mail(sender=ann.email, subject="Re: Export stops at row 3"))
    assert inbound.suggested_ticket_id is None


# --------------------------------------------------------------------------- admin actions and text


def test_release_as_new_ticket_files_an_unknown_sender(app, monkeypatch, make_user):
    admin = make_user(Role.admin)
    monkeypatch.setitem(app.config, "MAIL_UNKNOWN_SENDERS", "quarantine")
    inbound = ingest(raw_mail(sender="x@nowhere.test"))
    pipeline.release_as_new_ticket(inbound, admin)
    db.session.commit()
    assert (inbound.state, inbound.outcome, inbound.handled_by_id) == (InboundState.processed, "released", admin.id)
    assert db.session.get(Ticket, inbound.ticket_id).requester.email == "x@nowhere.test"


def test_release_is_refused_for_an_unreadable_sender(make_user):
    admin = make_user(Role.admin)
    inbound = ingest(raw_mail(sender="a@b.test").replace(b"From: a@b.test", b"From: nobody"))
    with pytest.raises(pipeline.ReleaseRefused, match="cannot be released"):
        pipeline.release_as_new_ticket(inbound, admin)
    pipeline.discard(inbound, admin)
    assert inbound.state is InboundState.discarded and inbound.handled_by_id == admin.id
    with pytest.raises(pipeline.ReleaseRefused):
        pipeline.discard(inbound, admin)


def test_every_reason_and_outcome_has_a_label(ann):
    assert all(REASON for REASON in pipeline.REASONS.values())
    assert {"new_ticket", "reply", "follow_up", "staff_reply", "released"} <= set(pipeline.OUTCOMES)


def test_quoted_history_is_stripped_but_the_full_text_keeps_it(ann):
    body = "New text here.\n\n-- \nAnn\n\nOn Mon, 1 Dec 2026, Support wrote:\n> old question\n"
    inbound = ingest(raw_mail(sender=ann.email, body=body))
    assert db.session.get(TicketEvent, inbound.event_id).body == "New text here."
    assert "> old question" in pipeline.full_text(inbound) and "-- \nAnn" in pipeline.full_text(inbound)


def test_nothing_left_after_stripping_keeps_the_whole_text(ann):
    inbound = ingest(raw_mail(sender=ann.email, body="> only a quote\n> and more\n"))
    assert db.session.get(TicketEvent, inbound.event_id).body == "> only a quote\n> and more"


def test_a_participant_may_write_even_when_unknown_senders_are_quarantined(app, monkeypatch, ann):
    monkeypatch.setitem(app.config, "MAIL_UNKNOWN_SENDERS", "quarantine")
    original = new_id()
    first = ingest(raw_mail(sender=ann.email, cc="carol@partner.test", message_id=original))
    reply = ingest(raw_mail(sender="carol@partner.test", in_reply_to=original, body="Me too."))
    assert (reply.outcome, reply.ticket_id) == ("reply", first.ticket_id)
    stranger = ingest(raw_mail(sender="eve@evil.test", in_reply_to=original))
    assert stranger.reason == "unknown_sender"


def test_a_staff_reply_to_a_closed_ticket_waits_in_quarantine(make_user, ticket):
    agent = make_user(Role.agent, email="agent@support.esg.test")
    ticket.status = Status.closed
    db.session.commit()
    inbound = ingest(raw_mail(sender=agent.email, in_reply_to=_token_mid(ticket, agent)))
    assert (inbound.state, inbound.reason, inbound.ticket_id) == (InboundState.quarantined, "ticket_closed", ticket.id)
    assert _events(ticket, EventKind.public_reply) == []


def test_process_leaves_a_message_with_an_outcome_alone(ann):
    inbound = ingest(raw_mail(sender=ann.email))
    pipeline.process(inbound)
    assert inbound.attempts == 1 and _count(Ticket) == 1


def test_an_unsubscribe_request_by_mail_is_handled_and_ignored(ann):
    from portal.services.mail import outgoing

    token = outgoing.unsubscribe_token(ann, "email_ticket_updates")
    inbound = ingest(raw_mail(sender=ann.email, subject=f"unsubscribe {token}"))
    assert (inbound.state, inbound.reason) == (InboundState.ignored, "unsubscribe") and _count(Ticket) == 0
    db.session.expire_all()
    assert not wants_email(db.session.get(User, ann.id), "email_ticket_updates")


def test_control_characters_long_subjects_and_empty_bodies_still_file_a_ticket(ann):
    inbound = ingest(raw_mail(sender=ann.email, subject="S" * 400, body="bad\x00byte\x07 here"))
    ticket = db.session.get(Ticket, inbound.ticket_id)
    assert len(ticket.subject) == 200 and ticket.description == "badbyte here"
    empty = ingest(raw_mail(sender=ann.email, subject="", body=""))
    ticket = db.session.get(Ticket, empty.ticket_id)
    assert (ticket.subject, ticket.description) == ("(no subject)", pipeline.NO_TEXT)


def test_a_message_without_message_id_is_deduplicated_by_its_bytes(ann):
    raw = raw_mail(sender=ann.email).replace(b"Message-ID:", b"X-Old-Message-ID:")
    first, second = ingest(raw), ingest(raw)
    assert first.outcome == "new_ticket" and (second.state, second.reason) == (InboundState.ignored, "duplicate")
    third = ingest(raw.replace(b"row 3.", b"row 4."))
    assert third.outcome == "new_ticket" and _count(Ticket) == 2
