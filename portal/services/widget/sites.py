"""Sites that embed the widget: their exact allowed origins, their public key and their signing keys.

An origin is exactly ``scheme://host[:port]`` as a browser sends it in ``Origin`` and compares it in
``frame-ancestors``: lower-cased, the default port dropped, an international host name in its ASCII form. No
wildcards, no paths: what an admin saves is what is compared, character for character.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from sqlalchemy import select

from portal.extensions import db
from portal.models import User, utcnow
from portal.models.widget import WidgetSecret, WidgetSite
from portal.services import audit
from portal.services.errors import NotFound, ValidationFailed

IDENTITY_MODES = {"jwt": "Signed token (JWT, HS256)", "hmac": "HMAC of the email", "both": "Either"}
MAX_ORIGINS = 20
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str:
    """The origin ``value`` names, in the form browsers use, or ``ValueError`` saying what is wrong with it."""
    text = (value or "").strip()
    if not text:
        raise ValueError("empty")
    if any(c.isspace() for c in text) or "*" in text:
        raise ValueError("wildcards and spaces are not allowed; list each origin exactly")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("must start with https:// (or http://)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("must not contain a user name")
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("an origin has no path, query or fragment: scheme://host[:port]")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("the port is not a number between 1 and 65535") from exc
    host = parts.hostname or ""
    if not host:
        raise ValueError("has no host")
    host = _normal_host(host)
    if port is not None and not 0 < port < 65536:
        raise ValueError("the port is not a number between 1 and 65535")
    suffix = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{suffix}"


def _normal_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError("is not a valid host name") from exc
    labels = ascii_host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError("is not a valid host name")
    return ascii_host


def parse_origins(text: str) -> list[str]:
    """One origin per line, normalized and without repeats; ``ValidationFailed`` naming the first bad line."""
    origins: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            origin = normalize_origin(line)
        except ValueError as exc:
            raise ValidationFailed(
                "An origin is not valid.", {"origins": f"Line {number} ({line.strip()[:80]}): {exc}."}
            ) from exc
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise ValidationFailed("Too many origins.", {"origins": f"List at most {MAX_ORIGINS} origins."})
    return origins


def allows(site: WidgetSite, origin: str | None) -> bool:
    """``origin`` (as a browser sent it) is one of the site's origins, exactly."""
    if not origin:
        return False
    try:
        return normalize_origin(origin) in (site.origins or [])
    except ValueError:
        return False


def by_public_key(key: str | None) -> WidgetSite | None:
    """The active site whose script tag carries ``key``."""
    if not key or len(key) > 64:
        return None
    site = db.session.scalar(select(WidgetSite).where(WidgetSite.public_key == key))
    return site if site is not None and site.is_active else None


def get_site(site_id: int) -> WidgetSite:
    site = db.session.get(WidgetSite, site_id)
    if site is None:
        raise NotFound("No such widget site.")
    return site


def all_sites() -> list[WidgetSite]:
    return list(db.session.scalars(select(WidgetSite).order_by(WidgetSite.name, WidgetSite.id)))


def _new_public_key() -> str:
    return "wpk_" + secrets.token_urlsafe(18)


def _clean_fields(name: str, origins_text: str, identity_mode: str) -> tuple[str, list[str]]:
    errors: dict[str, str] = {}
    name = " ".join((name or "").split())[:200]
    if not name:
        errors["name"] = "Give the site a name."
    if identity_mode not in IDENTITY_MODES:
        errors["identity_mode"] = "Choose how the platform signs its users."
    try:
        origins = parse_origins(origins_text)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        origins = []
    if not origins and "origins" not in errors:
        errors["origins"] = "List at least one origin (for example https://app.example.com)."
    if errors:
        raise ValidationFailed("The site could not be saved.", errors)
    return name, origins


def create_site(
    actor: User | None, *, name: str, origins: str, verified_only: bool, identity_mode: str, is_active: bool = True
) -> tuple[WidgetSite, str]:
    """A new site with its public key and a first signing key; returns the site and that key's secret (shown
    once)."""
    name, origin_list = _clean_fields(name, origins, identity_mode)
    site = WidgetSite(
        name=name,
        public_key=_new_public_key(),
        origins=origin_list,
        verified_only=bool(verified_only),
        identity_mode=identity_mode,
        is_active=bool(is_active),
    )
    db.session.add(site)
    db.session.flush()
    audit.record("settings.other", target=site, after=_snapshot(site), detail="Widget site created", actor=actor)
    _secret, plain = create_secret(actor, site)
    return site, plain


