"""Session leases kept alive while their turns run: one heartbeat thread per worker process renews them all.

A worker runs a session's turn under the session's lease (`AgentSession.lease_token` and `lease_until`,
taken by the invocation service). The lease is short (`INVOCATION_LEASE_SECONDS`, 30 s) and renewed every
`INVOCATION_LEASE_HEARTBEAT` seconds (10) while the turn runs, so a live worker keeps it however long the
model answers, and a dead worker's lease lapses within a lease's length of its death. Then the stale-invocation
sweeper or the task's retry hands the turn to another worker.

One thread per process renews every lease the process holds with one UPDATE per beat, whatever the number of
turns in flight (a thread per turn would double the worker's threads); it runs while the process runs a turn,
and holds no database connection between beats. A renewal is conditional on the token
and on the lease not having lapsed yet, so it never revives a lease another worker may already have taken;
a lease found lost is dropped and logged (its turn can no longer store anything).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents_app.models import AgentSession

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_held: dict[str, int] = {}  # lease token -> session pk, for the turns this process is running
_heartbeat_thread: threading.Thread | None = None  # runs while `_held` is not empty


@contextmanager
def session_lease_kept(session_pk: int, token: str) -> Iterator[None]:
    """Keep the session's lease (held under `token`) renewed until the block ends, however it ends."""
    global _heartbeat_thread
    with _lock:
        _held[token] = session_pk
        # After a fork the parent's thread is not running here (`is_alive()` is False): start one.
        if _heartbeat_thread is None or not _heartbeat_thread.is_alive():
            _heartbeat_thread = threading.Thread(target=_heartbeat, name="session-lease-heartbeat", daemon=True)
            _heartbeat_thread.start()
    try:
        yield
    finally:
        with _lock:
            _forget(token)


def _forget(token: str) -> None:
    """Stop renewing `token`'s lease; the heartbeat thread ends with the last one (called under `_lock`)."""
    global _heartbeat_thread
    _held.pop(token, None)
    if not _held:
        _heartbeat_thread = None


def session_leases_renew() -> int:
    """Renew every lease this process holds that is still its own and has not lapsed; returns how many."""
    with _lock:
        held = dict(_held)
    if not held:
        return 0
    now = timezone.now()
    mine = AgentSession.objects.filter(lease_token__in=list(held), lease_until__gt=now)
    renewed = mine.update(lease_until=now + timedelta(seconds=settings.INVOCATION_LEASE_SECONDS))
    if renewed < len(held):
        kept = set(
            AgentSession.objects.filter(lease_token__in=list(held), lease_until__gt=now).values_list(
                "lease_token", flat=True
            )
        )
        with _lock:
            # A turn that ended meanwhile released its lease: only the ones still running were lost.
            lost = {token: pk for token, pk in held.items() if token not in kept and token in _held}
            for token in lost:
                _forget(token)
        for session_pk in lost.values():
            logger.warning(
                "the lease of session %s lapsed while its turn ran; it is no longer renewed, and if another "
                "worker takes the turn over this run's result will not be stored",
                session_pk,
            )
    return renewed


def _heartbeat() -> None:
    last_beat = time.monotonic()
    while True:
        # Short sleeps, so a changed interval (tests change it) applies within a second.
        due = last_beat + settings.INVOCATION_LEASE_HEARTBEAT
        time.sleep(min(1.0, max(0.05, due - time.monotonic())))
        with _lock:
            if _heartbeat_thread is not threading.current_thread():
                return  # nothing left to renew (a later turn starts a thread of its own)
        if time.monotonic() < last_beat + settings.INVOCATION_LEASE_HEARTBEAT:
            continue
        last_beat = time.monotonic()
        try:
            session_leases_renew()
        except Exception:  # a database hiccup: the next beat tries again, well before the leases lapse
            logger.warning("could not renew the session leases of this process", exc_info=True)
        finally:
            _connection_return()


def _connection_return() -> None:
    """The heartbeat holds no database connection between beats (a pooled one goes back to the pool)."""
    connection.close()
