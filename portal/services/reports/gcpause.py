"""Building a report creates some 10^5 short tuples; CPython's cyclic garbage collector, triggered by that many
allocations, would walk every live object of the process again and again (more time than the report itself). The
report functions run with it paused; reference counting still frees everything as usual."""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

T = TypeVar("T")


def collector_paused(function: Callable[..., T]) -> Callable[..., T]:
    """Run ``function`` with the cyclic garbage collector paused (and resumed after, if it was running)."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return wrapper
