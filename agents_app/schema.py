"""OpenAPI details the agents API's serializers cannot state: the model ids the catalog offers now, the tools
an agent may list, and how many agents one import may hold."""

from django.conf import settings
from django.db import DatabaseError

from agents_app.models import FoundationModel
from agents_app.runtime.config import INTEGRATION_TYPES

AGENT_INPUTS = ("AgentInputRequest", "PatchedAgentInputRequest")


def integration_schema() -> dict:
    from agents_app.runtime.tools import BUILTIN_TOOLS  # imports Strands: only when a schema is made

    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": sorted(BUILTIN_TOOLS), "description": "Each tool at most once."},
            "type": {"type": "string", "enum": list(INTEGRATION_TYPES)},
        },
        "required": ["name"],
        "additionalProperties": False,
    }


def catalog_model_ids(result, generator, request, public):
    """An agent's `model_id` is one of the catalog's active models (read when the schema is served), its
    integrations are built-in tools, and an import holds 1 to AGENT_IMPORT_MAX_AGENTS agents."""
    schemas = result.get("components", {}).get("schemas", {})
    try:
        model_ids = sorted(FoundationModel.objects.filter(is_active=True).values_list("model_id", flat=True))
    except DatabaseError:  # no database (`manage.py spectacular` on a bare checkout): say only "a string"
        model_ids = None
    for name in AGENT_INPUTS:
        properties = schemas.get(name, {}).get("properties", {})
        if model_ids is not None and "model_id" in properties:
            properties["model_id"].pop("pattern", None)
            properties["model_id"]["enum"] = model_ids
        if "integrations" in properties:
            properties["integrations"]["items"] = integration_schema()
            properties["integrations"]["uniqueItems"] = True
    agents = schemas.get("AgentImportRequest", {}).get("properties", {}).get("agents")
    if agents is not None:
        agents.update(minItems=1, maxItems=settings.AGENT_IMPORT_MAX_AGENTS)
    return result
