"""Who may fetch a file, on every attachment URL (the download page and the API): the same rule as the ticket
event it belongs to. Customers without access get a 404 (existence is not revealed); internal notes' files never
reach customers; a quarantined mail's files only admins."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import InboundMessage, InboundSource
from portal.services import attachments as attachment_service
from portal.services import tickets as ticket_service
from tests.attachments.conftest import PDF, PNG, TEXT, fetch
from tests.conftest import login


@pytest.fixture
def files(people, make_ticket):
    ticket = make_ticket(people["owner"])
    reply = ticket_service.reply_to_ticket(people["agent"], ticket, "Here is the fixed report.")
    note = ticket_service.reply_to_ticket(people["agent"], ticket, "Log for the team", internal=True)
    db.session.flush()
    public = attachment_service.store(PDF, "fixed report.pdf", uploader=people["agent"], ticket=ticket, event=reply)
    internal = attachment_service.store(TEXT, "secret-log.txt", uploader=people["agent"], ticket=ticket, event=note)
    by_owner = attachment_service.store_uploads([], uploader=people["owner"], ticket=ticket)  # nothing: no-op
    assert by_owner == []
    created = attachment_service.store(
        PNG,
        "owner-screen.png",
        uploader=people["owner"],
        ticket=ticket,
        event=attachment_service.creation_event(ticket),
    )
    inbound = InboundMessage(source=list(InboundSource)[0], from_address="x@example.test", subject="held")
    db.session.add(inbound)
    db.session.flush()
    quarantined = attachment_service.store(PDF, "held.pdf", uploader=None, inbound=inbound)
    db.session.commit()
    return {"ticket": ticket, "public": public, "internal": internal, "created": created, "quarantined": quarantined}


EXPECTED = {
    # who: (public reply's file, creation's file, internal note's file, quarantined mail's file)
    "owner": (200, 200, 404, 404),
    "colleague": (200, 200, 404, 404),
    "stranger": (404, 404, 404, 404),
    "agent": (200, 200, 200, 404),
    "admin": (200, 200, 200, 200),
}
KINDS = ("public", "created", "internal", "quarantined")


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_download_page_access(client, people, files, who):
    assert login(client, people[who]).status_code == 302
    for kind, expected in zip(KINDS, EXPECTED[who], strict=True):
        response = fetch(client, attachment_service_url(files[kind]))
        assert response.status_code == expected, (who, kind, response.status_code)
        if expected == 200:
            assert response.data == attachment_service.path_of(files[kind]).read_bytes()


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_api_download_access(client, people, tokens, files, who):
    for kind, expected in zip(KINDS, EXPECTED[who], strict=True):
        response = fetch(client, f"/api/v1/attachments/{files[kind].token}", headers=tokens[who])
        assert response.status_code == expected, (who, kind, response.status_code)
        if expected == 404:
            assert response.get_json()["error"]["code"] == "not_found"
        else:
            assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def attachment_service_url(attachment) -> str:
    return f"/attachments/{attachment.token}/{attachment_service.url_name(attachment)}"


def test_anonymous_is_sent_to_sign_in_or_gets_401(client, files):
    for kind in KINDS:
        page = client.get(attachment_service_url(files[kind]))
        assert page.status_code == 302 and "/login" in page.headers["Location"]
        api = client.get(f"/api/v1/attachments/{files[kind].token}")
        assert api.status_code == 401 and api.get_json()["error"]["code"] == "unauthorized"
    listed = client.get(f"/api/v1/tickets/{files['ticket'].reference}/attachments")
    assert listed.status_code == 401


def test_unknown_token_and_wrong_name(client, people, files):
    assert login(client, people["owner"]).status_code == 302
    assert client.get("/attachments/nope/x.pdf").status_code == 404
    assert client.get("/attachments/" + "a" * 200 + "/x.pdf").status_code == 404
    # the name in the link is cosmetic: the token alone decides (and the name never reaches the filesystem)
    assert fetch(client, f"/attachments/{files['public'].token}/../../etc/passwd").status_code in (200, 404)
    assert fetch(client, f"/attachments/{files['public'].token}/other.pdf").status_code == 200


def test_internal_files_are_not_listed_to_customers(client, people, tokens, files):
    ticket = files["ticket"]
    assert login(client, people["owner"]).status_code == 302
    page = client.get(f"/portal/tickets/{ticket.reference}").text
    assert "fixed report.pdf" in page and "owner-screen.png" in page
    assert "secret-log.txt" not in page and files["internal"].token not in page
    listed = client.get(f"/api/v1/tickets/{ticket.reference}/attachments", headers=tokens["owner"]).get_json()
    assert sorted(a["filename"] for a in listed["attachments"]) == ["fixed report.pdf", "owner-screen.png"]
    staff = client.get(f"/api/v1/tickets/{ticket.reference}/attachments", headers=tokens["agent"]).get_json()
    assert "secret-log.txt" in [a["filename"] for a in staff["attachments"]]
    stranger = client.get(f"/api/v1/tickets/{ticket.reference}/attachments", headers=tokens["stranger"])
    assert stranger.status_code == 404


def test_agent_page_lists_internal_files(client, people, files):
    assert login(client, people["agent"]).status_code == 302
    page = client.get(f"/agent/tickets/{files['ticket'].reference}").text
    assert "secret-log.txt" in page and "fixed report.pdf" in page


def test_inactive_user_cannot_read(people, files):
    owner = people["owner"]
    assert attachment_service.can_read(owner, files["public"])
    owner.is_active_account = False
    assert not attachment_service.can_read(owner, files["public"])
    assert not attachment_service.can_read(None, files["public"])


def test_a_read_only_token_can_download(client, people, files):
    from portal.services.accounts import create_api_token

    _, plain = create_api_token(people["owner"], scope="read")
    db.session.commit()
    response = fetch(
        client, f"/api/v1/attachments/{files['public'].token}", headers={"Authorization": f"Bearer {plain}"}
    )
    assert response.status_code == 200
