"""Operational commands: ``flask --app wsgi demo seed``, ``flask --app wsgi users token EMAIL`` and friends."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from portal.extensions import db

demo_cli = AppGroup("demo", help="Demo data.")
users_cli = AppGroup("users", help="Users and API tokens.")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create the demo team, organizations, customers and tickets (idempotent)."""
    from portal.demo import DEMO_PASSWORD, seed

    added = seed(echo=click.echo)
    db.session.commit()
    click.echo(
        f"Demo data ready ({', '.join(f'{k}: +{v}' for k, v in added.items())}). "
        f"Every demo account's password is {DEMO_PASSWORD}."
    )


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default="cli", help="A label for the token.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="write", help="read: GET requests only.")
@click.option("--days", type=click.IntRange(1), default=None, help="Life in days (default API_TOKEN_DEFAULT_DAYS).")
def users_token(email: str, name: str, scope: str, days: int | None) -> None:
    """Create an API token for EMAIL and print it (shown once)."""
    from portal.services.accounts import create_api_token, find_user_by_email
    from portal.services.errors import ValidationFailed

    user = find_user_by_email(email)
    if user is None or not user.is_active:
        raise click.ClickException(f"No active user with the email {email}.")
    try:
        token, plain = create_api_token(user, name, scope=scope, days=days)
    except ValidationFailed as exc:
        raise click.ClickException("; ".join(exc.fields.values()) or exc.message) from exc
    db.session.commit()
    click.echo(plain)
    click.echo(f"{scope} token, expires {token.expires_at:%Y-%m-%d %H:%M} UTC", err=True)


@users_cli.command("create")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["customer", "agent", "senior_agent", "manager", "admin"]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--timezone", "zone", default="UTC")
def users_create(email: str, name: str, role: str, password: str, zone: str) -> None:
    """Create a user (e.g. the first admin)."""
    from portal.models import Role, User, utcnow
    from portal.services.accounts import (
        check_password_strength,
        find_user_by_email,
        hash_password,
        normalize_email,
        organization_for_domain,
        validate_timezone,
    )
    from portal.services.errors import ValidationFailed

    try:
        email = normalize_email(email)
        check_password_strength(password)
    except ValidationFailed as exc:
        raise click.ClickException("; ".join(exc.fields.values()) or exc.message) from exc
    errors: dict[str, str] = {}
    zone = validate_timezone(zone, errors)
    if errors or find_user_by_email(email):
        raise click.ClickException(errors.get("timezone") or f"{email} already exists.")
    org = organization_for_domain(email) if role == "customer" else None
    db.session.add(
        User(
            email=email,
            name=name,
            role=Role(role),
            password_hash=hash_password(password),
            timezone=zone,
            organization=org,
            specializations=[],
            email_verified_at=utcnow(),  # made by an operator: the address counts as verified
        )
    )
    db.session.commit()
    click.echo(f"Created {role} {email}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    from portal.ops_cli import roster_cli, sla_cli  # `flask sla sweep`, `flask roster handover`

    app.cli.add_command(sla_cli)
    app.cli.add_command(roster_cli)
    from portal.search.cli import search_cli  # `flask search rebuild|check`

    app.cli.add_command(search_cli)
    from portal.tickets_cli import tickets_cli  # `flask tickets import|export`

    app.cli.add_command(tickets_cli)
    from portal.mail_cli import mail_cli  # `flask mail ingest|reprocess` (and the mailbox poll)

    app.cli.add_command(mail_cli)
    from portal.attachments_cli import attachments_cli  # `flask attachments sweep`

    app.cli.add_command(attachments_cli)
