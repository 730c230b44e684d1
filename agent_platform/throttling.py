"""Rate limits counted in the shared cache, exactly, whichever process serves the request.

DRF's own throttles read a list of timestamps from the cache and write it back:
two processes serving requests at the same moment both read the same list, and
one write is lost, so a burst gets through several times over. Here each
window has one counter, and each request adds one to it in a single atomic step:
`INCR` in Redis; in the database cache (the embedded default), one transaction,
which SQLite's `BEGIN IMMEDIATE` (see DATABASES in settings) runs one at a time.
Windows are fixed (a minute for `/min`, an hour for `/hour`), aligned to the clock.
"""

from __future__ import annotations

import contextlib
import time

from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import router, transaction
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


def _counter(key: str, duration: int) -> tuple[str, float]:
    """The cache key of the current window's counter, and the seconds until the window ends."""
    now = time.time()
    window = int(now // duration)
    return f"throttle:{key}:{window}", (window + 1) * duration - now


def window_hit(key: str, duration: int) -> tuple[int, float]:
    """Count one request against `key` in the current window of `duration` seconds.

    Returns the requests counted in the window so far, this one included, and the seconds until it ends.
    """
    counter, remaining = _counter(key, duration)
    with _one_at_a_time():
        if cache.add(counter, 1, timeout=duration + 1):
            count = 1
        else:
            try:
                count = cache.incr(counter)
            except ValueError:  # expired between add and incr: the window just ended
                cache.set(counter, 1, timeout=duration + 1)
                count = 1
    return count, remaining


def window_count(key: str, duration: int) -> tuple[int, float]:
    """What `window_hit` would have counted so far, without counting."""
    counter, remaining = _counter(key, duration)
    return cache.get(counter, 0), remaining


def _one_at_a_time():
    """The database cache's add and incr are a read then a write: one transaction makes them one step."""
    backend = caches["default"]
    if isinstance(backend, DatabaseCache):
        return transaction.atomic(using=router.db_for_write(backend.cache_model_class))
    return contextlib.nullcontext()


class FixedWindowRateThrottle(SimpleRateThrottle):
    """DRF's rate throttle (rates like `10/min`, `get_cache_key`, Retry-After), counted by `window_hit`."""

    @property
    def THROTTLE_RATES(self):  # DRF binds the rates when its module loads: read them when asked instead
        return api_settings.DEFAULT_THROTTLE_RATES

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        count, self.remaining = window_hit(self.key, self.duration)
        return count <= self.num_requests

    def wait(self):
        return self.remaining
