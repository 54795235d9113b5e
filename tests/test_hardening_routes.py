"""The acceptance test of input hardening: every GET route of the app (pages, partials, the API), asked by each kind of
caller (anonymous, customer, agent, manager, admin; API rules with bearer tokens), with bad values in every query
parameter the code reads and with bad path values, never answers 5xx.

The seeded world is built once for this module (the demo data plus an SLA policy and a calendar) and removed at the
end; only GET requests are sent, so the tests do not change it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select, text

from portal import create_app, demo
from portal.extensions import db
from portal.models import Category, Organization, Role, Ticket, User
from portal.models.csat import CsatSurvey
from portal.models.kb import Article, ArticleRevision, ArticleStatus, Faq, KbCategory
from portal.models.sla import Calendar, SlaPolicy
from portal.services import csat, throttle
from portal.services.accounts import create_api_token, hash_password
from portal.services.catalog import ensure_default_categories
from portal.services.kb.categories import ensure_kb_categories
from tests.conftest import PASSWORD, _Config, _has_sqlite_sequence, login

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("anonymous", "customer", "agent", "manager", "admin")

# Every query parameter name the code reads (found in the source), plus the usual names of sorts, filters and pages.
_READ = re.compile(r"""(?:args|values|form)\.get(?:list)?\(\s*["']([A-Za-z_][\w\[\]]*)["']""")
_READ_TEMPLATES = re.compile(r"""request\.args\.get\(\s*["'](\w+)["']""")
COMMON_NAMES = [
    "page",
    "per_page",
    "sort",
    "order",
    "dir",
    "status",
    "priority",
    "tier",
    "category",
    "q",
    "since",
    "until",
    "from",
    "to",
    "date",
    "period",
    "day",
    "week",
    "month",
    "org",
    "organization",
    "agent",
    "agent_id",
    "assignee",
    "limit",
    "offset",
    "view",
    "tab",
    "days",
    "n",
    "year",
    "format",
    "external_id",
    "tz",
    "figure",
    "log",
    "rating",
    "t",
    "text",
    "needs_update",
    "role",
    "back",
    "next",
    "suggested",
    "subject",
    "description",
    "kind",
]


def _parameter_names() -> list[str]:
    names = set(COMMON_NAMES)
    for path in (ROOT / "portal").rglob("*.py"):
        names |= set(_READ.findall(path.read_text(encoding="utf-8")))
    for path in (ROOT / "portal" / "templates").rglob("*.html"):
        names |= set(_READ_TEMPLATES.findall(path.read_text(encoding="utf-8")))
    return sorted(names)


NAMES = _parameter_names()

# Bad values, already percent-encoded for a query string: each request applies ONE of them to every name.
BAD_VALUES = (
    "-1",
    "0",
    "99999999999999999999999",
    str(2**63),
    str(2**31),
    "1e9",
    "1.5",
    "+1",
    "%20%201%20",
    quote("١٢"),  # Arabic-Indic digits: str.isdigit() is true and int() accepts them
    quote("²"),  # superscript two: str.isdigit() is true and int() refuses it
    quote("𝟗"),
    "abc",
    "",
    "%00",
    "a%00b",
    "%01%1F%7F",
    "%ED%A0%80",  # a lone surrogate (U+D800) in UTF-8: not valid text
    "%FF%FE",
    "%E2%80%A8",  # LINE SEPARATOR
    "%0D%0ASet-Cookie:x=1",
    "%25",
    "null",
    "true",
    "x" * 1000,
    "2024-13-45",
    "9999-12-31",
    "0001-01-01",
    "-99999999999999999999-01-01",
)


def _query(value: str, names=NAMES) -> str:
    return "&".join(f"{name}={value}" for name in names)


def _array_queries() -> list[str]:
    return [
        "&".join(f"{name}=1&{name}=2" for name in NAMES),
        "&".join(f"{name}[]=1" for name in NAMES),
        "&".join(f"{name}[0]=1&{name}[a][b]=2" for name in NAMES),
        "&".join(f"{name}" for name in NAMES),  # names without "="
    ]


QUERIES = [_query(v) for v in BAD_VALUES] + _array_queries()
# One name at a time: the values that break number and choice readers.
ONE_NAME_VALUES = ("-1", "0", "99999999999999999999999", str(2**31), str(2**63), "1e9", quote("١٢"), quote("²"), "abc")


def _rules():
    app = create_app(_Config)
    return sorted(
        (r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint != "static"), key=lambda r: r.rule
    )


RULES = _rules()

# Bad path values per converter type: out-of-range and odd ids, odd strings.
BAD_INTS = ("0", str(2**31), str(2**31 - 1), str(2**63), "9" * 30)
BAD_STRINGS = (
    "ESG-999999999999999999999",
    "ESG-2147483648",
    "ESG-0",
    "999999999999",
    "article:999999999999",
    "faq:2147483648",
    "%00",
    "%ED%A0%80",
    "x" * 600,
    "%E2%80%A8",
)


def _role_user(role: str) -> User:
    return db.session.scalar(
        select(User)
        .where(User.role == Role(role), User.is_active_account.is_(True), User.is_approved.is_(True))
        .order_by(User.id)
    )


def _signed_in(app, email: str):
    client = app.test_client()
    assert login(client, email).status_code == 302, email
    assert client.get("/profile").status_code == 200, email  # really signed in
    return client


@pytest.fixture(scope="module")
def world(app):
    """The demo world (organizations, each staff role, customers, tickets, KB articles and FAQs, CSAT surveys) plus
    an SLA calendar and policy; a signed-in client per role and an API token per role."""
    saved_limit = app.config.get("API_RATE_LIMIT")
    app.config["API_RATE_LIMIT"] = "1000000 per minute"
    # event streams (chat) end after their first look: each GET here reads its whole response (buffered)
    saved_stream = app.config.get("CHAT_STREAM_SECONDS")
    app.config["CHAT_STREAM_SECONDS"] = 0
    with app.app_context():
        demo.seed(echo=lambda _line: None)
        calendar = Calendar(name="Office hours", timezone="Europe/London", always_open=True, weekly_hours={})
        db.session.add(calendar)
        db.session.flush()
        org = db.session.scalar(select(Organization).order_by(Organization.id))
        db.session.add(SlaPolicy(name="Default", organization_id=None, calendar_id=calendar.id))
        db.session.add(SlaPolicy(name=org.name, organization_id=org.id))
        admin = User(
            email="admin-hardening@example.test",
            name="Admin Hardening",
            role=Role.admin,
            password_hash=hash_password(PASSWORD),
            specializations=[],
        )
        db.session.add(admin)
        db.session.commit()
        users = {role: _role_user(role) for role in ROLES if role != "anonymous"}
        for user in users.values():
            if user.email_verified_at is None:
                from portal.models import utcnow

                user.email_verified_at = utcnow()
            user.password_hash = hash_password(PASSWORD)
        tokens = {"anonymous": {}}
        for role, user in users.items():
            _, plain = create_api_token(user)
            tokens[role] = {"Authorization": f"Bearer {plain}"}
        emails = {role: user.email for role, user in users.items()}
        db.session.commit()
        customer = users["customer"]
        ticket = db.session.scalar(
            select(Ticket).where(Ticket.organization_id == customer.organization_id).order_by(Ticket.id)
        )
        article = db.session.scalar(select(Article).where(Article.status == ArticleStatus.published))
        survey = db.session.scalar(select(CsatSurvey).order_by(CsatSurvey.id))
        faq = db.session.scalar(select(Faq).order_by(Faq.id))
        kb_category = db.session.scalar(select(KbCategory).order_by(KbCategory.id))
        values = {
            "reference": ticket.reference,
            "category_id": db.session.scalar(select(Category.id)),
            "article_id": article.id,
            "revision_id": db.session.scalar(
                select(ArticleRevision.id).where(ArticleRevision.article_id == article.id)
            ),
            "faq_id": faq.id,
            "organization_id": org.id,
            "calendar_id": calendar.id,
            "policy_id": db.session.scalar(select(SlaPolicy.id).where(SlaPolicy.organization_id == org.id)),
            "user_id": customer.id,
            "table": "summary",
            "token": csat.token_for(survey),
            "doc_id": f"article:{article.id}",
            ("kb.article", "slug"): article.slug,
            ("kb.category", "slug"): kb_category.slug,
            ("kb.category_faqs", "slug"): kb_category.slug,
        }
        db.session.commit()
        db.session.close()  # no read transaction left open while the sign-ins write (SQLite)
        clients = {"anonymous": app.test_client()}
        for role, email in emails.items():
            clients[role] = _signed_in(app, email)
    yield {"clients": clients, "tokens": tokens, "values": values}
    app.config["API_RATE_LIMIT"] = saved_limit
    app.config["CHAT_STREAM_SECONDS"] = saved_stream
    with app.app_context():
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as conn:
            tables = list(reversed(db.metadata.sorted_tables))
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
                if _has_sqlite_sequence(conn):
                    conn.execute(text("DELETE FROM sqlite_sequence"))
        ensure_default_categories()
        ensure_kb_categories()
        db.session.commit()
        throttle.reset_all()


@pytest.fixture(autouse=True)
def _clean_database(app, world):
    """This module keeps its world between tests (only GET requests are sent); ``world`` cleans up at the end."""
    with app.app_context():
        yield
        db.session.rollback()
        db.session.remove()


def _path(rule, values: dict, override: dict | None = None) -> str:
    def fill(match):
        name = match.group(1)
        if override and name in override:
            return override[name]
        value = values.get((rule.endpoint, name), values.get(name, "1"))
        return quote(str(value), safe=":")

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", fill, rule.rule)


def _bad_paths(rule) -> list[str]:
    paths = []
    for name, converter in rule._converters.items():
        bad = (
            BAD_INTS
            if type(converter).__name__ == "IntegerConverter" or "int" in type(converter).__name__.lower()
            else BAD_STRINGS
        )
        paths += [(name, value) for value in bad]
    return paths


def test_the_walk_covers_pages_partials_and_the_api():
    endpoints = {r.endpoint for r in RULES}
    assert len(RULES) >= 60
    assert {
        "agent.queue",
        "agent.counts",
        "api.list_tickets_",
        "api.summary",
        "kb.search",
        "reports.index",
    } <= endpoints
    assert {"page", "per_page", "sort", "status", "q", "from", "to", "agent_id", "days", "period"} <= set(NAMES)


def _names_read_by(app, rule) -> set[str]:
    """The query parameters the module of ``rule``'s view reads (and those its shared readers read)."""
    view = inspect.unwrap(app.view_functions[rule.endpoint])
    source = Path(inspect.getsourcefile(view)).read_text(encoding="utf-8")
    names = set(_READ.findall(source))
    if "from_args" in source:
        names |= {"view", "status", "priority", "category", "assignee", "organization", "q", "sort"}
    if "page_number" in source or "page_param" in source:
        names.add("page")
    if "Period.parse" in source:
        names |= {"from", "to", "tz"}
    return names


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.endpoint)
def test_no_bad_query_value_or_path_value_is_a_server_error(app, world, rule):
    """Every bad value in every parameter name at once (each caller in turn), then one name at a time with the
    values that matter for numbers and choices (as the callers that reach the view), then bad path values."""
    api = rule.endpoint.startswith("api.")
    failures = []

    def get(role: str, path: str, query: str = ""):
        client = world["clients"]["anonymous" if api else role]
        headers = world["tokens"][role] if api else {}
        response = client.get(path, query_string=query, headers=headers, buffered=True)
        if response.status_code >= 500:
            failures.append((role, path[:80], query[:80], response.status_code))
        return response

    good = _path(rule, world["values"])
    reach = [role for role in ROLES if get(role, good).status_code == 200] or ["admin"]
    for index, query in enumerate(QUERIES):
        get(ROLES[index % len(ROLES)], good, query)
    for role in dict.fromkeys((reach[0], reach[-1])):
        for name in sorted(_names_read_by(app, rule)):
            for value in ONE_NAME_VALUES:
                get(role, good, f"{name}={value}")
            get(role, good, f"{name}=1&{name}=2")
        for number, (name, value) in enumerate(_bad_paths(rule)):
            get(role, _path(rule, world["values"], {name: value}), QUERIES[number % len(QUERIES)] if number % 2 else "")
    print(rule.endpoint, reach, len(failures))
    assert not failures, failures[:10]


# Tables a GET may add rows to: read-side logs (searches typed or looked up, report downloads in the audit log,
# the sign-in session's last-seen time).
READ_SIDE_LOGS = {"kb_search_logs", "audit_log", "user_sessions"}


def _row_counts() -> dict[str, int]:
    tables = db.metadata.sorted_tables
    query = " UNION ALL ".join(f"SELECT '{t.name}', COUNT(*) FROM {t.name}" for t in tables)
    with db.engine.connect() as conn:
        return dict(conn.execute(text(query)).all())


def test_no_get_request_changes_data(world):
    """A GET (every rule, every caller, real ids) adds or removes no row outside the read-side logs: every change
    of state is a POST/PATCH/DELETE, which the CSRF check guards (tests/test_routes_security.py)."""
    changed = []
    for rule in RULES:
        path = _path(rule, world["values"])
        for role in ROLES:
            api = rule.endpoint.startswith("api.")
            client = world["clients"]["anonymous" if api else role]
            before = _row_counts()
            client.get(path, headers=world["tokens"][role] if api else {}, buffered=True)
            after = _row_counts()
            diff = {name for name in after if after[name] != before.get(name) and name not in READ_SIDE_LOGS}
            if diff:
                changed.append((rule.endpoint, role, sorted(diff)))
    assert not changed, changed
