"""Reads: agents, the catalog and the caching state, always for one tenant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Max, QuerySet

from agent_platform.models import Tenant
from agents_app.inference_profiles import stored_profile_arn
from agents_app.models import (
    Agent,
    AgentSession,
    Deployment,
    FamilyCachingDefault,
    FoundationModel,
    Invocation,
    ModelFamily,
)
from agents_app.runtime.config import AgentConfig, Integration, ModelCapabilities
from agents_app.sessions import SessionCacheSummary, session_rows, session_summaries

EXPORT_FORMAT = "agent-platform.agents/v1"


def agent_list(*, tenant: Tenant) -> QuerySet[Agent]:
    """The tenant's agents, each with its caching state (`caching_state` then needs no query) and its deploy state
    (`current_version`, `deploy_status`)."""
    return Agent.objects.with_caching_state().with_deploy_state().filter(tenant=tenant).select_related("model__family")


def agent_get(*, tenant: Tenant, agent_id, states: bool = True) -> Agent:
    """The tenant's agent, or `Agent.DoesNotExist` (another tenant's agent does not exist for this caller).

    `states=False` leaves out the caching and deploy state (`agent_list`'s subqueries), for reads of the
    agent's figures that never show them.
    """
    if not states:
        return Agent.objects.filter(tenant=tenant).select_related("model__family").get(pk=agent_id)
    return agent_list(tenant=tenant).get(pk=agent_id)


def agent_check(*, tenant: Tenant, agent: Agent) -> Agent:
    """`agent` if it is the tenant's, else `Agent.DoesNotExist` (as `agent_get` answers for another tenant's).

    For reads handed an agent the caller already fetched: they take the tenant too, and refuse a mismatch.
    """
    if agent.tenant_id != tenant.pk:
        raise Agent.DoesNotExist(f"Agent {agent.pk} is not an agent of tenant {tenant.pk}.")
    return agent


def model_list(*, active_only: bool = True) -> QuerySet[FoundationModel]:
    models = FoundationModel.objects.select_related("family")
    return models.filter(is_active=True) if active_only else models


def family_list() -> QuerySet[ModelFamily]:
    return ModelFamily.objects.all()


def family_defaults(*, tenant: Tenant) -> dict[int, bool]:
    """The tenant's caching default per family id; a family with no row defaults to off."""
    return dict(FamilyCachingDefault.objects.filter(tenant=tenant).values_list("family_id", "prompt_caching_enabled"))


@dataclass(frozen=True)
class CachingState:
    requested: bool  # what the agent (or its family default) asks for
    effective: bool  # what the runtime will do: requested and the model can cache
    source: str  # "agent" or "family default"
    warnings: list[str] = field(default_factory=list)


def caching_state(agent: Agent) -> CachingState:
    """What the agent asks for and what the runtime does, by the rule of `Agent.objects.with_caching_state()`.

    An agent read through that queryset (`agent_list`, the admin's lists) carries
    the answer; any other is looked up, one query.
    """
    if hasattr(agent, "caching_effective"):
        requested, effective = agent.caching_requested, agent.caching_effective
    else:
        state = Agent.objects.with_caching_state().filter(pk=agent.pk)
        requested, effective = state.values_list("caching_requested", "caching_effective").get()
    source = "family default" if agent.prompt_caching_enabled is None else "agent"
    warnings = []
    if requested and not effective:
        warnings.append(
            f"Prompt caching is enabled but {agent.model.display_name} ({agent.model.model_id}) cannot cache; "
            "the agent runs uncached."
        )
    return CachingState(requested=requested, effective=effective, source=source, warnings=warnings)


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


def agent_config(agent: Agent) -> dict:
    """The AGENT_CONFIG_JSON of an agent as it stands: what a deployment pushes to the runtime.

    It carries the effective caching setting and the catalog's capability
    data, so the runtime needs no database; it never carries a secret.
    """
    model = agent.model
    config = AgentConfig(
        agent_id=str(agent.pk),
        system_prompt=agent.system_prompt,
        model_id=model.model_id,
        max_tokens=agent.max_tokens,
        integrations=tuple(Integration(**integration) for integration in agent.integrations),
        prompt_caching_enabled=caching_state(agent).requested,
        cache_strategy=agent.cache_strategy,
        model_capabilities=ModelCapabilities(
            supports_prompt_caching=model.supports_prompt_caching,
            cache_min_tokens=model.cache_min_tokens,
            cache_max_checkpoints=model.cache_max_checkpoints,
            cache_fields=tuple(model.cache_fields),
            supports_tool_use=model.supports_tool_use,
        ),
        inference_profile_arn=stored_profile_arn(tenant_id=agent.tenant_id, model_id=model.model_id),
    )
    return config.to_dict()


