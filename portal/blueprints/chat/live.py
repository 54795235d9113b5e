"""The live side of both chat views: one server-sent event stream per tab, and the polling fallback sending the
same fragments as out-of-band swaps.

A stream reads the database every ``CHAT_STREAM_POLL_SECONDS`` (no in-process pub/sub: any gunicorn process may
serve it, another may have written the message) and ends after ``CHAT_STREAM_SECONDS`` so it never holds a worker
thread for good; the browser's EventSource reconnects by itself, sending the last event id (our cursor: the last
message id and a digest of the facts the tab has), so nothing is sent twice or lost across the reconnect. Streams
need a threaded server (gunicorn ``--worker-class gthread --threads N``): each open tab holds one thread while its
stream runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Response, current_app, stream_with_context
from flask_login import current_user

from portal.extensions import db
from portal.models import User

# what replaces "… is typing": an empty element (an event without data would be no swap at all)
NOBODY_TYPING = '<span class="chat-typing-none"></span>'


@dataclass
class Event:
    name: str  # the SSE event name, matched by an ``sse-swap`` element
    html: str
    target: str  # the element id the fragment goes into ...
    how: str = "innerHTML"  # ... and how (innerHTML or beforeend), for the polling fallback's out-of-band swap


def sse(event: Event, cursor: str) -> str:
    lines = event.html.strip().splitlines() or [""]
    data = "".join(f"data: {line}\n" for line in lines)
    return f"event: {event.name}\nid: {cursor}\n{data}\n"


def out_of_band(events: list[Event]) -> str:
    """The poll response: each fragment as an out-of-band swap into its element."""
    return "".join(f'<div hx-swap-oob="{e.how}:#{e.target}">{e.html}</div>' for e in events)


def poll_cursor(element_id: str, cursor: str) -> str:
    """The poller's cursor, replaced out of band: the next poll asks from there."""
    return f'<span id="{element_id}" data-since="{cursor}" hx-swap-oob="true"></span>'


def _reattach_signed_in_user() -> None:
    """The request's application context is torn down when the view returns (its database session with it) while
    the stream goes on: the signed-in user, which the templates read (time zone), joins the session now in use."""
    user = current_user._get_current_object() if current_user else None
    if isinstance(user, User) and user not in db.session:
        db.session.add(user)


def stream(step: Callable[[], tuple[list[Event], str] | None]) -> Response:
    """Run ``step`` (what changed since its last call, and the cursor after it; None ends the stream) until the
    stream's time is up."""
    seconds = float(current_app.config["CHAT_STREAM_SECONDS"])
    pause = float(current_app.config["CHAT_STREAM_POLL_SECONDS"])

    @stream_with_context
    def generate() -> Iterator[str]:
        yield "retry: 1500\n\n"
        deadline = time.monotonic() + seconds
        while True:
            _reattach_signed_in_user()
            result = step()
            if result is None:  # the viewer is gone or lost the right to see this: the stream ends
                db.session.rollback()
                return
            events, cursor = result
            # end the read transaction: the next read sees what other processes committed, and nothing stays locked
            db.session.rollback()
            for event in events:
                yield sse(event, cursor)
            if time.monotonic() >= deadline:
                return
            yield ":\n\n"  # a comment: finds a closed tab (the write fails) within one pause
            time.sleep(pause)

    return Response(
        generate(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"},
    )
