"""The demo KB content loader: parsing, idempotence, and (once the content exists) the size the issue asks for."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Role
from portal.models.kb import Article, ArticleStatus, Faq
from portal.services.kb.seed import CONTENT_DIR, parse_faqs, seed_kb


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_loader_parses_front_matter_and_faqs_and_is_idempotent(tmp_path, make_user):
    make_user(Role.admin)  # an earlier admin: the demo team's admin still authors the content
    make_user(Role.admin, email="jennifer.lee@support.test")
    _write(
        tmp_path / "articles/integrations/connecting-sap.md",
        "---\ntitle: Connecting SAP\ntags: sap, erp\n"
        "internal: true\nvideo: https://youtu.be/dQw4w9WgXcQ\nsummary: RFC user and ports\n---\n# Steps\n\nOne.\n",
    )
    _write(tmp_path / "articles/reporting/gri.md", "---\ntitle: GRI reports\ninternal: false\n---\nBody\n")
    _write(tmp_path / "articles/nowhere/lost.md", "---\ntitle: Lost\n---\nBody\n")
    _write(
        tmp_path / "faqs/admin.md",
        "Intro text\n\n## How do I add a user?\n\nGo to **Admin**.\n\n"
        "## Can I rename a role?\n\nNo.\n```\n## not a question\n```\n",
    )
    lines: list[str] = []
    first = seed_kb(lines.append, tmp_path)
    db.session.commit()
    assert first == {"articles": 2, "faqs": 2}
    assert any("nowhere/lost.md: skipped" in line for line in lines)
    sap = db.session.scalar(select(Article).where(Article.slug == "connecting-sap"))
    assert (sap.title, sap.internal_only, sap.tags, sap.status, sap.author.email, sap.summary) == (
        "Connecting SAP",
        True,
        "sap, erp",
        ArticleStatus.published,
        "jennifer.lee@support.test",
        "RFC user and ports",
    )
    assert sap.video_url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ" and sap.body_markdown.startswith("# Steps")
    faqs = db.session.scalars(select(Faq).order_by(Faq.position)).all()
    assert [f.question for f in faqs] == ["How do I add a user?", "Can I rename a role?"]
    assert "## not a question" in faqs[1].answer_markdown
    assert seed_kb(lines.append, tmp_path) == {"articles": 0, "faqs": 0}


@pytest.mark.skipif(not (CONTENT_DIR / "articles").is_dir(), reason="no demo content folder")
def test_demo_content_is_complete_and_loads(make_user):
    make_user(Role.admin, email="jennifer.lee@support.test")
    articles = sorted((CONTENT_DIR / "articles").glob("*/*.md"))
    faqs = sum(len(parse_faqs(p)) for p in (CONTENT_DIR / "faqs").glob("*.md"))
    lines: list[str] = []
    added = seed_kb(lines.append)
    db.session.commit()
    assert added["articles"] == len(articles), lines  # every file loads without a validation error
    assert added["faqs"] == faqs
    assert {p.parent.name for p in articles} <= {
        "getting-started",
        "data-entry",
        "reporting",
        "integrations",
        "troubleshooting",
        "admin",
    }
    assert db.session.scalar(select(func.count(Article.id))) >= 40
    if (CONTENT_DIR / "faqs").is_dir() and any((CONTENT_DIR / "faqs").glob("*.md")):
        assert db.session.scalar(select(func.count(Faq.id))) >= 25
    assert seed_kb(lines.append) == {"articles": 0, "faqs": 0}
