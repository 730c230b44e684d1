"""What a session's figures are: the one definition behind the sessions list and the cache-stats sessions.

A session's figures are summed over its **succeeded** invocations: their
tokens and money, `invocations` (how many succeeded), `cache_hits`, and the
turn-by-turn figures below; `cost` is input with the cache plus output. Failed invocations are counted in
`failed_invocations` and nowhere else; queued and running ones are not counted
until they finish. This is the rule the cache stats count tenants and agents
by, so a session's figures add up to its agent's.

Turn by turn: the first succeeded turn's cache writes (`first_write_tokens`),
what later turns read back (`later_read_tokens`), the longest idle gap, and
how often the cache expired between two turns: the session idled longer than
Bedrock's default cache TTL (from the end of one succeeded invocation to the
start of the next) and the next one wrote the cache instead of reading it.

Running totals: the summable figures (`SESSION_TOTAL_FIELDS`) are also kept on
the session row, added to in the transaction that finishes each invocation
(`session_totals_succeeded`, `session_totals_failed`), so a list of sessions
reads and sorts by plain columns instead of summing invocations per row.
`session_totals_sums` is the same rule in SQL, which fills them from the rows
(`agents_app.services.session_totals`). An invocation finishes once and is
never edited after, and none is deleted but with its session, so the totals
stay equal to the rows' sums; archiving a month of invocations
(`invocation_partitions --detach`) keeps its figures here, as in the rollups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum

from agents_app.models import Invocation
from bedrock.facts import DEFAULT_TTL_SECONDS
from bedrock.misses import MISSES
from pricing.costs import TOKEN_FIELDS, Costs, TokenUsage, money, ratio, total_input_tokens

# Bedrock's default cache TTL: a session idle for longer finds its cache gone.
SESSION_CACHE_TTL = dt.timedelta(seconds=DEFAULT_TTL_SECONDS)

SESSION_ROW_FIELDS = (
    "session_id",
    "status",
    "queued_at",
    "started_at",
    "finished_at",
    "caching_enabled",
    "cache_hit",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "net_savings",
    "cost_with_cache",
    "output_cost",
    "cache_miss_reason",
)


@dataclass
class SessionCacheSummary:
    """One session's figures (see the module docstring), fed its invocations in order (`add`)."""

    id: int
    session_id: str
    invocations: int = 0
    failed_invocations: int = 0
    first_invoked_at: dt.datetime | None = None
    last_invoked_at: dt.datetime | None = None
    first_write_tokens: int = 0
    later_read_tokens: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cache_hits: int = 0
    net_savings: Decimal = Decimal(0)
    cost_with_cache: Decimal = Decimal(0)
    output_cost: Decimal = Decimal(0)
    cache_expirations: int = 0
    max_idle_seconds: float = 0
    # How many of its turns missed the cache, by reason (`Invocation.cache_miss_reason`; hits not counted).
    miss_reasons: dict[str, int] = field(default_factory=dict)
    _last_end: dt.datetime | None = field(default=None, repr=False)

    def add(self, row: dict) -> None:
        if row["status"] == Invocation.Status.FAILED:
            self.failed_invocations += 1
            return
        if row["status"] != Invocation.Status.SUCCEEDED:
            return
        start = row["started_at"] or row["queued_at"]
        read, write = row["cache_read_tokens"], row["cache_write_tokens"]
        if self.invocations == 0:
            self.first_invoked_at = row["queued_at"]
            self.first_write_tokens = write
        else:
            self.later_read_tokens += read
            idle = start - self._last_end
            self.max_idle_seconds = max(self.max_idle_seconds, idle.total_seconds())
            if idle > SESSION_CACHE_TTL and write and not read:
                self.cache_expirations += 1
        self.invocations += 1
        self.last_invoked_at = row["queued_at"]
        self._last_end = row["finished_at"] or start
        self.input_tokens += row["input_tokens"]
        self.cache_read_tokens += read
        self.cache_write_tokens += write
        self.output_tokens += row["output_tokens"]
        self.cache_hits += bool(row["cache_hit"])
        self.net_savings += row["net_savings"]
        self.cost_with_cache += row["cost_with_cache"]
        self.output_cost += row["output_cost"]
        if row["cache_miss_reason"] in MISSES:
            self.miss_reasons[row["cache_miss_reason"]] = self.miss_reasons.get(row["cache_miss_reason"], 0) + 1

    @property
    def cost(self) -> Decimal:
        """What the session spent: input with the cache plus output, the sum of the two figures rounded once."""
        return Decimal(money(self.cost_with_cache)) + Decimal(money(self.output_cost))

    @property
    def cached_tokens(self) -> int:
        return self.cache_read_tokens

    @property
    def uncached_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens

    @property
    def efficiency_ratio(self) -> float:
        total_input = total_input_tokens(self.input_tokens, self.cache_read_tokens, self.cache_write_tokens)
        return ratio(self.cache_read_tokens, total_input)

    @property
    def cache_expired(self) -> bool:
        return self.cache_expirations > 0


