"""The cost maths in exact Decimal dollars, and the one home of the figures' names and rounding."""

from dataclasses import fields
from decimal import Decimal

import pytest

from agents_app.models import Invocation
from agents_app.serializers import InvocationOutputSerializer
from caching.models import DailyCacheRollup
from pricing.costs import (
    MILLION,
    MONEY_FIELDS,
    TOKEN_FIELDS,
    Costs,
    TokenUsage,
    invocation_costs,
    money,
    ratio,
    total_input_tokens,
)
from pricing.prices import Prices

SONNET = Prices(Decimal("3"), Decimal("15"), Decimal("0.3"), Decimal("3.75"), Decimal("6"))


def test_total_input_is_plain_input_plus_cache_read_and_write():
    assert total_input_tokens(40, 2000, 300) == 2340
    usage = TokenUsage(input_tokens=40, output_tokens=9, cache_read_tokens=2000, cache_write_tokens=300)
    assert usage.total_input_tokens == 2340


def test_a_turn_that_reads_the_cache():
    usage = TokenUsage(input_tokens=100, output_tokens=200, cache_read_tokens=4000, cache_write_tokens=500)

    costs = invocation_costs(usage, SONNET)

    assert costs.cost_without_cache == 4600 * Decimal("3") / MILLION
    assert costs.cost_with_cache == (100 * Decimal("3") + 4000 * Decimal("0.3") + 500 * Decimal("3.75")) / MILLION
    assert costs.gross_savings == 4000 * Decimal("2.7") / MILLION
    assert costs.write_premium == 500 * Decimal("0.75") / MILLION
    assert costs.net_savings == costs.gross_savings - costs.write_premium
    assert costs.cost_without_cache - costs.cost_with_cache == costs.net_savings
    assert costs.output_cost == 200 * Decimal("15") / MILLION


def test_one_hour_writes_are_priced_at_the_one_hour_rate():
    usage = TokenUsage(cache_write_tokens=1000, cache_write_1h_tokens=400)

    costs = invocation_costs(usage, SONNET)

    assert costs.cost_with_cache == (600 * Decimal("3.75") + 400 * Decimal("6")) / MILLION
    assert costs.write_premium == (600 * Decimal("0.75") + 400 * Decimal("3")) / MILLION
    assert costs.net_savings == -costs.write_premium


def test_no_tokens_cost_nothing():
    assert all(value == 0 for value in invocation_costs(TokenUsage(), SONNET).as_dict().values())


def test_money_fields_are_the_costs_and_every_row_and_output_carries_them():
    assert MONEY_FIELDS == (
        "cost_with_cache",
        "cost_without_cache",
        "gross_savings",
        "write_premium",
        "net_savings",
        "output_cost",
    )
    assert tuple(f.name for f in fields(Costs)) == MONEY_FIELDS
    assert list(invocation_costs(TokenUsage(), SONNET).as_dict()) == list(MONEY_FIELDS)
    invocation_fields = {f.name for f in Invocation._meta.get_fields()}
    rollup_fields = {f.name for f in DailyCacheRollup._meta.get_fields()}
    serializer_fields = set(InvocationOutputSerializer().fields)
    for names in (MONEY_FIELDS, TOKEN_FIELDS):
        assert set(names) <= invocation_fields & rollup_fields & serializer_fields


def test_token_fields():
    assert TOKEN_FIELDS == ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("0.0000125"), "0.000012"),  # half-even: a tie goes to the even digit
        (Decimal("0.0000135"), "0.000014"),
        (Decimal("0.00001251"), "0.000013"),
        (Decimal("1.5"), "1.500000"),
        (Decimal("-0.0015"), "-0.001500"),
        (0, "0.000000"),
    ],
)
def test_money_is_shown_with_six_places_rounded_half_even(value, shown):
    assert money(value) == shown


def test_ratio_has_six_places_and_is_zero_with_nothing_to_divide():
    assert ratio(2000, 6300) == 0.31746
    assert ratio(4000, 6300) == 0.634921
    assert ratio(1, 3) == 0.333333
    assert ratio(0, 0) == 0
    assert ratio(5, 0) == 0
