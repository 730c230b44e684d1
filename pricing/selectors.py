"""Reads: the prices in force for a tenant (the list price with the tenant's override on top)."""

from __future__ import annotations

from agent_platform.models import Tenant
from pricing.models import PriceOverride
from pricing.prices import Prices, apply_override, list_prices


def model_prices(*, tenant: Tenant, model) -> Prices:
    """The prices a catalog model (`agents_app.FoundationModel`) costs this tenant now."""
    override = PriceOverride.objects.filter(tenant=tenant, model=model).first()
    return apply_override(list_prices(model.model_id), override)


def model_prices_map(*, tenant: Tenant, models) -> dict[int, Prices]:
    """Effective prices for many catalog models in one query, by model pk."""
    overrides = {o.model_id: o for o in PriceOverride.objects.filter(tenant=tenant)}
    return {m.pk: apply_override(list_prices(m.model_id), overrides.get(m.pk)) for m in models}
