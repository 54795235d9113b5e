"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi run``."""

import sys

from dotenv import load_dotenv

load_dotenv()

from portal import create_app  # noqa: E402
from portal.config import InsecureSecretKey  # noqa: E402

try:
    app = create_app()
except InsecureSecretKey as exc:
    # A clear message and exit status 4, which gunicorn's arbiter treats as "the app failed to load": it stops
    # instead of restarting workers that can never start.
    print(exc, file=sys.stderr)
    sys.exit(4)
