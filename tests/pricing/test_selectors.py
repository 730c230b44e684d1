"""The prices in force for a tenant: its override on top of the list price, never another tenant's."""

from decimal import Decimal

import pytest

from pricing.models import PriceOverride
from pricing.prices import list_prices
from pricing.selectors import model_prices, model_prices_map
from tests.conftest import CLAUDE, NOVA

pytestmark = pytest.mark.django_db


def test_without_an_override_the_list_price_applies(tenant, catalog):
    assert model_prices(tenant=tenant, model=catalog[CLAUDE]) == list_prices(CLAUDE)


def test_an_override_applies_to_its_tenant_and_model_only(tenant, other_tenant, catalog):
    PriceOverride.objects.create(tenant=tenant, model=catalog[CLAUDE], output_per_mtok=Decimal("9"))

    mine = model_prices(tenant=tenant, model=catalog[CLAUDE])

    assert mine.output == Decimal("9") and mine.input == list_prices(CLAUDE).input and mine.source == "override"
    assert model_prices(tenant=other_tenant, model=catalog[CLAUDE]) == list_prices(CLAUDE)
    assert model_prices(tenant=tenant, model=catalog[NOVA]) == list_prices(NOVA)


def test_prices_map_reads_every_override_in_one_query(tenant, other_tenant, catalog, django_assert_num_queries):
    PriceOverride.objects.create(tenant=tenant, model=catalog[CLAUDE], input_per_mtok=Decimal("1"))
    PriceOverride.objects.create(tenant=tenant, model=catalog[NOVA], input_per_mtok=Decimal("0.5"))
    PriceOverride.objects.create(tenant=other_tenant, model=catalog[CLAUDE], input_per_mtok=Decimal("7"))
    models = list(catalog.values())

    with django_assert_num_queries(1):
        prices = model_prices_map(tenant=tenant, models=models)

    assert set(prices) == {m.pk for m in models}
    assert prices[catalog[CLAUDE].pk].input == Decimal("1")
    assert prices[catalog[NOVA].pk].input == Decimal("0.5")
    overridden = (catalog[CLAUDE].pk, catalog[NOVA].pk)
    assert all(p.source == "genai-prices" for pk, p in prices.items() if pk not in overridden)
