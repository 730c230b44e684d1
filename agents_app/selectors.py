"""Reads: agents, the catalog and the caching state, always for one tenant."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from agent_platform.models import Tenant
from agents_app.models import Agent, FamilyCachingDefault, FoundationModel, ModelFamily
from caching.models import PriceOverride
from caching.pricing import Prices, apply_override, list_prices

EXPORT_FORMAT = "agent-platform.agents/v1"


def agent_list(*, tenant: Tenant) -> QuerySet[Agent]:
    return Agent.objects.filter(tenant=tenant).select_related("model__family")


def agent_get(*, tenant: Tenant, agent_id) -> Agent:
    """The tenant's agent, or `Agent.DoesNotExist` (another tenant's agent does not exist for this caller)."""
    return agent_list(tenant=tenant).get(pk=agent_id)


def model_list(*, active_only: bool = True) -> QuerySet[FoundationModel]:
    models = FoundationModel.objects.select_related("family")
    return models.filter(is_active=True) if active_only else models


def family_list() -> QuerySet[ModelFamily]:
    return ModelFamily.objects.all()


def family_defaults(*, tenant: Tenant) -> dict[int, bool]:
    """The tenant's caching default per family id; a family with no row defaults to off."""
    return dict(FamilyCachingDefault.objects.filter(tenant=tenant).values_list("family_id", "prompt_caching_enabled"))


def model_prices(*, tenant: Tenant, model: FoundationModel) -> Prices:
    override = PriceOverride.objects.filter(tenant=tenant, model=model).first()
    return apply_override(list_prices(model.model_id), override)


def model_prices_map(*, tenant: Tenant, models) -> dict[int, Prices]:
    """Effective prices for many models in one query."""
    overrides = {o.model_id: o for o in PriceOverride.objects.filter(tenant=tenant)}
    return {m.pk: apply_override(list_prices(m.model_id), overrides.get(m.pk)) for m in models}


@dataclass(frozen=True)
class CachingState:
    requested: bool  # what the agent (or its family default) asks for
    effective: bool  # what the runtime will do: requested and the model can cache
    source: str  # "agent" or "family default"
    warnings: list[str] = field(default_factory=list)


def caching_state(agent: Agent, defaults: dict[int, bool] | None = None) -> CachingState:
    """Pass `defaults` from `family_defaults` when reading many agents, to save a query each."""
    if agent.prompt_caching_enabled is not None:
        requested, source = agent.prompt_caching_enabled, "agent"
    else:
        if defaults is None:
            defaults = family_defaults(tenant=agent.tenant)
        requested, source = defaults.get(agent.model.family_id, False), "family default"
    can_cache = agent.model.supports_prompt_caching
    warnings = []
    if requested and not can_cache:
        warnings.append(
            f"Prompt caching is enabled but {agent.model.display_name} ({agent.model.model_id}) cannot cache; "
            "the agent runs uncached."
        )
    return CachingState(requested=requested, effective=requested and can_cache, source=source, warnings=warnings)


def agent_export_data(agent: Agent) -> dict:
    """One agent as it appears in an export (no ids, no secrets: it can be imported elsewhere)."""
    return {
        "name": agent.name,
        "description": agent.description,
        "system_prompt": agent.system_prompt,
        "model_id": agent.model.model_id,
        "max_tokens": agent.max_tokens,
        "integrations": agent.integrations,
        "prompt_caching_enabled": agent.prompt_caching_enabled,
        "cache_strategy": agent.cache_strategy,
    }


def agents_export(*, agents) -> dict:
    return {"format": EXPORT_FORMAT, "agents": [agent_export_data(agent) for agent in agents]}
