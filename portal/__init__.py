"""ESG Support Portal: the application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from portal.config import INSTANCE_DIR, Config, check_secret_key
from portal.models.tickets import set_reference_prefix


def create_app(config: type | dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=True)
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    else:
        app.config.from_pyfile("config.py", silent=True)
    check_secret_key(app.config)
    set_reference_prefix(app.config["TICKET_PREFIX"])
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from portal import cli, database, errors, hardening, web
    from portal.extensions import csrf, db, htmx, limiter, login_manager, migrate
    from workers import init_app as init_workers

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).resolve().parent.parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    hardening.init_app(app)  # bounded <int:> ids (before the blueprints), input checks, JSON depth
    web.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    init_workers(app)  # outbox relay, `flask jobs`, embedded job threads
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from portal.blueprints import (
        admin,
        agent,
        api,
        attachments,
        auth,
        calls,
        chat,
        csat,
        customer,
        health,
        incidents,
        kb,
        mail,
        main,
        oncall,
        ops,
        postmortems,
        reports,
        status,
        webhooks,
        widget,
    )
    from portal.extensions import csrf

    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(customer.bp, url_prefix="/portal")
    app.register_blueprint(agent.bp, url_prefix="/agent")
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(kb.bp, url_prefix="/kb")
    app.register_blueprint(ops.bp, url_prefix="/ops")
    app.register_blueprint(reports.bp, url_prefix="/reports")
    app.register_blueprint(incidents.bp, url_prefix="/ops/incidents")
    app.register_blueprint(mail.bp, url_prefix="/admin/mail")
    app.register_blueprint(attachments.bp, url_prefix="/attachments")
    app.register_blueprint(status.bp)  # /status (public)
    app.register_blueprint(postmortems.bp, url_prefix="/ops/post-mortems")
    app.register_blueprint(health.bp)  # /readyz, /metrics, /ops/health
    app.register_blueprint(csat.bp)  # /csat/<token> (public, the token authenticates) and /reports/csat/...
    app.register_blueprint(widget.bp)  # /widget.js, /widget/..., /admin/widget
    app.register_blueprint(chat.bp)  # /chat (visitors), /agent/chat (the console)
    app.register_blueprint(calls.bp)  # /agent/calls
    app.register_blueprint(oncall.bp)  # /ops/on-call, page acknowledgements, the hotline form
    app.register_blueprint(webhooks.bp)  # /admin/webhooks
    csrf.exempt(oncall.hotline_api)  # the telephony provider signs its requests (HMAC); no cookies
    app.register_blueprint(oncall.hotline_api, url_prefix="/api/v1/hotline")
    csrf.exempt(api.bp)  # bearer tokens only, never cookies: no CSRF exposure
    app.register_blueprint(api.bp, url_prefix="/api/v1")


__all__ = ["create_app"]
