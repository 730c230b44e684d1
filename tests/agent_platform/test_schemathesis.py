"""Property-based checks of the whole API against its own OpenAPI schema, in `make test` (a few examples per
operation): no 5xx, only documented statuses and shapes, every request the schema calls valid accepted and
every request it calls invalid refused.

The schema states nearly every rule the API enforces (unknown fields, the catalog's model ids, the import
document, `period` or `from`/`to`, text that may not be blank). A few rules relate values JSON Schema cannot
relate; the schema says them in words, and `breaks_a_stated_rule` drops the valid-looking cases that break
them:
- a range's `from` is not after its `to` (default: today) and spans at most CACHE_STATS_MAX_DAYS days;
- `max_tokens` is within the model's limit, and caching is asked only of a model that can cache (for a PATCH,
  the agent's model unless it changes);
- an agent's name is unique in its tenant (within one import too), and an agent lists a tool once.
And the API reads a JSON scalar as DRF does ("12" as 12, "true" as true, 12 as "12"): an invalid case whose
only fault is such a value is accepted, by design (`reads_valid_as_drf`); it ignores query parameters it does
not declare (`only_unknown_query_parameters`); a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413.
"""

import datetime as dt
import re

import jsonschema_rs
import pytest
import schemathesis
from django.conf import settings as django_settings
from django.db import transaction
from hypothesis import HealthCheck, settings

from agent_platform.wsgi import application
from agents_app.models import Agent, FoundationModel
from alerts.models import AlertRule, Webhook
from caching.periods import utc_today
from tests.conftest import key_client

checks = schemathesis.checks


@pytest.fixture
def api_schema(db):
    """Loaded in the test database: the schema lists the catalog's model ids, read when it is served."""
    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id(request):
    """The lazy loader names each operation's subtest through `node._nodeid`, which pytest 9 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


CONFORMANCE = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


# --- Rules the schema states in words ------------------------------------------------------------


def _date(value):
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _period_breaks_a_rule(query) -> bool:
    day_from = _date((query or {}).get("from"))
    if day_from is None:
        return False
    day_to = _date(query.get("to")) or utc_today()
    return day_from > day_to or (day_to - day_from).days + 1 > django_settings.CACHE_STATS_MAX_DAYS


def _agent_breaks_a_rule(item, model=None, max_tokens=4096) -> bool:
    if not isinstance(item, dict):
        return False
    models = {m.model_id: m for m in FoundationModel.objects.all()}
    model = models.get(item.get("model_id"), model)
    if model is None:
        return False
    max_tokens = item.get("max_tokens", max_tokens)
    if isinstance(max_tokens, int) and max_tokens > model.max_tokens:
        return True
    if item.get("prompt_caching_enabled") is True and not model.supports_prompt_caching:
        return True
    tools = [i.get("name") for i in item.get("integrations") or [] if isinstance(i, dict)]
    return len(tools) != len(set(tools))


def _alert_rule_breaks_a_rule(body, agent) -> bool:
    """An alert rule names your agent, key and webhooks (none exist but the agent here), and a name not taken."""
    if not isinstance(body, dict):
        return False
    named = body.get("agent_id") not in (None, agent.pk) or body.get("api_key") is not None
    return named or bool(body.get("webhook_ids")) or str(body.get("name", "")).strip() == "taken"


def _webhook_breaks_a_rule(body) -> bool:
    """A webhook's URL is one of its kind (a Slack or Teams webhook, an http(s) URL for JSON)."""
    from agent_platform.errors import ApplicationError
    from alerts.notify import webhook_url_check

    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        return False
    try:
        webhook_url_check(kind=body.get("kind"), url=body["url"].strip())
    except ApplicationError:
        return True
    return False


