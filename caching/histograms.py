"""Histograms of invocation timings, kept as counts per bucket in the rollups like every other summed figure.

`/metrics` serves Prometheus histograms of how long a turn ran and how long it waited for a worker. A scrape
must not scan a million invocations for them, so each bucket is a rollup column (cumulative: the invocations
at or below the bound, as Prometheus's `le`), summed over closed days from the rollups and over the open part
from live rows, through the same totals engine (`caching.sums.SUM_FIELDS`) as tokens and money. Durations
are stored in whole milliseconds on the invocation (exact sums) and exported in seconds.

- `duration`: `Invocation.latency_ms`, the run of the model calls, of succeeded invocations.
- `queue_wait`: `Invocation.queue_wait_ms`, from queued to its first attempt's start, of finished invocations.
"""

from __future__ import annotations

from django.db.models import Count, Q, Sum

# Seconds; the last is the default INVOCATION_TIME_LIMIT. Changing them needs a migration of the rollups.
BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Histogram name -> the invocation's field (milliseconds) it counts.
HISTOGRAMS = {"duration": "latency_ms", "queue_wait": "queue_wait_ms"}


def bucket_field(histogram: str, bound: float) -> str:
    return f"{histogram}_le_{format(bound, 'g').replace('.', '_')}"


def count_field(histogram: str) -> str:
    return f"{histogram}_count"


def sum_field(histogram: str) -> str:
    return f"{histogram}_ms_sum"


COUNT_FIELDS = tuple(
    name
    for histogram in HISTOGRAMS
    for name in (*(bucket_field(histogram, bound) for bound in BUCKETS), count_field(histogram))
)
SUM_FIELDS = tuple(sum_field(histogram) for histogram in HISTOGRAMS)
FIELDS = COUNT_FIELDS + SUM_FIELDS


def histogram_sums(observed: dict[str, Q]) -> dict:
    """The aggregates of every histogram column, each over the invocations `observed[histogram]` selects."""
    sums = {}
    for histogram, source in HISTOGRAMS.items():
        counted = observed[histogram] & Q(**{f"{source}__isnull": False})
        for bound in BUCKETS:
            sums[bucket_field(histogram, bound)] = Count(
                "pk", filter=counted & Q(**{f"{source}__lte": round(bound * 1000)})
            )
        sums[count_field(histogram)] = Count("pk", filter=counted)
        sums[sum_field(histogram)] = Sum(source, filter=counted)
    return sums


def histogram_values(sums: dict[str, int], histogram: str) -> tuple[list[tuple[float, int]], int, float]:
    """(cumulative count per bound, count, sum in seconds) of one histogram, from summed columns."""
    buckets = [(bound, sums.get(bucket_field(histogram, bound), 0)) for bound in BUCKETS]
    return buckets, sums.get(count_field(histogram), 0), sums.get(sum_field(histogram), 0) / 1000
