"""GET /metrics: Prometheus counters read from the database at scrape time, protected in production."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from caching import services
from tests.caching.stats_data import EXPECTED, seed_support_agent

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, sample.labels.get("tenant"), sample.labels.get("agent"))] = sample
    return samples


@pytest.mark.postgres
@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rollups"])
def test_counters_hold_each_agents_all_time_totals(client, agent, other_agent, rolled_up):
    seed_support_agent(agent)
    seed_support_agent(other_agent)
    if rolled_up:
        services.rollups_refresh(tenant=agent.tenant)

    samples = scrape(client)

    def value(name, tenant="acme", agent_name="Support"):
        return samples[(f"agent_platform_cache_{name}", tenant, agent_name)].value

    assert value("invocations_total") == EXPECTED["total_invocations"]
    assert value("failed_invocations_total") == 1
    assert value("hits_total") == EXPECTED["cache_hits"]
    assert value("input_tokens_total") == EXPECTED["input_tokens"]
    assert value("read_tokens_total") == EXPECTED["cache_read_tokens"]
    assert value("write_tokens_total") == EXPECTED["cache_write_tokens"]
    assert value("output_tokens_total") == EXPECTED["output_tokens"]
    assert value("gross_savings_usd_total") == pytest.approx(0.0108)
    assert value("net_savings_usd") == pytest.approx(0.007425)
    assert value("invocations_total", "globex", "Globex support") == 5
    labels = samples[("agent_platform_cache_invocations_total", "acme", "Support")].labels
    assert labels == {"tenant": "acme", "agent": "Support", "agent_id": str(agent.pk), "model": agent.model.model_id}


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
    client, tenant, other_tenant, agent, other_agent, django_assert_max_num_queries
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
        if sample.name == "agent_platform_cache_invocations_total"
    }
    assert agents == {("acme", "Support"): 5, ("globex", "Globex support"): 5} | {
        ("acme", f"more {n}"): 5 for n in range(10)
    }
