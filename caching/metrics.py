"""`GET /metrics`: Prometheus metrics of prompt caching, read from the database at scrape time.

The web process and the Celery workers that run invocations are separate
processes, so in-process counters would only ever see the web's share. The
collector instead reads the all-time totals per agent (rollups for settled
days plus live invocations, `caching.stats.cache_totals_by_agent`) on each
scrape. Counters are labelled by tenant (slug), agent (name), agent_id and
model (the agent's current model id).

Net saving is a gauge, not a counter: a first call's write premium makes it go
down, and Prometheus reads any decrease of a counter as a restart. Its two
monotonic parts, gross saving and write premium, are counters.

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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from caching.stats import cache_totals_by_agent

PREFIX = "agent_platform_cache"
LABELS = ["tenant", "agent", "agent_id", "model"]

# (metric name without prefix and _total, CacheTotals attribute, help)
COUNTERS = [
    ("invocations", "total_invocations", "Succeeded invocations."),
    ("failed_invocations", "failed_invocations", "Failed invocations."),
    ("caching_enabled_invocations", "caching_enabled_invocations", "Succeeded invocations with caching enabled."),
    ("hits", "cache_hits", "Succeeded invocations that read from the cache."),
    ("input_tokens", "input_tokens", "Input tokens neither read from nor written to the cache."),
    ("read_tokens", "cache_read_tokens", "Input tokens read from the cache."),
    ("write_tokens", "cache_write_tokens", "Input tokens written to the cache."),
    ("output_tokens", "output_tokens", "Output tokens."),
    ("gross_savings_usd", "gross_savings", "What cache reads saved against full-price input, in USD."),
    ("write_premium_usd", "write_premium", "What cache writes cost above full-price input, in USD."),
    ("cost_with_cache_usd", "cost_with_cache", "Input cost with the cache, in USD."),
    ("cost_without_cache_usd", "cost_without_cache", "Input cost had nothing been cached, in USD."),
]


class CacheStatsCollector:
    """A custom collector: every scrape reads the current totals from the database."""

    def collect(self):
        rows = cache_totals_by_agent()
        counters = {
            name: CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=LABELS) for name, _, help_text in COUNTERS
        }
        net = GaugeMetricFamily(
            f"{PREFIX}_net_savings_usd", "Gross saving minus write premium, in USD (may go down).", labels=LABELS
        )
        for agent, totals in rows:
            labels = [agent.tenant.slug, agent.name, str(agent.pk), agent.model.model_id]
            for name, attribute, _ in COUNTERS:
                counters[name].add_metric(labels, float(getattr(totals, attribute)))
            net.add_metric(labels, float(totals.net_savings))
        yield from counters.values()
        yield net

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
    registry.register(CacheStatsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
