"""Money as shown adds up: gross − premium = net and cost without cache − net = cost with cache, to the
millionth of a dollar, in the CSV export, the invocation and session APIs and the cache stats; ratios have the
same places everywhere."""

import csv
import io
import random
from decimal import Decimal

import pytest

from agents_app.models import AgentSession, Invocation
from caching.periods import utc_today
from pricing.costs import MONEY_FIELDS, TokenUsage, invocation_costs, money, money_figures, ratio
from pricing.prices import Prices
from tests.caching.stats_data import at

pytestmark = pytest.mark.django_db

MICRO = Decimal("0.000001")


def random_prices(rng) -> Prices:
    """Prices per million tokens with several places, like genai-prices' and overrides' (3.3, 0.035, 4.125 ...)."""
    price = Decimal(rng.randint(10, 20_000)) / 1000
    return Prices(
        input=price,
        output=price * 5,
        cache_read=(price / 10).quantize(Decimal("0.0001")),
        cache_write=price * Decimal("1.25"),
        cache_write_1h=price * 2,
    )


def add_random_invocations(agent, count: int, seed: int = 16) -> None:
    rng = random.Random(seed)
    session = AgentSession.objects.create(tenant=agent.tenant, agent=agent, session_id="random")
    rows = []
    for n in range(count):
        write = rng.choice([0, rng.randint(1, 9_000)])
        usage = TokenUsage(
            input_tokens=rng.randint(0, 5_000),
            output_tokens=rng.randint(0, 2_000),
            cache_read_tokens=rng.choice([0, rng.randint(1, 40_000)]),
            cache_write_tokens=write,
            cache_write_1h_tokens=rng.choice([0, write // 3]),
        )
        prices = random_prices(rng)
        rows.append(
            Invocation(
                tenant=agent.tenant,
                agent=agent,
                session=session,
                prompt=f"p{n}",
                status=Invocation.Status.SUCCEEDED,
                caching_enabled=True,
                cache_hit=usage.cache_read_tokens > 0,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cache_write_1h_tokens=usage.cache_write_1h_tokens,
                prices=prices.as_dict(),
                **invocation_costs(usage, prices).as_dict(),
            )
        )
    Invocation.objects.bulk_create(rows)
    Invocation.objects.filter(session=session).update(queued_at=at(utc_today(), 0, 0, 1))


def assert_adds_up(figures: dict, where: str) -> None:
    value = {name: Decimal(str(figures[name])) for name in MONEY_FIELDS}
    for name, amount in value.items():
        assert amount == amount.quantize(MICRO), (where, name, amount)  # 6 places, no more
    assert value["gross_savings"] - value["write_premium"] == value["net_savings"], (where, value)
    assert value["cost_without_cache"] - value["net_savings"] == value["cost_with_cache"], (where, value)


def test_export_columns_add_up_for_1000_random_invocations(api, agent):
    add_random_invocations(agent, 1000)

    response = api.get(f"/api/agents/{agent.pk}/invocations.csv?period=7d")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert len(rows) == 1000
    for row in rows:
        assert_adds_up(row, f"CSV row {row['id']}")
    # Each figure shown is the stored exact one rounded once, or derived from such (never more than a rounding off).
    stored = {i.pk: i for i in Invocation.objects.all()}
    for row in rows:
        exact = stored[int(row["id"])]
        for name in MONEY_FIELDS:
            assert abs(Decimal(row[name]) - getattr(exact, name)) <= MICRO * Decimal("1.5"), (row["id"], name)


def test_the_apis_and_the_totals_add_up_alike(api, agent):
    add_random_invocations(agent, 200, seed=61)

    for item in api.get(f"/api/agents/{agent.pk}/invocations/").json()["results"]:
        assert_adds_up(item, f"invocation {item['id']}")
    stats = api.get(f"/api/agents/{agent.pk}/cache-stats/?period=7d").json()
    assert_adds_up(stats, "agent cache stats")
    for day in stats["by_day"]:
        assert_adds_up(day, f"day {day['day']}")
    assert_adds_up(api.get("/api/cache-stats/?period=7d").json(), "tenant cache stats")
    session = api.get(f"/api/agents/{agent.pk}/sessions/").json()["results"][0]
    assert Decimal(session["net_savings"]) == Decimal(session["net_savings"]).quantize(MICRO)


def test_the_issue_example_rounded_separately_did_not_add_up():
    """gross 0.0153035, premium 0.0000414: rounding each alone shows 0.015304 − 0.000041 beside 0.015262."""
    exact = {
        "cost_without_cache": Decimal("0.0200000"),
        "gross_savings": Decimal("0.0153035"),
        "write_premium": Decimal("0.0000414"),
        "net_savings": Decimal("0.0152621"),
        "cost_with_cache": Decimal("0.0047379"),
        "output_cost": Decimal("0.001"),
    }
    assert Decimal(money(exact["gross_savings"])) - Decimal(money(exact["write_premium"])) != Decimal(
        money(exact["net_savings"])
    )
    shown = money_figures(exact)
    shown_three = (shown["gross_savings"], shown["write_premium"], shown["net_savings"])
    assert shown_three == ("0.015304", "0.000041", "0.015263")
    assert_adds_up(shown, "example")


@pytest.mark.parametrize(("numerator", "denominator"), [(2, 3), (Decimal("2"), Decimal("3")), (1, 7), (0, 0)])
def test_ratios_are_floats_with_six_places_whatever_the_inputs(numerator, denominator):
    value = ratio(numerator, denominator)
    assert isinstance(value, float) and len(repr(value).split(".")[1]) <= 6
