"""Slack messages carry user text escaped: a ticket subject with Slack's control sequences (``<!channel>``, a
``<url|label>`` link) and ``&`` reaches a real Slack receiver as plain text, never as a mention or a link."""

from __future__ import annotations

from portal.models import Role
from tests.webhooks.conftest import run_jobs


def test_a_critical_tickets_subject_arrives_escaped(app, monkeypatch, slack_receiver, make_user, make_ticket):
    monkeypatch.setitem(app.config, "SLACK_WEBHOOK_URL", f"http://127.0.0.1:{slack_receiver.server_port}/services/x")
    monkeypatch.setitem(app.config, "SLACK_ALLOWED_HOSTS", ("127.0.0.1",))
    subject = "<!channel> outage <http://evil.example|click> R&D"
    ticket = make_ticket(make_user(Role.customer), subject=subject, priority="critical", actor=make_user(Role.agent))
    run_jobs()
    texts = [message["text"] for message in slack_receiver.received]
    assert texts, "no Slack message for a critical ticket"
    text = next(t for t in texts if ticket.reference in t)
    assert "&lt;!channel&gt; outage &lt;http://evil.example|click&gt; R&amp;D" in text
    assert "<!channel>" not in text and "<http://evil.example" not in text and "R&D" not in text
