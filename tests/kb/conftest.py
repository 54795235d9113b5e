"""The KB tests use the search fixtures (fresh Whoosh indexes, the index jobs, article and FAQ factories)."""

from tests.search.conftest import kb_category, make_article, make_faq, run_index_jobs, search_index  # noqa: F401
