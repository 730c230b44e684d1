"""Writes: agents, family caching defaults, imports. Admin and API both come through here.

Every write that may change an agent's AGENT_CONFIG_JSON requests a deployment
on commit (`agents_app.services.deployments`); a change that leaves the config as it was
(a name, a description) requests one that turns out to be a no-op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction

from agent_platform.errors import ApplicationError
from agent_platform.models import Tenant
from agents_app.models import Agent, CacheStrategy, FamilyCachingDefault, FoundationModel, ModelFamily
from agents_app.prompt_check import prompt_check_notices
from agents_app.runtime.config import ConfigError, parse_integrations
from agents_app.selectors import EXPORT_FORMAT
from agents_app.services.deployments import (
    deployment_due,
    deployment_request_on_commit,
    deployments_request_for_family_on_commit,
)

AGENT_FIELDS = (
    "name",
    "description",
    "system_prompt",
    "model",
    "max_tokens",
    "integrations",
    "prompt_caching_enabled",
    "cache_strategy",
)
# Limits of what an agent may hold, for the API's input and for imports alike.
NAME_MAX_CHARS = 200
MODEL_ID_MAX_CHARS = 200
SYSTEM_PROMPT_MAX_CHARS = 200_000
INTEGRATIONS_MAX = 50


@dataclass
class AgentChange:
    agent: Agent
    # What the service did that the caller did not ask for, e.g. caching turned off by a model switch.
    notices: list[str] = field(default_factory=list)


def _check_max_tokens(agent: Agent) -> None:
    if agent.max_tokens < 1:
        raise ApplicationError("max_tokens must be at least 1.", field="max_tokens")
    if agent.max_tokens > agent.model.max_tokens:
        raise ApplicationError(
            f"max_tokens {agent.max_tokens} exceeds {agent.model.display_name}'s limit of {agent.model.max_tokens}.",
            field="max_tokens",
        )


def _check_integrations(integrations) -> None:
    # The runtime owns the integrations it can run: one source of truth for what is valid.
    try:
        parse_integrations(integrations)
    except ConfigError as exc:
        raise ApplicationError(exc.message, field=exc.field) from None


def _apply_caching_rules(agent: Agent, *, caching_asked: bool, model_switched: bool) -> list[str]:
    """A model that cannot cache never gets caching turned on by request; a switch to one turns it off."""
    if not agent.prompt_caching_enabled or agent.model.supports_prompt_caching:
        return []
    if model_switched and not caching_asked:
        agent.prompt_caching_enabled = False
        return [f"Prompt caching turned off: {agent.model.display_name} does not support prompt caching."]
    raise ApplicationError(
        f"{agent.model.display_name} ({agent.model.model_id}) does not support prompt caching.",
        field="prompt_caching_enabled",
    )


def agent_check(agent: Agent, *, caching_asked: bool, model_switched: bool) -> list[str]:
    """Validate an agent about to be saved; returns notices of what was adjusted (caching off on a switch) and of
    what defeats its cache (`agents_app.prompt_check`)."""
    if not agent.name.strip():
        raise ApplicationError("name must not be blank.", field="name")
    if not agent.system_prompt.strip():
        raise ApplicationError("system_prompt must not be blank.", field="system_prompt")
    if agent.cache_strategy not in CacheStrategy.values:
        raise ApplicationError(f"cache_strategy must be one of {', '.join(CacheStrategy.values)}.", "cache_strategy")
    if not agent.model.is_active:
        raise ApplicationError(f"{agent.model.model_id} is not available.", field="model_id")
    _check_max_tokens(agent)
    _check_integrations(agent.integrations)
    notices = _apply_caching_rules(agent, caching_asked=caching_asked, model_switched=model_switched)
    return notices + prompt_check_notices(agent)


def _save(agent: Agent) -> None:
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise ApplicationError(f"An agent named {agent.name!r} already exists.", field="name") from None


def agent_create(*, tenant: Tenant, model: FoundationModel, actor=None, **fields) -> AgentChange:
    unknown = set(fields) - set(AGENT_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    agent = Agent(tenant=tenant, model=model, **fields)
    notices = agent_check(agent, caching_asked=bool(fields.get("prompt_caching_enabled")), model_switched=False)
    _save(agent)
    deployment_request_on_commit(agent=agent, actor=actor)
    return AgentChange(agent, notices)


def agent_update(*, agent: Agent, actor=None, **changes) -> AgentChange:
    unknown = set(changes) - set(AGENT_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    model_switched = "model" in changes and changes["model"].pk != agent.model_id
    for name, value in changes.items():
        setattr(agent, name, value)
    notices = agent_check(
        agent, caching_asked=bool(changes.get("prompt_caching_enabled")), model_switched=model_switched
    )
    _save(agent)
    deployment_request_on_commit(agent=agent, actor=actor)
    return AgentChange(agent, notices)


@dataclass
class CachingSetResult:
    """What setting prompt caching on agents did, agent by agent, for a message that says exactly that."""

    changed: list[AgentChange] = field(default_factory=list)  # the setting changed
    unchanged: list[Agent] = field(default_factory=list)  # it already was so: nothing saved, nothing deployed
    refused: dict[Agent, str] = field(default_factory=dict)  # why
    redeploys: list[Agent] = field(default_factory=list)  # changed ones whose deployed config changes with it


def agents_caching_set(*, agents, enabled: bool | None, actor=None) -> CachingSetResult:
    """Set prompt caching on many agents (admin bulk actions and the caching page's toggle)."""
    result = CachingSetResult()
    for agent in agents:
        if agent.prompt_caching_enabled is enabled:
            result.unchanged.append(agent)
            continue
        try:
            with transaction.atomic():
                change = agent_update(agent=agent, actor=actor, prompt_caching_enabled=enabled)
                # Before the commit, which requests the deployment (and may run it at once).
                due = deployment_due(agent=change.agent)
        except ApplicationError as exc:
            agent.refresh_from_db()
            result.refused[agent] = exc.message
            continue
        result.changed.append(change)
        if due:
            result.redeploys.append(change.agent)
    return result


def agent_delete(*, agent: Agent, actor=None) -> None:
    agent.delete()


def family_default_check(*, family: ModelFamily, enabled: bool) -> None:
    """The rule for an agent's own setting, for a family's: caching is never asked of models that cannot cache.

    A default of on is refused for a family none of whose active models can
    cache (the catalog's `supports_prompt_caching`); where some can, it applies
    to those only (`Agent.objects.with_caching_state`).
    """
    if not enabled:
        return
    models = list(family.models.filter(is_active=True).order_by("display_name", "model_id"))
    if not any(model.supports_prompt_caching for model in models):
        names = ", ".join(dict.fromkeys(model.display_name for model in models)) or "none in the catalog"
        raise ApplicationError(
            f"{family.name} does not support prompt caching (its models: {names}), so its caching default "
            "cannot be on.",
            field="prompt_caching_enabled",
        )


def family_default_set(*, tenant: Tenant, family: ModelFamily, enabled: bool, actor=None) -> FamilyCachingDefault:
    family_default_check(family=family, enabled=enabled)
    with transaction.atomic():
        default, _ = FamilyCachingDefault.objects.update_or_create(
            tenant=tenant, family=family, defaults={"prompt_caching_enabled": enabled}
        )
        deployments_request_for_family_on_commit(tenant=tenant, family=family, actor=actor)
    return default


def family_default_delete(*, default: FamilyCachingDefault, actor=None) -> None:
    """Remove a family default (the family falls back to caching off)."""
    with transaction.atomic():
        default.delete()
        deployments_request_for_family_on_commit(tenant=default.tenant, family=default.family, actor=actor)


# --- Import ---------------------------------------------------------------------------------------


def agents_import(*, tenant: Tenant, payload, actor=None) -> list[AgentChange]:
    """Create every agent of an export, or none: one bad agent fails the whole import.

    Errors name the agent and its field, e.g. `agents[2].max_tokens`, and all
    of them are reported at once.
    """
    if not isinstance(payload, dict):
        raise ApplicationError("Expected a JSON object with an 'agents' list.", field="agents")
    unknown = set(payload) - {"format", "agents"}
    if unknown:
        raise ApplicationError(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    if payload.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
        raise ApplicationError(f"Unsupported format; expected {EXPORT_FORMAT!r}.", field="format")
    items = payload.get("agents")
    if not isinstance(items, list) or not items:
        raise ApplicationError("'agents' must be a non-empty list.", field="agents")
    if len(items) > settings.AGENT_IMPORT_MAX_AGENTS:
        raise ApplicationError(
            f"At most {settings.AGENT_IMPORT_MAX_AGENTS} agents per import; got {len(items)}.", field="agents"
        )

    models = {m.model_id: m for m in FoundationModel.objects.filter(is_active=True)}
    errors: dict[str, list[str]] = {}
    changes: list[AgentChange] = []
    with transaction.atomic():
        for index, item in enumerate(items):
            label = f"agents[{index}]"
            try:
                changes.append(_import_one(tenant, item, models, actor))
            except ApplicationError as exc:
                name = item.get("name") if isinstance(item, dict) else None
                who = f"Agent {name!r}" if name else f"Agent #{index}"
                errors.setdefault(f"{label}.{exc.field}", []).append(f"{who}: {exc.message}")
        if errors:
            transaction.set_rollback(True)
            raise ApplicationError.from_errors(errors)
    return changes


def _import_one(tenant, item, models, actor) -> AgentChange:
    fields = _import_fields(item)
    model = models.get(fields.pop("model_id"))
    if model is None:
        raise ApplicationError(f"Unknown model id {item.get('model_id')!r}.", field="model_id")
    return agent_create(tenant=tenant, model=model, actor=actor, **fields)


# One imported agent holds the fields of an API create request, checked the same way and refused in the
# same words, so an error reads alike whichever way the agent came in.


class _Invalid(ValueError):
    pass


def _not_null(value) -> None:
    if value is None:
        raise _Invalid("This field may not be null.")


def _text(value, *, max_length: int | None = None, trim: bool = True, allow_blank: bool = False) -> str:
    if value == "" or (trim and str(value).strip() == ""):
        if allow_blank:
            return ""
        raise _Invalid("This field may not be blank.")
    _not_null(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid("Not a valid string.")
    text = str(value).strip() if trim else str(value)
    if max_length is not None and len(text) > max_length:
        raise _Invalid(f"Ensure this field has no more than {max_length} characters.")
    if "\x00" in text:  # PostgreSQL cannot store it
        raise _Invalid("Null characters are not allowed.")
    if surrogate := next((char for char in text if 0xD800 <= ord(char) <= 0xDFFF), None):
        raise _Invalid(f"Surrogate characters are not allowed: U+{ord(surrogate):X}.")
    return text


def _integer(value, *, minimum: int) -> int:
    _not_null(value)
    if isinstance(value, str) and len(value) > 1000:
        raise _Invalid("String value too large.")
    try:
        number = int(re.sub(r"\.0*\s*$", "", str(value)))  # 1000, "1000" and 1000.0 alike
    except ValueError:
        raise _Invalid("A valid integer is required.") from None
    if number < minimum:
        raise _Invalid(f"Ensure this value is greater than or equal to {minimum}.")
    return number


_TRUE = {True, "true", "t", "yes", "y", "on", "1"}
_FALSE = {False, "false", "f", "no", "n", "off", "0"}
_NULL = {None, "", "null"}


def _boolean_or_none(value) -> bool | None:
    key = value.lower() if isinstance(value, str) else value
    try:
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
        if key in _NULL:
            return None
    except TypeError:  # a list or an object
        pass
    raise _Invalid("Must be a valid boolean.")


def _objects(value, *, max_items: int) -> list[dict]:
    _not_null(value)
    if not isinstance(value, list):
        raise _Invalid(f'Expected a list of items but got type "{type(value).__name__}".')
    for item in value:
        if not isinstance(item, dict):
            raise _Invalid(f'Expected a dictionary of items but got type "{type(item).__name__}".')
    if len(value) > max_items:
        raise _Invalid(f"Ensure this field has no more than {max_items} elements.")
    return [dict(item) for item in value]  # each item is checked by the runtime when the agent is


def _choice(value, *, choices) -> str:
    _not_null(value)
    if str(value) not in choices:
        raise _Invalid(f'"{value}" is not a valid choice.')
    return str(value)


# Field, check, required; an optional field left out takes the model's default.
_IMPORT_FIELDS = (
    ("name", partial(_text, max_length=NAME_MAX_CHARS), True),
    ("description", partial(_text, allow_blank=True), False),
    ("system_prompt", partial(_text, max_length=SYSTEM_PROMPT_MAX_CHARS, trim=False), True),
    ("model_id", partial(_text, max_length=MODEL_ID_MAX_CHARS), True),
    ("max_tokens", partial(_integer, minimum=1), False),
    ("integrations", partial(_objects, max_items=INTEGRATIONS_MAX), False),
    ("prompt_caching_enabled", _boolean_or_none, False),
    ("cache_strategy", partial(_choice, choices=CacheStrategy.values), False),
)


def _import_fields(item) -> dict:
    """One agent of an import document as `agent_create` fields (and `model_id`); the first error names its field."""
    if not isinstance(item, dict):
        raise ApplicationError(
            f"Invalid data. Expected a dictionary, but got {type(item).__name__}.", field="non_field_errors"
        )
    fields = {}
    for name, check, required in _IMPORT_FIELDS:
        if name not in item:
            if required:
                raise ApplicationError("This field is required.", field=name)
            continue
        try:
            fields[name] = check(item[name])
        except _Invalid as exc:
            raise ApplicationError(str(exc), field=name) from None
    unknown = sorted(set(item) - {name for name, _, _ in _IMPORT_FIELDS})
    if unknown:
        raise ApplicationError("Unknown field.", field=unknown[0])
    return fields
