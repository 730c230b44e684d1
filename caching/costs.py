"""What one invocation cost, with and without the cache, in exact `Decimal` dollars.

Bedrock's `inputTokens` is the input that was neither read from nor written to
the cache, so total input = input + cache read + cache write. Cost figures are
input-side, as in the reference formulas; output is priced apart because
caching does not change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from caching.pricing import Prices

MILLION = Decimal(1_000_000)


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
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(frozen=True)
class Costs:
    cost_with_cache: Decimal
    cost_without_cache: Decimal
    gross_savings: Decimal
    write_premium: Decimal
    net_savings: Decimal
    output_cost: Decimal

    def as_dict(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


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
