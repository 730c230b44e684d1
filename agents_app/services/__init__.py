"""Writes of the agents app, one module per concept; import them from here."""

from agents_app.services.agents import (
    AGENT_FIELDS,
    AgentChange,
    agent_check,
    agent_create,
    agent_delete,
    agent_update,
    agents_caching_set,
    agents_import,
    family_default_delete,
    family_default_set,
)
from agents_app.services.deployments import (
    deployment_request,
    deployment_request_on_commit,
    deployment_run,
    deployments_request_for_family_on_commit,
)
from agents_app.services.invocations import (
    invocation_create,
    invocation_enqueue,
    invocation_run,
    invocations_requeue_stale,
)

__all__ = [
    "AGENT_FIELDS",
    "AgentChange",
    "agent_check",
    "agent_create",
    "agent_delete",
    "agent_update",
    "agents_caching_set",
    "agents_import",
    "deployment_request",
    "deployment_request_on_commit",
    "deployment_run",
    "deployments_request_for_family_on_commit",
    "family_default_delete",
    "family_default_set",
    "invocation_create",
    "invocation_enqueue",
    "invocation_run",
    "invocations_requeue_stale",
]