def update_site(
    actor: User,
    site: WidgetSite,
    *,
    name: str,
    origins: str,
    verified_only: bool,
    identity_mode: str,
    is_active: bool,
) -> WidgetSite:
    name, origin_list = _clean_fields(name, origins, identity_mode)
    before = _snapshot(site)
    site.name, site.origins = name, origin_list
    site.verified_only, site.identity_mode, site.is_active = bool(verified_only), identity_mode, bool(is_active)
    db.session.flush()
    if _snapshot(site) != before:
        audit.record(
            "settings.other",
            target=site,
            before=before,
            after=_snapshot(site),
            detail="Widget site changed",
            actor=actor,
        )
    return site


def _snapshot(site: WidgetSite) -> dict:
    return {
        "name": site.name,
        "origins": list(site.origins or []),
        "verified_only": site.verified_only,
        "identity_mode": site.identity_mode,
        "is_active": site.is_active,
    }


def live_secrets(site: WidgetSite) -> list[WidgetSecret]:
    return [s for s in site.secrets if s.revoked_at is None]


def secret_by_kid(site: WidgetSite, kid: str | None) -> WidgetSecret | None:
    """The site's unrevoked signing key named ``kid``."""
    if not isinstance(kid, str) or not kid or len(kid) > 40:
        return None
    return db.session.scalar(
        select(WidgetSecret).where(
            WidgetSecret.site_id == site.id, WidgetSecret.kid == kid, WidgetSecret.revoked_at.is_(None)
        )
    )


def create_secret(actor: User | None, site: WidgetSite) -> tuple[WidgetSecret, str]:
    """A new signing key (a new ``kid``); the other live keys keep working until revoked, so the platform can
    switch over without a gap. Returns the row and its secret, which the admin page shows once."""
    kid = f"k{utcnow():%Y%m%d}-{secrets.token_hex(3)}"
    plain = secrets.token_urlsafe(48)  # 64 characters: above every HMAC key-length advice
    secret = WidgetSecret(site=site, kid=kid, secret=plain)
    db.session.add(secret)
    db.session.flush()
    audit.record(
        "settings.other",
        target_type="widget_secrets",
        target_id=secret.id,
        target_label=f"{site.name} key {kid}",
        detail="Widget signing key created",
        actor=actor,
    )
    return secret, plain


def revoke_secret(actor: User, site: WidgetSite, secret_id: int) -> WidgetSecret:
    secret = db.session.get(WidgetSecret, secret_id)
    if secret is None or secret.site_id != site.id:
        raise NotFound("No such key.")
    if secret.revoked_at is None:
        secret.revoked_at = utcnow()
        db.session.flush()
        audit.record(
            "settings.other",
            target_type="widget_secrets",
            target_id=secret.id,
            target_label=f"{site.name} key {secret.kid}",
            detail="Widget signing key revoked",
            actor=actor,
        )
    return secret


def rotate_secret(actor: User, site: WidgetSite, secret_id: int) -> tuple[WidgetSecret, str]:
    """Replace a key at once: a new key is made and the old one revoked in the same step (for a leaked key; a
    planned rotation adds a key first and revokes the old one once the platform signs with the new)."""
    revoke_secret(actor, site, secret_id)
    return create_secret(actor, site)


DEMO_SITE = "Demo ESG platform"
DEMO_ORIGINS = "http://127.0.0.1:5001\nhttp://localhost:5001"


def seed_demo(echo=print) -> dict[str, int]:
    """The demo's embedding site: a platform on port 5001 of this machine (``python -m tests.widget.host_server``
    serves one). Made once; its key's secret is printed then, as the admin page would show it."""
    if db.session.scalar(select(WidgetSite.id).where(WidgetSite.name == DEMO_SITE)) is not None:
        return {"widget_sites": 0}
    site, secret = create_site(
        None, name=DEMO_SITE, origins=DEMO_ORIGINS, verified_only=True, identity_mode="both", is_active=True
    )
    echo(f"widget: site key {site.public_key}, signing key {site.secrets[0].kid} secret {secret}")
    return {"widget_sites": 1}
