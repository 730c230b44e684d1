"""Prices per million tokens: `genai-prices` data, with a tenant's overrides on top.

`genai-prices` ships a snapshot of providers' prices; we read the snapshot
only (its network auto-update is never started), so a price changes when the
package is upgraded, not while the service runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from genai_prices import data_snapshot

ZERO = Decimal(0)
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    source: str = "genai-prices"

    def as_dict(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


UNKNOWN = Prices(ZERO, ZERO, ZERO, ZERO, ZERO, source="unknown")


@lru_cache(maxsize=256)
def list_prices(model_id: str) -> Prices:
    """What Bedrock charges for a model id (inference-profile ids have their own prices).

    A price `genai-prices` does not list falls back the way Bedrock bills it:
    Nova has no cache-write price because writes are billed as plain input.
    """
    try:
        _, model = data_snapshot.get_snapshot().find_provider_model(model_id, None, "aws", None)
    except LookupError:
        return UNKNOWN
    price = model.get_prices(datetime.now(UTC))

    def get(name):
        value = getattr(price, name, None)
        return value if isinstance(value, Decimal) else None

    input_price = get("input_mtok") or ZERO
    cache_write = get("cache_write_mtok") or input_price
    return Prices(
        input=input_price,
        output=get("output_mtok") or ZERO,
        cache_read=get("cache_read_mtok") or input_price,
        cache_write=cache_write,
        cache_write_1h=get("cache_write_1h_mtok") or cache_write,
    )


def apply_override(prices: Prices, override) -> Prices:
    """Replace the prices a `PriceOverride` sets; its empty fields keep the list price."""
    if override is None:
        return prices
    changed = {field: value for field in PRICE_FIELDS if (value := getattr(override, f"{field}_per_mtok")) is not None}
    return replace(prices, **changed, source="override") if changed else prices
