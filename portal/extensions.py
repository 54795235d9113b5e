"""Module-level extension objects, bound to the app in ``create_app`` with ``init_app``."""

from __future__ import annotations

from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from portal.client import client_ip
from portal.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
limiter = Limiter(key_func=client_ip, default_limits=[])
