"""Load the demo help-centre content from ``portal/kb_content/`` (part of ``flask demo seed``).

Layout: ``articles/<category-slug>/<slug>.md`` — a front-matter block between ``---`` lines with ``key: value`` lines
(title, tags, internal, video, summary) followed by Markdown — and ``faqs/<category-slug>.md`` with ``## Question``
headings, each followed by its answer, in display order. Idempotent: articles are matched by slug and FAQs by
question, so running it again adds only what is missing. Everything goes through the ``portal.services.kb``
services (revisions, index jobs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.models import Role, User
from portal.models.kb import Article, Faq, KbCategory
from portal.services.errors import ValidationFailed
from portal.services.kb.articles import ArticleInput, create_article, publish_article
from portal.services.kb.categories import ensure_kb_categories
from portal.services.kb.faqs import save_faq

CONTENT_DIR = Path(__file__).resolve().parents[2] / "kb_content"  # portal/kb_content
SEED_AUTHOR = "jennifer.lee@support.test"  # the demo team's admin
_QUESTION_RE = re.compile(r"^##\s+(.+?)\s*#*\s*$")


@dataclass
class ArticleFile:
    slug: str
    category: str
    meta: dict[str, str]
    body: str


def parse_article(path: Path) -> ArticleFile:
    """Split a content file into its front matter (``key: value`` lines) and Markdown body."""
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    meta: dict[str, str] = {}
    body = text
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end == -1:
            raise ValueError(f"{path}: front matter is not closed with ---")
        for line in text[4:end].split("\n"):
            if ":" in line:
                key, value = line.split(":", 1)
                meta[key.strip().lower()] = value.strip()
        body = text[end + 4 :].lstrip("-").lstrip("\n")
    return ArticleFile(slug=path.stem, category=path.parent.name, meta=meta, body=body.strip() + "\n")


def parse_faqs(path: Path) -> list[tuple[str, str]]:
    """``(question, answer)`` pairs in file order; text before the first ``##`` heading is ignored."""
    pairs: list[tuple[str, list[str]]] = []
    in_code = False
    for line in path.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _QUESTION_RE.match(line)
        if match:
            pairs.append((match.group(1).strip(), []))
        elif pairs:
            pairs[-1][1].append(line)
    return [(q, "\n".join(a).strip()) for q, a in pairs if "\n".join(a).strip()]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1", "on")


def seed_kb(echo: Callable[[str], None] = print, content_dir: Path = CONTENT_DIR) -> dict[str, int]:
    """Create the demo articles (published, authored by the admin) and FAQs that are missing."""
    echo("[KB] help centre: articles and FAQs")
    ensure_kb_categories()
    added = {"articles": 0, "faqs": 0}
    if not content_dir.is_dir():
        echo(f"      no KB content folder at {content_dir}; skipped")
        return added
    author = _author()
    files = sorted((content_dir / "articles").glob("*/*.md"))
    existing = set(db.session.scalars(select(Article.slug)))
    for number, path in enumerate(files, 1):
        item = parse_article(path)
        if item.slug not in existing:
            try:
                _add_article(author, item)
            except ValidationFailed as exc:
                echo(f"      {path.relative_to(content_dir)}: skipped ({'; '.join(exc.fields.values())})")
                continue
            added["articles"] += 1
        if number % 10 == 0 or number == len(files):
            echo(f"      articles: {number}/{len(files)} read, {added['articles']} added")
    added["faqs"] = _seed_faqs(author, content_dir / "faqs", echo)
    db.session.flush()
    return added


def _author() -> User:
    author = db.session.scalar(select(User).where(User.email == SEED_AUTHOR))
    if author is None:
        author = db.session.scalar(select(User).where(User.role == Role.admin).order_by(User.id))
    if author is None:
        raise RuntimeError(f"seed the users first: no admin ({SEED_AUTHOR}) to author the KB content")
    return author


def _add_article(author: User, item: ArticleFile) -> Article:
    data = ArticleInput(
        title=item.meta.get("title") or item.slug.replace("-", " ").capitalize(),
        body_markdown=item.body,
        category=item.category,
        summary=item.meta.get("summary", ""),
        tags=item.meta.get("tags", ""),
        internal_only=_truthy(item.meta.get("internal")),
        video_url=item.meta.get("video", ""),
        slug=item.slug,
    )
    article = create_article(author, data, note="Imported from the demo content")
    return publish_article(author, article)


def _seed_faqs(author: User, folder: Path, echo: Callable[[str], None]) -> int:
    added = 0
    known = {(c, q) for c, q in db.session.execute(select(Faq.category_id, Faq.question))}
    categories = {c.slug: c for c in db.session.scalars(select(KbCategory))}
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        category = categories.get(path.stem)
        if category is None:
            echo(f"      {path.name}: no KB category {path.stem!r}; skipped")
            continue
        for question, answer in parse_faqs(path):
            if (category.id, question[:300]) not in known:
                save_faq(author, None, category=category.slug, question=question[:300], answer_markdown=answer)
                added += 1
    echo(f"      FAQs: {added} added")
    return added
