"""List prices from genai-prices' bundled snapshot, and a tenant's override on top."""

from dataclasses import dataclass
from decimal import Decimal

from pricing.prices import UNKNOWN, Prices, apply_override, list_prices
from tests.conftest import CLAUDE, NOVA

SONNET_GLOBAL = "global.anthropic.claude-sonnet-4-6"


@dataclass
class Override:
    """The fields `apply_override` reads from a `PriceOverride`."""

    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    cache_write_1h_per_mtok: Decimal | None = None


def test_sonnet_list_prices_per_million_tokens():
    prices = list_prices(SONNET_GLOBAL)

    assert (prices.input, prices.output) == (Decimal("3"), Decimal("15"))
    assert (prices.cache_read, prices.cache_write, prices.cache_write_1h) == (
        Decimal("0.3"),
        Decimal("3.75"),
        Decimal("6"),
    )
    assert prices.source == "genai-prices"


def test_regional_profile_costs_more_than_global():
    assert list_prices(CLAUDE).input > list_prices(SONNET_GLOBAL).input


def test_nova_cache_write_is_billed_as_input():
    prices = list_prices(NOVA)

    assert prices.cache_write == prices.cache_write_1h == prices.input > 0
    assert prices.cache_read == prices.input / 4


def test_a_model_genai_prices_does_not_list_costs_nothing_and_says_so():
    assert list_prices("us.example.not-a-model-v1:0") == UNKNOWN
    assert UNKNOWN.source == "unknown" and UNKNOWN.input == 0


def test_override_replaces_only_the_prices_it_sets():
    prices = list_prices(SONNET_GLOBAL)

    changed = apply_override(prices, Override(input_per_mtok=Decimal("2.5"), cache_read_per_mtok=Decimal(0)))

    assert (changed.input, changed.cache_read) == (Decimal("2.5"), Decimal(0))
    assert (changed.output, changed.cache_write, changed.cache_write_1h) == (
        prices.output,
        prices.cache_write,
        prices.cache_write_1h,
    )
    assert changed.source == "override"


def test_no_override_or_an_empty_one_keeps_the_list_prices():
    prices = list_prices(SONNET_GLOBAL)

    assert apply_override(prices, None) is prices
    assert apply_override(prices, Override()) is prices


def test_prices_as_dict_are_strings_for_the_invocation_row():
    prices = Prices(Decimal("3"), Decimal("15"), Decimal("0.3"), Decimal("3.75"), Decimal("6"))

    assert prices.as_dict() == {
        "input": "3",
        "output": "15",
        "cache_read": "0.3",
        "cache_write": "3.75",
        "cache_write_1h": "6",
        "source": "genai-prices",
    }
