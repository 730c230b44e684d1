"""Shapes of the agents API: what comes in (validated) and what goes out."""

from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers
from rest_framework.utils import html

from agents_app.catalog import inference_profile, model_label
from agents_app.models import CacheStrategy, Deployment
from agents_app.selectors import EXPORT_FORMAT, caching_state, current_versions, deploy_state, deployment_superseded
from agents_app.services.agents import (
    INTEGRATIONS_MAX,
    MODEL_ID_MAX_CHARS,
    NAME_MAX_CHARS,
    SYSTEM_PROMPT_MAX_CHARS,
)
from agents_app.validators import SESSION_ID, SESSION_ID_MESSAGE
from bedrock import misses
from pricing.costs import money, money_figures


def paginated(serializer_class) -> type[serializers.Serializer]:
    """The page envelope of a list response, for the OpenAPI schema."""
    return type(
        f"Paginated{serializer_class.__name__.removesuffix('Serializer')}List",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


class AsSent:
    """A form, multipart or query value read as sent: a blank is a blank, as in JSON. (DRF reads a form's blank
    as null or as left out: `session_id=""` started a new session, `?status=` filtered nothing.)"""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class AsSentCharField(AsSent, serializers.CharField):
    pass


class AsSentChoiceField(AsSent, serializers.ChoiceField):
    pass


class StrictBooleanField(serializers.BooleanField):
    """A boolean read alike from JSON, a form and multipart: left out is left out. (DRF reads a form's missing
    boolean as false, HTML's unticked checkbox; an API client that leaves a field out has not said false.)"""

    default_empty_html = serializers.empty


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 naming it rather than a silent no-op."""

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return attrs


class AgentInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=NAME_MAX_CHARS)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    system_prompt = serializers.CharField(max_length=SYSTEM_PROMPT_MAX_CHARS, trim_whitespace=False)
    model_id = serializers.CharField(max_length=MODEL_ID_MAX_CHARS)
    max_tokens = serializers.IntegerField(min_value=1, required=False, default=4096)
    integrations = serializers.ListField(
        child=serializers.DictField(), required=False, default=list, max_length=INTEGRATIONS_MAX
    )
    prompt_caching_enabled = StrictBooleanField(required=False, allow_null=True, default=None)
    cache_strategy = serializers.ChoiceField(choices=CacheStrategy.values, required=False, default="combined")


class AgentImportSerializer(StrictSerializer):
    """The document `POST /api/agents/import/` takes (what the export gives), for the schema: the import
    service checks it, each agent as a create request is checked, and reports every bad agent at once."""

    format = serializers.ChoiceField(choices=[EXPORT_FORMAT], required=False)
    agents = AgentInputSerializer(many=True, min_length=1, max_length=settings.AGENT_IMPORT_MAX_AGENTS)


class ModelFamilySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    provider = serializers.CharField()


class PricesSerializer(serializers.Serializer):
    input_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, source="input")
    output_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, source="output")
    cache_read_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, source="cache_read")
    cache_write_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, source="cache_write")
    cache_write_1h_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, source="cache_write_1h")
    source = serializers.CharField()


class CapabilitiesSerializer(serializers.Serializer):
    cache_min_tokens = serializers.IntegerField(allow_null=True)
    cache_max_checkpoints = serializers.IntegerField()
    cache_fields = serializers.ListField(child=serializers.CharField())
    supports_tool_use = serializers.BooleanField()


class FoundationModelSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    display_name = serializers.CharField()
    inference_profile = serializers.SerializerMethodField(
        help_text='The inference-profile prefix of model_id ("us", "global" ...); empty for an in-region model.'
    )
    label = serializers.SerializerMethodField(
        help_text="A name to show wherever a model is chosen: name, where it runs, your input and output prices."
    )
    family = ModelFamilySerializer()
    max_tokens = serializers.IntegerField()
    supports_prompt_caching = serializers.BooleanField()
    capabilities = serializers.SerializerMethodField()
    prices = serializers.SerializerMethodField()

    def get_capabilities(self, model) -> CapabilitiesSerializer:
        return CapabilitiesSerializer(model).data

    def get_prices(self, model) -> PricesSerializer:
        return PricesSerializer(self.context["prices"][model.pk]).data

    def get_inference_profile(self, model) -> str:
        return inference_profile(model.model_id)

    def get_label(self, model) -> str:
        return model_label(model, self.context["prices"][model.pk])


class CachingStateSerializer(serializers.Serializer):
    requested = serializers.BooleanField()
    effective = serializers.BooleanField()
    source = serializers.ChoiceField(choices=["agent", "family default"])


class AgentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    system_prompt = serializers.CharField()
    model_id = serializers.CharField(source="model.model_id")
    model_name = serializers.CharField(source="model.display_name")
    family = serializers.CharField(source="model.family.slug")
    max_tokens = serializers.IntegerField()
    integrations = serializers.ListField(child=serializers.DictField())
    prompt_caching_enabled = serializers.BooleanField(allow_null=True)
    cache_strategy = serializers.CharField()
    caching = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    current_version = serializers.SerializerMethodField(
        help_text="The version invocations run: the highest deployed one; null before the first deploy."
    )
    deploy_status = serializers.SerializerMethodField(
        help_text="The newest deployment's status (pending, deploying, deployed, failed); null when never deployed."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def _state(self, agent):
        return caching_state(agent)

    def get_current_version(self, agent) -> int | None:
        return deploy_state(agent).current_version

    def get_deploy_status(self, agent) -> str | None:
        return deploy_state(agent).deploy_status

    def get_caching(self, agent) -> CachingStateSerializer:
        return CachingStateSerializer(self._state(agent)).data

    def get_warnings(self, agent) -> list[str]:
        return self._state(agent).warnings + self.context.get("notices", [])


class FamilyDefaultSerializer(serializers.Serializer):
    family = serializers.CharField(source="slug")
    name = serializers.CharField()
    prompt_caching_enabled = serializers.SerializerMethodField()

    def get_prompt_caching_enabled(self, family) -> bool:
        return self.context["defaults"].get(family.pk, False)


class FamilyDefaultInputSerializer(StrictSerializer):
    prompt_caching_enabled = StrictBooleanField()


class InvocationInputSerializer(StrictSerializer):
    prompt = serializers.CharField(trim_whitespace=False)
    session_id = AsSentCharField(
        required=False,
        allow_null=True,
        default=None,
        max_length=100,
        validators=[RegexValidator(SESSION_ID, SESSION_ID_MESSAGE)],
        help_text="Continue this session; left out or null starts a new one.",
    )
    # The rest of the checks are `invocation_create`'s, the same for every door.


class AgentFilterSerializer(serializers.Serializer):
    """The agents list's query: text a database can compare (a NUL byte is a 400, not PostgreSQL's 500); a blank
    value filters nothing."""

    family = AsSentCharField(required=False, allow_blank=True, max_length=100)
    model_id = AsSentCharField(required=False, allow_blank=True, max_length=200)
    search = AsSentCharField(required=False, allow_blank=True, max_length=200)


class InvocationFilterSerializer(serializers.Serializer):
    status = AsSentChoiceField(choices=["queued", "running", "succeeded", "failed"], required=False)
    session_id = AsSentCharField(required=False, max_length=100)
    # A choice, not a BooleanField: DRF reads a missing boolean in a query string as False.
    cache_hit = AsSentChoiceField(choices=["true", "false"], required=False)
    miss_reason = AsSentChoiceField(choices=list(misses.REASONS), required=False)

    def validate_cache_hit(self, value) -> bool:
        return value == "true"


# Money goes out as `pricing.costs` writes it everywhere: USD strings with 6 places (the schema says string).
MONEY_FIELD = {"max_digits": 20, "decimal_places": 6}


class InvocationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    agent_id = serializers.IntegerField()
    session_id = serializers.CharField(source="session.session_id")
    status = serializers.CharField()
    prompt = serializers.CharField()
    response = serializers.CharField()
    error = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    model_id = serializers.CharField()
    deployment_version = serializers.IntegerField(allow_null=True)
    attempts = serializers.IntegerField(
        help_text="Attempts at the model calls: the service's runs and botocore's retries."
    )
    retries = serializers.ListField(
        child=serializers.DictField(),
        help_text="Failed attempts that were tried again: attempt, error, status, at, retried_by (botocore, service); "
        "an attempt lost with a dead worker also has lost_with_worker: true.",
    )
    lost_attempts = serializers.IntegerField(
        help_text="Attempts lost with a dead worker: the turn ran again, so Bedrock may have billed it twice."
    )
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    queue_wait_ms = serializers.IntegerField(
        allow_null=True, help_text="From queued to the start of its first attempt: the wait for a worker."
    )
    time_to_first_token_ms = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    caching_enabled = serializers.BooleanField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    cache_write_1h_tokens = serializers.IntegerField()
    cache_hit = serializers.BooleanField(allow_null=True)
    cache_miss_reason = serializers.CharField(
        help_text="Why it wrote the cache instead of reading it: hit, growth, first_use, ttl_expired, "
        "prefix_changed, below_minimum, lookback_exceeded; empty with caching off."
    )
    cache_miss_detail = serializers.DictField(help_text="call, gap_seconds, version, previous_version.")
    model_calls = serializers.ListField(child=serializers.DictField())
    prices = serializers.DictField(help_text="USD per million tokens in force when it ran.")
    cost_with_cache = serializers.DecimalField(**MONEY_FIELD)
    cost_without_cache = serializers.DecimalField(**MONEY_FIELD)
    gross_savings = serializers.DecimalField(**MONEY_FIELD)
    write_premium = serializers.DecimalField(**MONEY_FIELD)
    net_savings = serializers.DecimalField(**MONEY_FIELD)
    output_cost = serializers.DecimalField(**MONEY_FIELD)

    def to_representation(self, instance):
        # Money as everywhere else: 6 places, rounded once, the rest derived (`pricing.costs.money_figures`).
        return {**super().to_representation(instance), **money_figures(instance)}


class SessionOutputSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_invoked_at = serializers.DateTimeField(allow_null=True)
    invocations = serializers.IntegerField(help_text="Succeeded invocations; the figures below are theirs.")
    failed_invocations = serializers.IntegerField(help_text="Failed invocations, counted nowhere else.")
    input_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    efficiency_ratio = serializers.FloatField(help_text="Cache reads ÷ total input tokens of the session, 6 places.")
    net_savings = serializers.DecimalField(**MONEY_FIELD)
    cost = serializers.DecimalField(**MONEY_FIELD, help_text="Spent: input cost with the cache plus output cost.")

    def to_representation(self, instance):
        return {**super().to_representation(instance), "net_savings": money(instance["net_savings"])}


class DeploymentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    agent_id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=Deployment.Status.values,
        help_text="pending, deploying, deployed, failed, or superseded (never deployed: a newer version was "
        "requested first; `error` names it).",
    )
    superseded = serializers.SerializerMethodField(help_text="`status` is superseded (kept for older clients).")
    current = serializers.SerializerMethodField(
        help_text="The version the agent runs now: its highest deployed one. Older deployed versions say false."
    )
    backend = serializers.CharField()
    config = serializers.DictField(help_text="The exact AGENT_CONFIG_JSON of this version.")
    error = serializers.CharField(help_text="The last failure (kept while a retry is pending), or why it was skipped.")
    attempts = serializers.IntegerField()
    requested_by = serializers.CharField(source="requested_by_label")
    requested_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    runtime_arn = serializers.CharField()

    def get_superseded(self, deployment) -> bool:
        return deployment_superseded(deployment)

    def get_current(self, deployment) -> bool:
        # The view hands the current versions of the agents on the page (one query); else look this one up.
        versions = self.context.get("current_versions")
        if versions is None:
            versions = current_versions(agent_ids=[deployment.agent_id])
        return versions.get(deployment.agent_id) == deployment.version
