from tests.status.conftest import _fresh_page_cache, components  # noqa: F401  (fixtures shared with tests/status)
