"""GET /metrics: Prometheus metrics read from the database at scrape time, named by Prometheus's conventions,
protected in production, and the Grafana dashboard built on them."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents_app.models import Invocation
from caching import services
from caching.periods import utc_today
from tests.caching.stats_data import EXPECTED, add_invocation, at, seed_support_agent

pytestmark = pytest.mark.django_db

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "agent-platform.json"
# The names served before the rename; none may come back.
ONE_DAY = dt.timedelta(days=1)
OLD_NAMES = ("agent_platform_cache_invocations", "agent_platform_cache_hits", "agent_platform_cache_read_tokens")


def families(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def samples(client) -> dict:
    """(sample name, tenant, agent, the sample's own extra label value or None) -> sample."""
    out = {}
    for family in families(client).values():
        for sample in family.samples:
            extra = {k: v for k, v in sample.labels.items() if k not in ("tenant", "agent", "agent_id", "model")}
            out[(sample.name, sample.labels["tenant"], sample.labels["agent"], *extra.values())] = sample
    return out


@pytest.mark.postgres
@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rollups"])
def test_counters_hold_each_agents_all_time_totals(client, agent, other_agent, rolled_up, clock_at_noon):
    seed_support_agent(agent)
    seed_support_agent(other_agent)
    if rolled_up:
        services.rollups_refresh(tenant=agent.tenant)

    got = samples(client)

    def value(name, *extra, tenant="acme", agent_name="Support"):
        return got[(f"agent_platform_{name}", tenant, agent_name, *extra)].value

    assert value("invocations_total", "succeeded") == EXPECTED["total_invocations"]
    assert value("invocations_total", "failed") == 1
    assert value("cache_enabled_invocations_total") == EXPECTED["caching_enabled_invocations"]
    assert value("cache_hit_invocations_total") == EXPECTED["cache_hits"]
    assert value("cache_hit_ratio") == EXPECTED["hit_rate"]
    assert value("tokens_total", "input") == EXPECTED["input_tokens"]
    assert value("tokens_total", "cache_read") == EXPECTED["cache_read_tokens"]
    assert value("tokens_total", "cache_write") == EXPECTED["cache_write_tokens"]
    assert value("tokens_total", "output") == EXPECTED["output_tokens"]
    assert value("spend_usd_total", "input") == pytest.approx(float(EXPECTED["cost_with_cache"]))
    assert value("spend_usd_total", "output") == pytest.approx(float(EXPECTED["output_cost"]))
    assert value("input_cost_without_cache_usd_total") == pytest.approx(float(EXPECTED["cost_without_cache"]))
    assert value("cache_gross_savings_usd_total") == pytest.approx(0.0108)
    assert value("cache_write_premium_usd_total") == pytest.approx(0.003375)
    assert value("cache_net_savings_usd") == pytest.approx(0.007425)
    assert value("invocations_total", "succeeded", tenant="globex", agent_name="Globex support") == 5
    labels = got[("agent_platform_invocations_total", "acme", "Support", "succeeded")].labels
    assert labels == {
        "tenant": "acme",
        "agent": "Support",
        "agent_id": str(agent.pk),
        "model": agent.model.model_id,
        "status": "succeeded",
    }


@pytest.mark.postgres
def test_histograms_and_attempts_are_the_same_from_rollups_as_from_the_invocations(client, agent, clock_at_noon):
    today = utc_today()
    for n, day in enumerate([today - 2 * ONE_DAY, today - ONE_DAY, today], start=1):
        add_invocation(agent, at(day, 9), session=f"s{n}", latency_ms=800 * n, queue_wait_ms=20 * n, attempts=n)
        add_invocation(agent, at(day, 10), session=f"s{n}", latency_ms=45_000, queue_wait_ms=3_000, lost=1)
        add_invocation(
            agent, at(day, 11), session=f"s{n}", status=Invocation.Status.FAILED, queue_wait_ms=7, attempts=5
        )
    raw = families(client)

    services.rollups_refresh(tenant=agent.tenant)
    rolled = families(client)

    assert rolled == raw
    duration = {s.labels.get("le"): s.value for s in raw["agent_platform_invocation_duration_seconds"].samples}
    # 0.8, 1.6 and 2.4 s, and three of 45 s (the failed ones are not timed).
    assert (duration["1"], duration["2.5"], duration["30"], duration["60"], duration["+Inf"]) == (1, 3, 3, 6, 6)
    wait = {(s.name, s.labels.get("le")): s.value for s in raw["agent_platform_invocation_queue_wait_seconds"].samples}
    assert wait[("agent_platform_invocation_queue_wait_seconds_count", None)] == 9  # failed ones waited too
    assert wait[("agent_platform_invocation_queue_wait_seconds_sum", None)] == pytest.approx(0.12 + 9 + 0.021)
    attempts = {
        s.name: s.value
        for name in ("attempts", "retries", "lost_attempts")
        for s in raw[f"agent_platform_invocation_{name}"].samples
    }
    # (1 + 2 + 3) + 3 x 2 (lost once, then done) + 3 x 5 (failed)
    assert attempts["agent_platform_invocation_attempts_total"] == 27
    assert attempts["agent_platform_invocation_retries_total"] == 27 - 9
    assert attempts["agent_platform_invocation_lost_attempts_total"] == 3


def test_names_follow_prometheus_conventions(client, agent, clock_at_noon):
    seed_support_agent(agent)

    served = families(client)

    assert served and all(name.startswith("agent_platform_") for name in served)
    for name, family in served.items():
        assert not re.search(r"_(ms|milliseconds|minutes)(_|$)", name), name  # base units: seconds
        if family.type == "counter":
            assert all(s.name == f"{name}_total" for s in family.samples), name
        else:
            assert not name.endswith("_total"), name
        if family.type == "histogram":
            assert name.endswith("_seconds") and {s.name for s in family.samples} == {
                f"{name}_bucket",
                f"{name}_count",
                f"{name}_sum",
            }
    assert {"counter", "gauge", "histogram"} <= {family.type for family in served.values()}
    assert not [name for name in served if name.startswith(OLD_NAMES)]


def test_injected_throttles_show_as_attempts_and_retries(client, bedrock_emulator_env, agent, clock_at_noon):
    """Through the real pipeline: the emulator throttles, botocore retries, the invocation counts, /metrics says so."""
    from agents_app.services import invocations as invocation_services

    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException", "ThrottlingException"])
    invocation = invocation_services.invocation_create(agent=agent, prompt="Hello there")
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    assert invocation.status == "succeeded" and invocation.attempts == 3, invocation.error

    got = samples(client)

    def value(name):
        return got[(f"agent_platform_invocation_{name}", "acme", "Support")].value

    assert (value("attempts_total"), value("retries_total"), value("lost_attempts_total")) == (3, 2, 0)
    wait = got[("agent_platform_invocation_queue_wait_seconds_count", "acme", "Support")].value
    duration = got[("agent_platform_invocation_duration_seconds_count", "acme", "Support")].value
    assert (wait, duration) == (1, 1)


def test_the_grafana_dashboard_queries_only_metrics_the_endpoint_serves(client, agent, other_agent, clock_at_noon):
    seed_support_agent(agent)
    seed_support_agent(other_agent)
    served = families(client)
    sample_labels: dict[str, set[str]] = {}
    for family in served.values():
        for sample in family.samples:
            sample_labels.setdefault(sample.name, set()).update(sample.labels)

    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    queries = [target["expr"] for panel in panels for target in panel["targets"]]
    queries += [variable["definition"] for variable in dashboard["templating"]["list"] if "definition" in variable]
    assert len(panels) >= 10 and all(panel["targets"] for panel in panels)
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])

    used = {name for query in queries for name in re.findall(r"\bagent_platform_[a-z0-9_]+\b", query)}
    assert used and not used - set(sample_labels), used - set(sample_labels)
    # Every label a query selects on or groups by is one those metrics carry.
    for query in queries:
        names = re.findall(r"\bagent_platform_[a-z0-9_]+\b", query)
        labels = set().union(*(sample_labels[name] for name in names))
        grouped = {label.strip() for group in re.findall(r"by \(([^)]*)\)", query) for label in group.split(",")}
        selected = set(re.findall(r"([a-z_]+)=~?\"", query))
        assert grouped | selected <= labels, query
    # Everything the issue asks a dashboard for is on it.
    for metric in (
        "agent_platform_cache_hit_invocations_total",
        "agent_platform_cache_net_savings_usd",
        "agent_platform_spend_usd_total",
        "agent_platform_invocation_duration_seconds_bucket",
        "agent_platform_invocation_queue_wait_seconds_bucket",
        "agent_platform_invocation_lost_attempts_total",
    ):
        assert metric in used, metric


