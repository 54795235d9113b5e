"""KB curation workflow, reading rules, feedback and FAQ ordering, through the services."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, Role
from portal.models.kb import Article, ArticleStatus, Faq
from portal.services.errors import Forbidden, ValidationFailed
from portal.services.kb.articles import (
    ArticleConflict,
    ArticleInput,
    clear_needs_update,
    create_article,
    publish_article,
    restore_revision,
    update_article,
)
from portal.services.kb.curation import needs_update_queue, negative_feedback
from portal.services.kb.faqs import move_faq, save_faq
from portal.services.kb.feedback import record_feedback
from portal.services.kb.revisions import revision_diff, revisions
from portal.services.kb.video import parse_video_url


def _input(**overrides) -> ArticleInput:
    values = dict(
        title="Import ESG data from CSV",
        body_markdown="Use **Data → Import**.",
        category="data-entry",
        summary="Bulk import",
        tags="Import, CSV, csv",
    )
    values.update(overrides)
    return ArticleInput(**values)


def test_create_edit_publish_records_revisions_and_index_jobs(make_user):
    admin = make_user(Role.admin)
    article = create_article(admin, _input())
    assert (article.status, article.version, article.slug, article.tags) == (
        ArticleStatus.draft,
        1,
        "import-esg-data-from-csv",
        "import, csv",
    )
    update_article(
        admin,
        article,
        _input(body_markdown="Use **Data → Import** and check the preview."),
        expected_version=1,
        note="clarified",
    )
    publish_article(admin, article, expected_version=2)
    db.session.commit()
    assert (article.status, article.version) == (ArticleStatus.published, 3)
    assert article.published_at is not None
    revs = revisions(article)
    assert [(r.version, r.note) for r in revs] == [(3, "Published"), (2, "clarified"), (1, "Created")]
    assert [r.contribution for r in revs] == ["published", None, None]  # what the reports count
    update_article(admin, article, _input(body_markdown="Now with screenshots."), expected_version=3)
    assert revisions(article)[0].contribution == "updated"
    revs = revs[1:]
    diff = revision_diff(revs[1], revs[0])
    assert ("del", "Use **Data → Import**.") in [(d.kind, d.text) for d in diff]
    assert ("add", "Use **Data → Import** and check the preview.") in [(d.kind, d.text) for d in diff]
    jobs = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "index.article")).all()
    assert len(jobs) == 4 and all(j.payload == {"article_id": article.id} for j in jobs)


def test_stale_version_is_a_conflict_and_writes_nothing(make_user):
    admin = make_user(Role.admin)
    article = create_article(admin, _input())
    update_article(admin, article, _input(title="Second"), expected_version=1)
    db.session.commit()
    with pytest.raises(ArticleConflict) as caught:
        update_article(admin, article, _input(title="Stale"), expected_version=1)
    assert caught.value.status_code == 409 and "version 1" in caught.value.message
    db.session.rollback()
    assert db.session.get(Article, article.id).title == "Second"


def test_restore_revision_makes_old_text_current_as_a_new_revision(make_user):
    admin = make_user(Role.admin)
    article = create_article(admin, _input(body_markdown="original"))
    update_article(admin, article, _input(body_markdown="rewritten"), expected_version=1)
    first = revisions(article)[-1]
    restore_revision(admin, article, first, expected_version=2)
    db.session.commit()
    assert article.body_markdown == "original" and article.version == 3
    assert revisions(article)[0].note == "Restored version 1"


def test_validation_and_video_allow_list(make_user):
    admin = make_user(Role.admin)
    with pytest.raises(ValidationFailed) as caught:
        create_article(admin, _input(title="", category="nope", video_url="https://evil.test/watch?v=abc"))
    assert set(caught.value.fields) == {"title", "category", "video_url"}
    article = create_article(admin, _input(video_url="https://youtu.be/dQw4w9WgXcQ"))
    assert article.video_url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert parse_video_url("https://vimeo.com/76979871").embed_url == "https://player.vimeo.com/video/76979871?dnt=1"
    assert parse_video_url("https://www.youtube.com/watch?v=dQw4w9WgXcQ").embed_url.startswith(
        "https://www.youtube-nocookie.com/embed/"
    )
    for bad in (
        "javascript:alert(1)",
        "https://youtube.com.evil.test/watch?v=dQw4w9WgXcQ",
        "https://user@youtube.com/watch?v=dQw4w9WgXcQ",
        "ftp://vimeo.com/1",
        "https://youtu.be/<x>",
    ):
        assert parse_video_url(bad) is None, bad


def test_agents_contribute_drafts_only(make_user):
    agent, admin = make_user(Role.agent), make_user(Role.admin)
    article = create_article(agent, _input())
    update_article(agent, article, _input(title="Better title"), expected_version=1)
    with pytest.raises(Forbidden):
        publish_article(agent, article)
    publish_article(admin, article)
    with pytest.raises(Forbidden):
        update_article(agent, article, _input(title="After publishing"), expected_version=article.version)
    with pytest.raises(Forbidden):
        create_article(make_user(Role.customer), _input())


def test_feedback_counts_once_per_voter_and_fills_needs_update_queue(make_user):
    admin = make_user(Role.admin)
    article = create_article(admin, _input())
    publish_article(admin, article)
    record_feedback(article, helpful=True, voter_key="s:a")
    record_feedback(article, helpful=True, voter_key="s:a")  # same voter: still one vote
    assert (article.helpful_yes, article.helpful_no, article.needs_update) == (1, 0, False)
    record_feedback(article, helpful=False, voter_key="s:a")  # changed their mind
    record_feedback(article, helpful=False, voter_key="s:b")
    assert (article.helpful_yes, article.helpful_no, article.needs_update) == (0, 2, False)
    record_feedback(article, helpful=False, voter_key="s:c")  # third "no" since the last edit
    db.session.commit()
    assert article.needs_update and needs_update_queue() == [article]
    clear_needs_update(admin, article)
    assert not article.needs_update
    record_feedback(article, helpful=False, reason="Step 3 shows an old screen", user=make_user())
    assert article.needs_update
    assert negative_feedback(article)[0].reason == "Step 3 shows an old screen"


def test_faq_save_and_reorder(make_user):
    admin = make_user(Role.admin)
    faqs = [save_faq(admin, None, category="reporting", question=f"Q{i}?", answer_markdown="A") for i in range(3)]
    assert [f.position for f in faqs] == [0, 1, 2]
    move_faq(admin, faqs[2], "up")
    move_faq(admin, faqs[0], "up")  # already first: stays
    db.session.commit()
    order = [f.question for f in db.session.scalars(select(Faq).order_by(Faq.position))]
    assert order == ["Q0?", "Q2?", "Q1?"]
    with pytest.raises(Forbidden):
        move_faq(make_user(Role.agent), faqs[0], "down")