def deployment_list(*, tenant: Tenant) -> QuerySet[Deployment]:
    return Deployment.objects.filter(tenant=tenant).select_related("requested_by").order_by("agent_id", "-version")


def deployment_get(*, tenant: Tenant, deployment_id) -> Deployment:
    return deployment_list(tenant=tenant).get(pk=deployment_id)


@dataclass(frozen=True)
class DeployState:
    current_version: int | None  # what invocations run: the highest deployed version
    deploy_status: str | None  # the newest deployment's status (`Deployment.Status`); None: never requested


def deploy_state(agent: Agent) -> DeployState:
    """The agent's deploy state, by `Agent.objects.with_deploy_state()`: read with the row, else one query."""
    if not hasattr(agent, "deploy_status"):
        values = Agent.objects.with_deploy_state().filter(pk=agent.pk).values_list("current_version", "deploy_status")
        agent.current_version, agent.deploy_status = values.first() or (None, None)
    return DeployState(current_version=agent.current_version, deploy_status=agent.deploy_status)


def deployment_current(*, agent: Agent) -> Deployment | None:
    """What the agent runs: its deployed version with the highest number, or None before the first deploy."""
    return agent.deployments.filter(status=Deployment.Status.DEPLOYED).order_by("-version").first()


def deployment_superseded(deployment: Deployment) -> bool:
    """A deployment that will never run: a newer version was requested first (its error says which)."""
    return deployment.status == Deployment.Status.SUPERSEDED


def current_versions(*, agent_ids) -> dict[int, int]:
    """Each agent's current version (its highest deployed one), by agent id; agents never deployed are absent."""
    rows = (
        Deployment.objects.filter(agent_id__in=list(agent_ids), status=Deployment.Status.DEPLOYED)
        .values("agent_id")
        .annotate(current=Max("version"))
        .values_list("agent_id", "current")
    )
    return dict(rows)


def deployment_config_for_run(agent: Agent) -> tuple[Deployment | None, dict]:
    """The config a worker runs a turn with: the current deployment's, else (never deployed) the agent's settings."""
    deployment = deployment_current(agent=agent)
    if deployment is None:
        return None, agent_config(agent)
    return deployment, deployment.config


def invocation_list(*, tenant: Tenant) -> QuerySet[Invocation]:
    return Invocation.objects.filter(tenant=tenant).select_related("session")


def invocation_get(*, tenant: Tenant, invocation_id) -> Invocation:
    return invocation_list(tenant=tenant).get(pk=invocation_id)


def session_list(*, tenant: Tenant, agent: Agent) -> QuerySet[AgentSession]:
    """The agent's sessions, newest first; `session_summaries_of` adds their figures."""
    return AgentSession.objects.filter(agent=agent_check(tenant=tenant, agent=agent)).order_by("-created_at", "-pk")


def session_summaries_of(sessions: Iterable[AgentSession]) -> dict[int, SessionCacheSummary]:
    """Each session's figures over all its invocations (what counts: `agents_app.sessions`), by session pk."""
    names = {session.pk: session.session_id for session in sessions}
    rows = session_rows(Invocation.objects.filter(session_id__in=list(names))) if names else []
    return {summary.id: summary for summary in session_summaries(rows, names)}


def session_row(session: AgentSession, summary: SessionCacheSummary | None) -> dict:
    summary = summary or SessionCacheSummary(id=session.pk, session_id=session.session_id)
    return {
        "session_id": session.session_id,
        "created_at": session.created_at,
        "last_invoked_at": session.last_invoked_at,
        "invocations": summary.invocations,
        "failed_invocations": summary.failed_invocations,
        "input_tokens": summary.input_tokens,
        "cache_read_tokens": summary.cache_read_tokens,
        "cache_write_tokens": summary.cache_write_tokens,
        "output_tokens": summary.output_tokens,
        "efficiency_ratio": summary.efficiency_ratio,
        "net_savings": summary.net_savings,
        "cost": summary.cost,
    }