def test_a_token_is_required_when_set(client, agent, settings):
    settings.METRICS_TOKEN = "s3cret"

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_production_without_a_token_hides_the_endpoint(client, settings):
    settings.DJANGO_ENV = "production"
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 404

    settings.METRICS_TOKEN = "t"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").status_code == 200


def test_a_scrape_takes_a_fixed_number_of_queries(
    client, tenant, other_tenant, agent, other_agent, django_assert_max_num_queries, clock_at_noon
):
    from tests.conftest import make_agent

    seed_support_agent(agent)
    seed_support_agent(other_agent)
    for n in range(10):
        seed_support_agent(make_agent(tenant, name=f"more {n}"))
    services.rollups_refresh(tenant=tenant)

    # First days, day and hour markers, late arrivals, live rows, daily and hourly rollups, agents.
    with django_assert_max_num_queries(8):
        response = client.get("/metrics")

    # The scrape answered, and with every agent of both tenants: a 401 or an empty page would cost no queries.
    assert response.status_code == 200, response.content
    text = response.content.decode()
    agents = {
        (sample.labels["tenant"], sample.labels["agent"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "agent_platform_invocations_total" and sample.labels["status"] == "succeeded"
    }
    assert agents == {("acme", "Support"): 5, ("globex", "Globex support"): 5} | {
        ("acme", f"more {n}"): 5 for n in range(10)
    }