def breaks_a_stated_rule(case, agent) -> bool:
    if _period_breaks_a_rule(case.query):
        return True
    body, path = case.body, case.operation.path
    if path in ("/api/alert-rules/", "/api/alert-rules/{rule_id}/") and case.method in ("POST", "PATCH"):
        return _alert_rule_breaks_a_rule(body, agent)
    if path == "/api/alert-webhooks/" and case.method == "POST":
        return _webhook_breaks_a_rule(body)
    if path == "/api/agents/" and case.method == "POST":
        taken = isinstance(body, dict) and str(body.get("name", "")).strip() == agent.name
        return taken or _agent_breaks_a_rule(body)
    if path == "/api/agents/{agent_id}/" and case.method == "PATCH":
        return _agent_breaks_a_rule(body, agent.model, agent.max_tokens)
    if path == "/api/agents/import/" and isinstance(body, dict) and isinstance(body.get("agents"), list):
        items = [item for item in body["agents"] if isinstance(item, dict)]
        names = [str(item.get("name", "")).strip() for item in items]
        clash = len(names) != len(set(names)) or agent.name in names
        return clash or any(_agent_breaks_a_rule(item) for item in items)
    return False


# --- DRF's reading of JSON scalars ------------------------------------------------------------------

_TRUE = {"t", "y", "yes", "true", "on", "1"}
_FALSE = {"f", "n", "no", "false", "off", "0"}
_INTEGER = re.compile(r"^\s*-?\d+(\.0*)?\s*$")


def _as_drf_reads(value, schema, bundle):
    """`value` as DRF's fields (and the import, which reads alike) turn it into the type `schema` declares."""
    while isinstance(schema, dict) and "$ref" in schema:
        schema = bundle.get(schema["$ref"].rsplit("/", 1)[-1], {})
    for branch in (schema.get("allOf") or []) if isinstance(schema, dict) else []:
        value = _as_drf_reads(value, branch, bundle)
    if not isinstance(schema, dict):
        return value
    kind = schema.get("type")
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties", {})
        return {k: _as_drf_reads(v, properties.get(k, {}), bundle) for k, v in value.items()}
    if kind == "array" and isinstance(value, list):
        return [_as_drf_reads(v, schema.get("items", {}), bundle) for v in value]
    if kind == "integer" and isinstance(value, str) and _INTEGER.match(value):
        return int(float(value))
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "boolean" and isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value).lower() if isinstance(value, str) else str(int(value)) if value in (0, 1) else None
        return True if text in _TRUE else False if text in _FALSE else value
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def reads_valid_as_drf(case) -> bool:
    """A JSON body that the schema refuses only for a scalar DRF reads as the declared type."""
    if case.media_type != "application/json" or case.query and _has_negative_query(case):
        return False
    body = next((b for b in case.operation.body if b.media_type == case.media_type), None)
    if body is None:
        return False
    definition = body.optimized_schema
    read = _as_drf_reads(case.body, definition, definition.get("x-bundled", {}))
    return read != case.body and jsonschema_rs.Draft4Validator(definition).is_valid(read)


def _has_negative_query(case) -> bool:
    return (
        case.meta is not None
        and case.meta.components.get("query") is not None
        and not (case.meta.components["query"].mode.is_positive)
    )


# --- Query parameters the API does not know ------------------------------------------------------


def _declared_query(case) -> tuple[dict, dict]:
    """The operation's query parameters by name, each with its schema (a form-exploded object parameter's
    properties are parameters of their own), and the values the case sends for them, as Django reads them
    (the last of a repeated name)."""
    declared = {}
    for parameter in case.operation.definition.raw.get("parameters", []):
        if parameter.get("in") != "query":
            continue
        schema = parameter.get("schema", {})
        branches = schema.get("oneOf") or [schema]
        if all(branch.get("type") == "object" for branch in branches):
            declared.update({name: None for branch in branches for name in branch.get("properties", {})})
            declared[parameter["name"], "object"] = schema
        else:
            declared[parameter["name"]] = schema
    sent = {}
    for name, value in (case.query or {}).items():
        sent[name] = value[-1] if isinstance(value, list) and value else value
    return declared, sent


