"""Periods: whole UTC days, both ends included, and how a query string names one.

A request names its period as `period=1d|2d|7d|30d|90d` (ending today; the
default is 30d) or `all` (from the first invocation), or as `from` and `to` (ISO
dates; `to` defaults to today). The API and the admin pages parse it here, so
they read the same parameters the same way.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Q
from django.utils import timezone

from agent_platform.errors import ApplicationError
from agent_platform.models import Tenant
from agents_app.models import Agent, Invocation
from agents_app.selectors import agent_check
from caching.models import DailyCacheRollup
from caching.settled import FirstDay, rollups_versions, settled_get, settled_put
from caching.statements import Statement, unfiltered

UTC = dt.UTC
ONE_DAY = dt.timedelta(days=1)
ONE_HOUR = dt.timedelta(hours=1)
# A period's end is the start of the day after its last: the calendar's last day cannot be in one.
LAST_DAY = dt.date.max - ONE_DAY

PERIOD_DAYS = {"1d": 1, "2d": 2, "7d": 7, "30d": 30, "90d": 90}
DEFAULT_PERIOD = "30d"


def utc_today() -> dt.date:
    return timezone.now().astimezone(UTC).date()


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=UTC)


def hour_start(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour `moment` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def days_between(day_from: dt.date, day_to: dt.date) -> Iterator[dt.date]:
    day = day_from
    while day <= day_to:
        yield day
        day += ONE_DAY


def day_ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days merged into inclusive (first, last) ranges."""
    ranges: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] + ONE_DAY == day:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [(first, last) for first, last in ranges]


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included."""

    day_from: dt.date
    day_to: dt.date
    name: str = "custom"

    @property
    def days(self) -> int:
        return (self.day_to - self.day_from).days + 1

    @property
    def start(self) -> dt.datetime:
        return day_start(self.day_from)

    @property
    def end(self) -> dt.datetime:
        """Exclusive."""
        return day_start(self.day_to + ONE_DAY)

    def covers(self, other: Period) -> bool:
        return self.day_from <= other.day_from and other.day_to <= self.day_to


def recent_periods(today: dt.date) -> dict[str, Period]:
    return {
        "last_7_days": Period(today - 6 * ONE_DAY, today, "7d"),
        "last_30_days": Period(today - 29 * ONE_DAY, today, "30d"),
    }


def first_invocation_day(*, tenant: Tenant, agent: Agent | None = None) -> dt.date | None:
    """The UTC day of the tenant's (or its agent's) first invocation: where the period `all` begins.

    Rollups count too: a month of invocations archived (`invocation_partitions --detach`) keeps its figures
    there, so `all` still begins with it.
    """
    owner = Q(agent_id=agent_check(tenant=tenant, agent=agent).pk) if agent is not None else Q(tenant_id=tenant.pk)
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    rolled = _first(DailyCacheRollup, "day", vendor).converted(owner)
    first_rolled = rolled[0][0] if rolled else None
    # Only an invocation before the first rolled-up day can begin `all` earlier: on PostgreSQL, the months
    # before it are all that is read (most often none).
    before = owner & Q(queued_at__lt=day_start(first_rolled)) if first_rolled else owner
    first = _first(Invocation, "queued_at", vendor).converted(before)
    return first[0][0].astimezone(UTC).date() if first else first_rolled


def kept_first_day(*, tenant: Tenant, agent: Agent | None = None) -> dt.date | None:
    """`first_invocation_day`, kept in the process under the tenant's rollups versions (`caching.settled`), as
    the figures are: asked again, the versions are one read where the first day was two.

    Only a rollup write can make the first day earlier (a backfill of older days) or later (a deletion is
    followed by one), and every rollup write is a new version. A new invocation is today's, after any first
    day kept; a tenant (or agent) with none yet keeps nothing, so its first is seen as soon as it comes.
    """
    agent_id = agent_check(tenant=tenant, agent=agent).pk if agent is not None else None
    key, versions = ("first day", tenant.pk, agent_id), rollups_versions(tenant.pk)
    found = settled_get(key)
    if isinstance(found, FirstDay) and found.versions == versions:
        return found.day
    first = first_invocation_day(tenant=tenant, agent=agent)
    if first is not None:
        settled_put(key, FirstDay(first, versions))
    return first


@functools.cache
def _first(model: type, column: str, vendor: str) -> Statement:
    """The lowest `column` of the model's rows, compiled once (`caching.statements`): every `all` asks."""
    return unfiltered(model.objects.order_by(column).values_list(column)[:1])


# --- Query parameters ----------------------------------------------------------------------------


def max_period_days() -> int:
    return int(getattr(settings, "CACHE_STATS_MAX_DAYS", 366))


def parse_day(value: str, name: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ApplicationError(f"{name} must be a date as YYYY-MM-DD, not {value!r}.", field=name) from None
    if day > LAST_DAY:
        raise ApplicationError(f"{name} must be a day no later than {LAST_DAY}, not {value!r}.", field=name)
    return day


def period_from_params(params, *, tenant: Tenant, agent: Agent | None = None, today: dt.date | None = None) -> Period:
    """The period a query dict asks for, or an ApplicationError naming the bad parameter."""
    today = today or utc_today()
    # A parameter given blank is given, and wrong: only one left out takes its default.
    name, raw_from, raw_to = params.get("period"), params.get("from"), params.get("to")
    if raw_from is not None or raw_to is not None:
        if name is not None:
            raise ApplicationError("Give either period or from/to, not both.", field="period")
        if raw_from is None:
            raise ApplicationError("from is required when to is given.", field="from")
        day_from = parse_day(raw_from, "from")
        day_to = parse_day(raw_to, "to") if raw_to is not None else today
        if day_from > day_to:
            raise ApplicationError(f"from ({day_from}) must not be after to ({day_to}).", field="from")
        period = Period(day_from, day_to)
        if period.days > max_period_days():
            raise ApplicationError(
                f"The range {day_from} to {day_to} is {period.days} days; at most {max_period_days()} are allowed.",
                field="from",
            )
        return period
    name = DEFAULT_PERIOD if name is None else name
    if name in PERIOD_DAYS:
        return Period(today - (PERIOD_DAYS[name] - 1) * ONE_DAY, today, name)
    if name == "all":
        # The whole history, from the first invocation: not subject to CACHE_STATS_MAX_DAYS.
        first = kept_first_day(tenant=tenant, agent=agent)
        return Period(min(first or today, today), today, "all")
    names = ", ".join(PERIOD_DAYS)
    raise ApplicationError(f"Unknown period {name!r}; use one of {names}, all, or from/to.", field="period")


def int_param(params, name: str, *, default: int, low: int, high: int) -> int:
    """A whole number between `low` and `high` from a query dict, or an ApplicationError naming it."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApplicationError(f"{name} must be a whole number, not {raw!r}.", field=name) from None
    if not low <= value <= high:
        raise ApplicationError(f"{name} must be between {low} and {high}.", field=name)
    return value
