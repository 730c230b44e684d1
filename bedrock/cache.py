"""The prompt cache: entries keyed by prefix hash, with a TTL on an injectable clock.

What one request does to it (``PromptCache.apply``):

- a checkpoint is *eligible* when the tokens before it reach the model's
  minimum (and, for Nova, do not exceed ``max_cached_tokens``); others cache
  nothing, silently;
- the *read* is the longest live entry found at an eligible checkpoint or, for
  a checkpoint in messages on a model with ``lookback_blocks`` (Claude's
  simplified caching), at any block boundary up to that many blocks before it;
  reading an entry resets its TTL;
- everything from the read up to the last eligible checkpoint is *written*,
  one entry per eligible checkpoint past the read, each with its own TTL, and
  the written tokens are split by TTL for ``usage.cacheDetails``: the tokens
  between two checkpoints belong to the later one's TTL;
- the rest of the request is plain input.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bedrock import facts
from bedrock.prefix import Prefix

MAX_ENTRIES = 200_000


class Clock:
    """Monotonic time plus an offset that tests (and ``POST /_emulator/clock``) advance instead of sleeping."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            return self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


@dataclass
class Entry:
    tokens: int
    ttl_seconds: int
    expires_at: float
    hits: int = 0
    # What a user looking at the cache wants to know besides its size and life.
    model_id: str = ""
    ttl: str = "5m"
    field: str = ""
    written_at: float = 0.0


@dataclass
class CacheUsage:
    read: int = 0
    write: int = 0
    # ttl -> written tokens
    write_by_ttl: dict[str, int] = field(default_factory=dict)

    def details(self) -> list[dict]:
        """``usage.cacheDetails``: written tokens by TTL, 1h before 5m as botocore's model documents."""
        written = self.write_by_ttl
        return [{"ttl": ttl, "inputTokens": written[ttl]} for ttl in facts.CACHE_DETAILS_ORDER if written.get(ttl)]


def eligible_checkpoints(prefix: Prefix, model: facts.ModelFacts) -> list:
    if not model.supports_caching:
        return []
    return [
        point
        for point in prefix.checkpoints
        if point.tokens >= model.cache_min_tokens
        and (model.max_cached_tokens is None or point.tokens <= model.max_cached_tokens)
    ]


def read_candidates(prefix: Prefix, model: facts.ModelFacts, eligible: list) -> set[int]:
    """Block boundaries where a cached prefix may be read."""
    positions = {point.position for point in eligible}
    for point in eligible:
        if point.field == facts.MESSAGES and model.lookback_blocks:
            start = max(1, point.position - model.lookback_blocks)
            positions.update(range(start, point.position))
    return positions


class PromptCache:
    """One cache of prefix entries. One lock guards all entries, so concurrent requests see a consistent cache."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.expires_at > self.clock.now())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self, now: float | None = None) -> list[dict]:
        """The live entries, soonest to expire first: model, prefix tokens, TTL, seconds left, hits."""
        with self._lock:
            now = self.clock.now() if now is None else now
            live = [(key, e) for key, e in self._entries.items() if e.expires_at > now]
        live.sort(key=lambda item: item[1].expires_at)
        return [
            {
                "model_id": e.model_id,
                "checkpoint_field": e.field,
                "prefix_tokens": e.tokens,
                "ttl": e.ttl,
                "expires_in_seconds": round(e.expires_at - now, 3),
                "age_seconds": round(now - e.written_at, 3),
                "hits": e.hits,
                "key": key[:16],
            }
            for key, e in live
        ]

    def apply(self, prefix: Prefix, model: facts.ModelFacts, *, now: float | None = None) -> CacheUsage:
        """Read and write this request's checkpoints; return the token split.

        `now` is the request's time on the cache's timeline (the clock's by default); a
        replay of past requests passes each one's own time so TTLs expire as they did.
        """
        eligible = eligible_checkpoints(prefix, model)
        usage = CacheUsage()
        if not eligible:
            return usage
        with self._lock:
            now = self.clock.now() if now is None else now
            read_position = 0
            entries, hashes = self._entries, prefix.hashes
            for position in sorted(read_candidates(prefix, model, eligible), reverse=True):
                # `_live`, inlined: this loop runs for every candidate block of every request.
                entry = entries.get(hashes[position])
                if entry is not None:
                    if entry.expires_at > now:
                        read_position = position
                        break
                    del entries[hashes[position]]
            # Touch every entry this request reads through: the one read and its own checkpoints before it.
            for position in {read_position} | {p.position for p in eligible if p.position <= read_position}:
                entry = self._live(prefix.hashes[position], now) if position else None
                if entry is not None:
                    entry.expires_at = now + entry.ttl_seconds
                    entry.hits += 1
            usage.read = prefix.tokens[read_position]
            written_to = read_position
            for point in eligible:
                if point.position <= written_to:
                    continue
                seconds = facts.TTL_SECONDS[point.ttl]
                entry = Entry(point.tokens, seconds, now + seconds, 0, model.model_id, point.ttl, point.field, now)
                self._store(prefix.hashes[point.position], entry, now)
                segment = point.tokens - prefix.tokens[written_to]
                usage.write_by_ttl[point.ttl] = usage.write_by_ttl.get(point.ttl, 0) + segment
                usage.write += segment
                written_to = point.position
        return usage

    def _live(self, key: str, now: float) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            del self._entries[key]
            return None
        return entry

    def _store(self, key: str, entry: Entry, now: float) -> None:
        self._entries[key] = entry
        if len(self._entries) > MAX_ENTRIES:
            # Expired entries go first; if that is not enough, the oldest-expiring ones.
            for stale in [k for k, e in self._entries.items() if e.expires_at <= now]:
                del self._entries[stale]
            overflow = len(self._entries) - MAX_ENTRIES
            if overflow > 0:
                for stale in sorted(self._entries, key=lambda k: self._entries[k].expires_at)[:overflow]:
                    del self._entries[stale]
