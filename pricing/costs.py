"""What one invocation cost, with and without the cache, in exact `Decimal` dollars, and how figures are shown.

Bedrock's `inputTokens` is the input that was neither read from nor written to
the cache, so total input = input + cache read + cache write. Cost figures are
input-side, as in the reference formulas; output is priced apart because
caching does not change it.

This module is also the one home of the figures' names and display rounding:
`MONEY_FIELDS` and `TOKEN_FIELDS` (the names rows, sums, APIs and exports
share), `money` (USD strings with 6 places, half-even), `money_figures` (a
row's or a total's six figures rounded once and derived so they add up as
shown) and `ratio` (fractions
with 6 places, such as the hit rate and the efficiency ratio) for machines, and
`usd` and `percent` for people (the admin pages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_EVEN, Decimal

from pricing.prices import Prices

MILLION = Decimal(1_000_000)
MONEY_PLACES = 6
RATIO_PLACES = 6
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)

# The token counts an invocation stores and every total sums (the 1-hour write count is part of cache_write_tokens).
TOKEN_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


def total_input_tokens(input_tokens: int, cache_read_tokens: int, cache_write_tokens: int) -> int:
    """All input of a call or a sum of calls: Bedrock's `inputTokens` excludes what the cache read or wrote."""
    return input_tokens + cache_read_tokens + cache_write_tokens


def _rounded(value) -> Decimal:
    return Decimal(value).quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def money(value) -> str:
    """USD as shown everywhere (API, admin, CSV): exactly `MONEY_PLACES` places, rounded half-even."""
    return str(_rounded(value))


def money_figures(values) -> dict[str, str]:
    """The six money figures of a row or a total as shown (`MONEY_FIELDS`, strings as `money` writes them), rounded
    once and the rest derived, so they add up as shown: net = gross − premium, and cost with cache = cost
    without − net (which the exact figures satisfy too). `values` is a mapping or an object with those names.

    Rounding each figure alone could show gross 0.015304 − premium 0.000041 beside a net of 0.015262.
    """
    get = values.__getitem__ if isinstance(values, Mapping) else lambda name: getattr(values, name)
    without, gross, premium = (
        _rounded(get("cost_without_cache")),
        _rounded(get("gross_savings")),
        _rounded(get("write_premium")),
    )
    net = gross - premium
    figures = {
        "cost_with_cache": without - net,
        "cost_without_cache": without,
        "gross_savings": gross,
        "write_premium": premium,
        "net_savings": net,
        "output_cost": _rounded(get("output_cost")),
    }
    return {name: str(figures[name]) for name in MONEY_FIELDS}


def spend_shown(figures: Mapping[str, str]) -> str:
    """What was spent as shown: input with the cache plus output, the sum of `money_figures`' two shown figures."""
    return str(Decimal(figures["cost_with_cache"]) + Decimal(figures["output_cost"]))


def ratio(numerator, denominator) -> float:
    """A fraction as shown everywhere (the hit rate, the efficiency ratio, the advice's ratios): a float rounded
    to `RATIO_PLACES` places, whatever the inputs' types; 0.0 when there is nothing to divide."""
    if not denominator:
        return 0.0
    return float(round(Decimal(numerator) / Decimal(denominator), RATIO_PLACES))


def usd(value, places: int | None = None) -> str:
    """Dollars for people: cents from $1 up; below that the API's six places, trailing zeros dropped (at least
    cents), since the sums caching saves per invocation are fractions of a cent: `$0.0054`, `$0.000375`."""
    amount = Decimal(str(value))
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if places is not None or amount >= 1:
        return f"{sign}${amount:,.{2 if places is None else places}f}"
    text = f"{amount:.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{sign}${whole}.{fraction.ljust(2, '0')}"


def percent(fraction) -> str:
    return f"{float(fraction) * 100:.1f}%"


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # The part of cache_write_tokens written with a 1-hour TTL (priced higher).
    cache_write_1h_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        return total_input_tokens(self.input_tokens, self.cache_read_tokens, self.cache_write_tokens)


@dataclass(frozen=True)
class Costs:
    cost_with_cache: Decimal
    cost_without_cache: Decimal
    gross_savings: Decimal
    write_premium: Decimal
    net_savings: Decimal
    output_cost: Decimal

    def as_dict(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in MONEY_FIELDS}


# The money an invocation stores and every total sums, in this order.
MONEY_FIELDS = tuple(f.name for f in fields(Costs))


def spend(cost_with_cache, output_cost) -> Decimal:
    """What a bill shows for an invocation or a sum of them: the input as charged (with the cache) plus output.
    Budgets and spend breakdowns use this one figure."""
    return Decimal(cost_with_cache) + Decimal(output_cost)


def invocation_costs(usage: TokenUsage, prices: Prices) -> Costs:
    write_1h = usage.cache_write_1h_tokens
    write_5m = usage.cache_write_tokens - write_1h
    cost_without_cache = usage.total_input_tokens * prices.input
    cost_with_cache = (
        usage.input_tokens * prices.input
        + usage.cache_read_tokens * prices.cache_read
        + write_5m * prices.cache_write
        + write_1h * prices.cache_write_1h
    )
    gross_savings = usage.cache_read_tokens * (prices.input - prices.cache_read)
    write_premium = write_5m * (prices.cache_write - prices.input) + write_1h * (prices.cache_write_1h - prices.input)
    return Costs(
        cost_with_cache=cost_with_cache / MILLION,
        cost_without_cache=cost_without_cache / MILLION,
        gross_savings=gross_savings / MILLION,
        write_premium=write_premium / MILLION,
        net_savings=(gross_savings - write_premium) / MILLION,
        output_cost=usage.output_tokens * prices.output / MILLION,
    )
