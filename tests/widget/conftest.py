"""Widget fixtures: a site with one live key, and signers for the two identity forms a platform sends."""

from __future__ import annotations

import time

import jwt
import pytest

from portal.extensions import db
from portal.models import Role
from portal.services.widget import identity, sites


@pytest.fixture
def make_site(make_user):
    """A site (and its first key's secret) created through the service, as the admin page does."""

    def make(origins: str = "https://platform.example.test", *, verified_only: bool = True, mode: str = "both", **kw):
        admin = make_user(Role.admin)
        site, secret = sites.create_site(
            admin, name=kw.pop("name", "ESG platform"), origins=origins, verified_only=verified_only, identity_mode=mode
        )
        db.session.commit()
        site.test_secret = secret  # the secret shown once; tests sign with it
        site.test_kid = site.secrets[0].kid
        return site

    return make


def sign(site, email: str, *, name: str = "Pat Platform", kid: str | None = None, secret: str | None = None, **claims):
    now = int(time.time())
    payload = {"email": email, "name": name, "iat": now, "exp": now + 300, **claims}
    return jwt.encode(payload, secret or site.test_secret, algorithm="HS256", headers={"kid": kid or site.test_kid})


def hmac_fields(site, email: str) -> dict:
    return {"email": email, "user_hash": identity.hmac_of(site.test_secret, email), "kid": site.test_kid}


@pytest.fixture
def start_session(client):
    """POST /widget/session as the frame does; returns the response."""

    def start(site, **fields):
        return client.post("/widget/session", json={"key": site.public_key, **fields})

    return start