def session_rows(invocations: QuerySet[Invocation], *, names: bool = False) -> QuerySet:
    """The rows `session_summaries` reads: SESSION_ROW_FIELDS ordered by session, then time; with `names`,
    each session's own id too (joined, for reads of every session of a period).

    Reads of a few known sessions take their ids apart: joined to the sessions table, PostgreSQL prices the
    read of their hundred rows out of millions as worth a parallel plan, whose start costs more than the read.
    """
    fields = (*SESSION_ROW_FIELDS, "session__session_id") if names else SESSION_ROW_FIELDS
    return invocations.order_by("session_id", "queued_at", "id").values(*fields)


def session_summaries(rows: Iterable[dict], names: Mapping[int, str] | None = None) -> Iterator[SessionCacheSummary]:
    """Rows from `session_rows`: one summary per session, in the order of the rows. `names`: the sessions' own
    ids by pk, for rows read without them."""
    current = None
    for row in rows:
        if current is None or current.id != row["session_id"]:
            if current is not None:
                yield current
            name = names[row["session_id"]] if names is not None else row["session__session_id"]
            current = SessionCacheSummary(id=row["session_id"], session_id=name)
        current.add(row)
    if current is not None:
        yield current


# --- Running totals on the session row ------------------------------------------------------------

# The session's share of the invocation's tokens (`TokenUsage`) and money (`Costs`).
_MONEY = ("cost_with_cache", "output_cost", "net_savings")
_SUMMED = (*TOKEN_FIELDS, *_MONEY)
SESSION_TOTAL_FIELDS = (
    "succeeded_invocations",
    "failed_invocations",
    "caching_enabled_invocations",
    "cache_hits",
    *_SUMMED,
)


def session_totals_sums() -> dict:
    """The totals as aggregates over a session's invocation rows (names: `SESSION_TOTAL_FIELDS`)."""
    ok = Q(status=Invocation.Status.SUCCEEDED)
    return {
        "succeeded_invocations": Count("pk", filter=ok),
        "failed_invocations": Count("pk", filter=Q(status=Invocation.Status.FAILED)),
        "caching_enabled_invocations": Count("pk", filter=ok & Q(caching_enabled=True)),
        "cache_hits": Count("pk", filter=ok & Q(cache_hit=True)),
        **{name: Sum(name, filter=ok) for name in _SUMMED},
    }


def session_totals_succeeded(*, usage: TokenUsage, costs: Costs, caching_enabled: bool, cache_hit: bool | None) -> dict:
    """The session row's update for one more succeeded invocation (expressions: concurrent-safe)."""
    added = {
        "succeeded_invocations": 1,
        "caching_enabled_invocations": int(bool(caching_enabled)),
        "cache_hits": int(bool(cache_hit)),
        **{name: getattr(usage, name) for name in TOKEN_FIELDS},
        **{name: getattr(costs, name) for name in _MONEY},
    }
    return {name: F(name) + value for name, value in added.items() if value}


def session_totals_failed() -> dict:
    """The session row's update for one more failed invocation."""
    return {"failed_invocations": F("failed_invocations") + 1}