def _as_sent(value, schema):
    if isinstance(value, str) and schema.get("type") == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def only_unknown_query_parameters(case) -> bool:
    """Nothing wrong in the case but query parameters the operation does not declare, which the API ignores
    (as HTTP APIs do: `?page=` is one, and a cache-buster must not break a request)."""
    meta = case.meta
    for location in ("body", "path"):
        component = meta.components.get(location) if meta is not None else None
        if component is not None and not component.mode.is_positive:
            return False
    declared, sent = _declared_query(case)
    if not set(sent) - {name for name in declared if isinstance(name, str)}:
        return False
    for name, schema in declared.items():
        if isinstance(name, tuple):
            values = {key: sent[key] for key in sent if key in declared and declared[key] is None}
            # None of its properties sent: the parameter is absent (the API's default), not an empty object.
            if values and not jsonschema_rs.Draft4Validator(schema).is_valid(
                {k: _as_sent(v, {}) for k, v in values.items()}
            ):
                return False
        elif (
            schema is not None
            and name in sent
            and not jsonschema_rs.Draft4Validator(schema).is_valid(_as_sent(sent[name], schema))
        ):
            return False
    return True


# A body over DATA_UPLOAD_MAX_MEMORY_SIZE bytes is refused with the documented 413, whatever the schema says
# of its parts (a size in bytes is not a JSON Schema rule): a refusal, never an acceptance.
TOO_LARGE = 413


def positive_data_acceptance(ctx, response, case):
    if response.status_code == TOO_LARGE:
        return None
    return checks.positive_data_acceptance(ctx, response, case)


def negative_data_rejection(ctx, response, case):
    if response.status_code == TOO_LARGE:
        return None
    try:
        return checks.negative_data_rejection(ctx, response, case)
    except AssertionError:
        if response.status_code < 300 and (reads_valid_as_drf(case) or only_unknown_query_parameters(case)):
            return None
        raise


CHECKS = [*CONFORMANCE, positive_data_acceptance, negative_data_rejection]


# --- The runs ------------------------------------------------------------------------------------


@pytest.fixture
def auth(agent, tenant):
    client = key_client(tenant)
    return {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}


def aimed_at_the_fixtures(case, agent):
    """A valid case's path names the caller's agent and a real family, so it reaches the code behind them (a
    missing one is a 404, which the isolation tests cover)."""
    if case.meta is None or not case.meta.generation.mode.is_positive or not case.path_parameters:
        return
    if "agent_id" in case.path_parameters:
        case.path_parameters["agent_id"] = agent.pk
    if "family_slug" in case.path_parameters:
        case.path_parameters["family_slug"] = agent.model.family.slug
    if "rule_id" in case.path_parameters:
        rule, _ = AlertRule.objects.get_or_create(tenant=agent.tenant, name="taken", kind="write_storm")
        case.path_parameters["rule_id"] = rule.pk
    if "webhook_id" in case.path_parameters:
        webhook, _ = Webhook.objects.get_or_create(
            tenant=agent.tenant, name="taken", kind="json", url="https://example.com/hook"
        )
        case.path_parameters["webhook_id"] = webhook.pk


def call_and_roll_back(case, **kwargs):
    """Each case against the same starting state: what a case writes (agents, throttle counts) is undone."""
    with transaction.atomic():
        response = case.call(**kwargs)
        transaction.set_rollback(True)
    return response


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_with_a_valid_key(case, auth, agent):
    aimed_at_the_fixtures(case, agent)
    if case.meta is not None and case.meta.generation.mode.is_positive and breaks_a_stated_rule(case, agent):
        return
    response = call_and_roll_back(case, headers=auth)
    case.validate_response(response, checks=CHECKS)
    assert Agent.objects.filter(pk=agent.pk).exists()


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_without_a_key(case):
    response = call_and_roll_back(case)
    case.validate_response(response, checks=CONFORMANCE)
    assert response.status_code in (401, 403, 404, 405)
