"""`GET /metrics`: Prometheus metrics of invocations, prompt caching and spend, read from the database at scrape time.

The web process and the Celery workers that run invocations are separate
processes, so in-process counters would only ever see the web's share. The
collector instead reads the all-time totals per agent on each scrape
(`caching.stats.cache_totals_by_agent`: rollups for settled days plus the
live invocations of the open ones, a fixed handful of queries however many
invocations there are). The timing histograms' buckets are rollup columns
too (`caching.histograms`), so no scrape scans the invocations table.

Names follow Prometheus's conventions: an `agent_platform_` prefix, the unit
in the name in base units (`_seconds`, `_tokens`, `_usd`), `_total` on
counters. Every series is labelled by tenant (slug), agent (name), agent_id
and model (the agent's current model id); a few add one label of their own
(`status`, `type`, `reason`, `part`). What counts follows `caching.sums`:
an invocation is counted once it has finished.

Net saving and the hit ratio are gauges, not counters: a first call's write
premium makes the net saving go down, and Prometheus reads any decrease of a
counter as a restart. Net saving's two monotonic parts, gross saving and
write premium, are counters.

Access: with `METRICS_TOKEN` set, scrapers send `Authorization: Bearer <token>`
(401 otherwise). Without it, the endpoint is open in development and answers
404 when `DJANGO_ENV=production`, so production never exposes it by accident.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from caching.stats import cache_totals_by_agent
from caching.sums import MISS_REASON_FIELDS
from caching.totals import CacheTotals

PREFIX = "agent_platform"
LABELS = ["tenant", "agent", "agent_id", "model"]

# name (without prefix and _total), help, extra label, {label value: CacheTotals attribute}
COUNTERS = [
    (
        "invocations",
        "Finished invocations, by how they ended.",
        "status",
        {"succeeded": "total_invocations", "failed": "failed_invocations"},
    ),
    (
        "invocation_attempts",
        "Attempts at the model calls of finished invocations: the service's runs and botocore's retries.",
        None,
        {"": "attempts"},
    ),
    (
        "invocation_retries",
        "Attempts that failed (throttled, 5xx, timed out, lost with a worker) and were tried again.",
        None,
        {"": "retried_attempts"},
    ),
    (
        "invocation_lost_attempts",
        "Attempts lost with a dead worker: the turn ran again, so Bedrock may have billed its model call twice.",
        None,
        {"": "lost_attempts"},
    ),
    (
        "cache_enabled_invocations",
        "Succeeded invocations that ran with prompt caching on.",
        None,
        {"": "caching_enabled_invocations"},
    ),
    ("cache_hit_invocations", "Succeeded invocations that read from the cache.", None, {"": "cache_hits"}),
    (
        "cache_reason_invocations",
        "Succeeded invocations with caching on, by why they read or wrote the cache (bedrock.misses).",
        "reason",
        {reason: name for reason, name in MISS_REASON_FIELDS.items()},
    ),
    (
        "tokens",
        "Tokens of succeeded invocations: input neither read from nor written to the cache, read from it, "
        "written to it, and output.",
        "type",
        {
            "input": "input_tokens",
            "cache_read": "cache_read_tokens",
            "cache_write": "cache_write_tokens",
            "output": "output_tokens",
        },
    ),
    (
        "spend_usd",
        "What succeeded invocations cost, in USD: input (with the cache) and output.",
        "part",
        {"input": "cost_with_cache", "output": "output_cost"},
    ),
    (
        "input_cost_without_cache_usd",
        "What the input of succeeded invocations would have cost had nothing been cached, in USD.",
        None,
        {"": "cost_without_cache"},
    ),
    (
        "cache_gross_savings_usd",
        "What cache reads saved against full-price input, in USD.",
        None,
        {"": "gross_savings"},
    ),
    (
        "cache_write_premium_usd",
        "What cache writes cost above full-price input, in USD.",
        None,
        {"": "write_premium"},
    ),
]
# name, help, CacheTotals attribute or property
GAUGES = [
    ("cache_net_savings_usd", "Gross saving minus write premium, in USD (may go down).", "net_savings"),
    (
        "cache_hit_ratio",
        "Share of succeeded invocations with caching on that read from the cache (0 to 1).",
        "hit_rate",
    ),
]
# name, help, histogram of `caching.histograms`
HISTOGRAMS = [
    (
        "invocation_duration_seconds",
        "How long the model calls of a succeeded invocation ran, in seconds.",
        "duration",
    ),
    (
        "invocation_queue_wait_seconds",
        "How long a finished invocation waited from queued to its first attempt's start, in seconds.",
        "queue_wait",
    ),
]


def metric_families(rows: list[tuple[object, CacheTotals]]) -> list:
    """Every metric family, with one sample (or histogram) per agent in `rows` (pairs of agent and totals)."""
    counters = []
    for name, help_text, extra, attributes in COUNTERS:
        family = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=LABELS + ([extra] if extra else []))
        for agent, totals in rows:
            for value, attribute in attributes.items():
                family.add_metric(_labels(agent) + ([value] if extra else []), float(getattr(totals, attribute)))
        counters.append(family)
    gauges = []
    for name, help_text, attribute in GAUGES:
        family = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=LABELS)
        for agent, totals in rows:
            family.add_metric(_labels(agent), float(getattr(totals, attribute)))
        gauges.append(family)
    histograms = []
    for name, help_text, histogram in HISTOGRAMS:
        family = HistogramMetricFamily(f"{PREFIX}_{name}", help_text, labels=LABELS)
        for agent, totals in rows:
            buckets, count, seconds = totals.histogram(histogram)
            family.add_metric(
                _labels(agent),
                buckets=[(format(bound, "g"), count_at) for bound, count_at in buckets] + [("+Inf", count)],
                sum_value=seconds,
            )
        histograms.append(family)
    return counters + gauges + histograms


def _labels(agent) -> list[str]:
    return [agent.tenant.slug, agent.name, str(agent.pk), agent.model.model_id]


class PlatformCollector:
    """A custom collector: every scrape reads the current totals from the database."""

    def collect(self):
        yield from metric_families(cache_totals_by_agent())

    def describe(self):
        return []


def _authorized(request) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "") or ""
    if not token:
        if getattr(settings, "DJANGO_ENV", "development") == "production":
            raise Http404
        return True
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics_view(request):
    if not _authorized(request):
        response = HttpResponse("Bearer token required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
