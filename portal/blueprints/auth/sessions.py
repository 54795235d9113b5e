"""Active sessions on the profile page: sign one other session out, or every session but this one."""

from __future__ import annotations

from flask import flash, redirect, session, url_for
from flask_login import current_user, login_required, logout_user

from portal.services import sessions


@login_required
def end_session(session_id: int):
    """Sign one session out (another browser or device). This browser's own session: an ordinary sign-out."""
    mine = sessions.current()
    ended = sessions.end_one(current_user, session_id)
    if mine is not None and ended.id == mine.id:
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
        return redirect(url_for("auth.login"), 303)
    flash("That session is signed out.", "success")
    return redirect(url_for("auth.profile") + "#sessions-h", 303)


@login_required
def end_other_sessions():
    """ "Sign out everywhere else": every other session of this account ends; this browser stays signed in."""
    count = sessions.end_all(current_user, except_current=True, reason="signed out everywhere else")
    if count:
        flash(f"Signed out everywhere else ({count} session{'' if count == 1 else 's'}).", "success")
    else:
        flash("You were not signed in anywhere else.", "info")
    return redirect(url_for("auth.profile") + "#sessions-h", 303)
