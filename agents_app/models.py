"""Agents, the model catalog, deployments, sessions and invocations."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce

from agent_platform.models import Tenant, TenantAPIKey
from bedrock import misses

# --- Model catalog (global, edited by superusers) ------------------------------------------------


class ModelFamily(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "model families"

    def __str__(self):
        return self.name


class FoundationModel(models.Model):
    """A Bedrock model (or inference profile) agents may use, with the platform's caching policy for it.

    `supports_prompt_caching` is policy: the runtime sends checkpoints only when
    it is on, and only in `cache_fields`. The values are seeded from
    `bedrock.facts` and may be changed here by a platform admin.
    """

    model_id = models.CharField(max_length=200, unique=True)
    display_name = models.CharField(max_length=200)
    family = models.ForeignKey(ModelFamily, on_delete=models.PROTECT, related_name="models")
    max_tokens = models.PositiveIntegerField(help_text="Largest max_tokens an agent on this model may ask for.")
    supports_prompt_caching = models.BooleanField(default=False)
    cache_min_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Minimum tokens before a cache checkpoint for it to take effect."
    )
    cache_max_checkpoints = models.PositiveSmallIntegerField(default=4)
    cache_fields = models.JSONField(
        default=list, blank=True, help_text='Request fields that accept a checkpoint: "tools", "system", "messages".'
    )
    supports_tool_use = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["family__name", "display_name", "model_id"]

    def __str__(self):
        return f"{self.display_name} ({self.model_id})"


# --- Agents ---------------------------------------------------------------------------------------


class CacheStrategy(models.TextChoices):
    # What Strands 1.62 does (see agents_app/runtime/checkpoints.py): the moving checkpoint sits on the newest
    # user message, so automatic writes the cache on turn 1 and reads it from turn 2 on.
    EXPLICIT = (
        "explicit",
        ("Explicit: checkpoints after the system prompt and tools, written on the first call, read on every later one"),
    )
    AUTOMATIC = (
        "automatic",
        (
            "Automatic: a checkpoint on the newest message that moves with the conversation, written from the first "
            "turn, read from the second"
        ),
    )
    COMBINED = "combined", "Combined: both, the largest savings on multi-turn conversations"


class FamilyCachingDefault(models.Model):
    """A tenant's caching default for one model family, followed by agents whose own setting is unset."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="family_caching_defaults")
    family = models.ForeignKey(ModelFamily, on_delete=models.CASCADE, related_name="tenant_defaults")
    prompt_caching_enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "family"], name="unique_family_default")]

    def __str__(self):
        return f"{self.family}: caching {'on' if self.prompt_caching_enabled else 'off'}"


# What `AgentQuerySet.with_caching_state` and `.with_deploy_state` annotate.
CACHING_STATE_FIELDS = ("caching_requested", "caching_effective")
DEPLOY_STATE_FIELDS = ("current_version", "deploy_status")


class AgentQuerySet(models.QuerySet):
    def with_caching_state(self) -> AgentQuerySet:
        """Annotate the caching rule: `caching_requested` and `caching_effective` (see `selectors.caching_state`).

        Requested is the agent's own setting, else its tenant's default for the
        model's family if the model can cache (a family default never asks a
        model that cannot cache), else off; effective is requested on a model
        that can cache. An agent's own "on" for a model that cannot cache is
        refused when it is saved; it shows here only when the catalog changed
        under it.
        """
        family_default = FamilyCachingDefault.objects.filter(
            tenant=OuterRef("tenant"), family=OuterRef("model__family")
        ).values("prompt_caching_enabled")[:1]
        default_if_it_can_cache = Case(
            When(model__supports_prompt_caching=True, then=Subquery(family_default)),
            default=Value(None),
            output_field=models.BooleanField(),
        )
        requested = Coalesce(
            F("prompt_caching_enabled"), default_if_it_can_cache, Value(False), output_field=models.BooleanField()
        )
        return self.annotate(caching_requested=requested).annotate(
            caching_effective=Case(
                When(caching_requested=True, model__supports_prompt_caching=True, then=Value(True)),
                default=Value(False),
                output_field=models.BooleanField(),
            )
        )

    def with_deploy_state(self) -> AgentQuerySet:
        """Annotate `current_version` (the highest deployed version: what invocations run; None before the first
        deploy) and `deploy_status` (the newest deployment's status; None when there is none)."""
        deployments = Deployment.objects.filter(agent=OuterRef("pk"))
        deployed = deployments.filter(status=Deployment.Status.DEPLOYED).order_by("-version").values("version")
        return self.annotate(
            current_version=Subquery(deployed[:1]),
            deploy_status=Subquery(deployments.order_by("-version").values("status")[:1]),
        )


class Agent(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    system_prompt = models.TextField()
    model = models.ForeignKey(FoundationModel, on_delete=models.PROTECT, related_name="agents")
    max_tokens = models.PositiveIntegerField(default=4096)
    integrations = models.JSONField(default=list, blank=True)
    # None: follow the tenant's default for the model's family.
    prompt_caching_enabled = models.BooleanField(null=True, blank=True)
    cache_strategy = models.CharField(max_length=10, choices=CacheStrategy.choices, default=CacheStrategy.COMBINED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_agent_name_per_tenant")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        # A state annotated when the row was read may not hold any more; the selectors read it again.
        for name in CACHING_STATE_FIELDS + DEPLOY_STATE_FIELDS:
            self.__dict__.pop(name, None)


# --- Deployments ----------------------------------------------------------------------------------


class Deployment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DEPLOYING = "deploying"
        DEPLOYED = "deployed"
        FAILED = "failed"
        # Never deployed: a newer version was requested before it ran (`error` names it). Not a failure.
        SUPERSEDED = "superseded"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="deployments")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="deployments")
    version = models.PositiveIntegerField()
    config = models.JSONField(help_text="The exact AGENT_CONFIG_JSON pushed to the runtime.")
    backend = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    runtime_arn = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["agent", "version"], name="unique_deployment_version")]

    def __str__(self):
        return f"{self.agent} v{self.version} ({self.status})"


# --- Sessions and invocations ---------------------------------------------------------------------


# What the sessions and invocations lists sort "cost" by (input with the cache plus output), and the expression
# their indexes hold: the same SQL on both sides, so the sort reads the index. A float sum, not a decimal one,
# because on SQLite Django casts a decimal expression, and casts it once more inside an index.
COST_SUM = CombinedExpression(F("cost_with_cache"), "+", F("output_cost"), output_field=models.FloatField())


class AgentSession(models.Model):
    """A conversation with an agent. `messages` is the Strands conversation, stored without cache points."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sessions")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=100)
    messages = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_invoked_at = models.DateTimeField(null=True, blank=True)
    # A worker running one of the session's invocations holds the lease, so turns run one at a time;
    # a worker that dies lets it expire and another worker takes the turn over.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Running totals of its finished invocations, as `agents_app.sessions` counts them (succeeded ones; failed
    # ones apart), added to in the transaction that finishes each: the sessions list reads and sorts by them.
    succeeded_invocations = models.PositiveIntegerField(default=0)
    failed_invocations = models.PositiveIntegerField(default=0)
    caching_enabled_invocations = models.PositiveIntegerField(default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    cache_read_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_with_cache = models.DecimalField(max_digits=26, decimal_places=12, default=0)
    output_cost = models.DecimalField(max_digits=26, decimal_places=12, default=0)
    net_savings = models.DecimalField(max_digits=26, decimal_places=12, default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["agent", "session_id"], name="unique_session_per_agent")]
        indexes = [
            # The sessions list across tenants, in its default order and sorted by cost (ties newest first, as
            # the list's header link asks): read off an index instead of sorting every session.
            models.Index(fields=["created_at", "id"], name="session_created_idx"),
            models.Index(COST_SUM, F("created_at").desc(), F("id").desc(), name="session_cost_idx"),
        ]

    def __str__(self):
        return self.session_id


MONEY = {"max_digits": 20, "decimal_places": 12, "default": 0}
MISS_REASONS = [(reason, misses.LABELS[reason]) for reason in misses.REASONS]


class Invocation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invocations")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="invocations")
    session = models.ForeignKey(AgentSession, on_delete=models.CASCADE, related_name="invocations")
    deployment = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deployment_version = models.PositiveIntegerField(null=True, blank=True)
    model_id = models.CharField(max_length=200, blank=True)
    # Who asked for it: an API key, or a person through the admin (neither: a command or the system).
    api_key = models.ForeignKey(TenantAPIKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    prompt = models.TextField()
    response = models.TextField(blank=True)
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # Every attempt at the model calls: the service's runs plus the retries botocore made inside them.
    attempts = models.PositiveSmallIntegerField(default=0)
    retries = models.JSONField(
        default=list, blank=True, help_text="Each failed attempt that was tried again: its error, when, and by whom."
    )
    lost_attempts = models.PositiveSmallIntegerField(
        default=0,
        help_text="Attempts lost with a dead worker: the turn ran again, so Bedrock may have billed it twice.",
    )

    queued_at = models.DateTimeField(auto_now_add=True)
    # When a task for it was last sent; the sweeper sends another when this grows old (a lost message).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # From queued to its first attempt's start: how long the turn waited for a worker.
    queue_wait_ms = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    # Bedrock's usage, summed over the model calls of the invocation.
    # `input_tokens` is input neither read from nor written to the cache.
    caching_enabled = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cache_write_1h_tokens = models.PositiveIntegerField(default=0, help_text="Part of cache_write_tokens with 1h TTL.")
    # None when caching was off for this invocation.
    cache_hit = models.BooleanField(null=True, blank=True)
    model_calls = models.JSONField(default=list, blank=True, help_text="Usage of each model call of a tool loop.")
    # Why the turn wrote the cache instead of reading it (`bedrock.misses`), set when it finishes with caching on.
    cache_miss_reason = models.CharField(max_length=20, choices=MISS_REASONS, blank=True)
    cache_miss_detail = models.JSONField(
        default=dict, blank=True, help_text="The model call it concerns, the idle gap, the deployment versions."
    )

    # Input-side costs in USD (see pricing.costs) with the prices in force when it ran
    # (`prices`, per million tokens), so later price changes never rewrite history.
    prices = models.JSONField(default=dict, blank=True)
    cost_with_cache = models.DecimalField(**MONEY)
    cost_without_cache = models.DecimalField(**MONEY)
    gross_savings = models.DecimalField(**MONEY)
    write_premium = models.DecimalField(**MONEY)
    net_savings = models.DecimalField(**MONEY)
    output_cost = models.DecimalField(**MONEY)
    # W3C traceparent of the span that created it (empty with tracing off): every run joins that trace,
    # a task the sweeper sent again included.
    trace_parent = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["agent", "queued_at"]),
            models.Index(fields=["tenant", "queued_at"]),
            models.Index(fields=["session", "queued_at"]),
            models.Index(fields=["status", "enqueued_at"]),
            # The default order across tenants (a superuser's invocations list): its first page is read off
            # this index instead of sorting every invocation.
            models.Index(fields=["queued_at", "id"]),
            # The same list sorted by cost, the cheapest first (ties, the failed ones among them, newest first as
            # the list's header link asks): read off this index; the dearest first, backwards, ties sorted.
            models.Index(COST_SUM, F("queued_at").desc(), F("id").desc(), name="invocation_cost_idx"),
        ]

    def __str__(self):
        return f"Invocation {self.pk} ({self.status})"


class TenantInferenceProfile(models.Model):
    """A tenant's application inference profile of one model, created once by the deployer and reused.

    Model calls of the tenant's agents on `model_id` send `arn` as their modelId, so AWS bills them to the
    profile and its cost-allocation tags name the tenant (BEDROCK_TENANT_INFERENCE_PROFILES).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="inference_profiles")
    model_id = models.CharField(max_length=200)
    name = models.CharField(max_length=64)
    arn = models.CharField(max_length=2048)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "model_id"], name="unique_inference_profile")]

    def __str__(self):
        return f"{self.name} ({self.arn})"


# --- Budgets --------------------------------------------------------------------------------------


class Budget(models.Model):
    """A hard monthly budget of a tenant (no agent) or of one agent, in USD per UTC calendar month.

    Once the month's spend (`MonthlySpend`) reaches it, `invocation_create`
    refuses new invocations with `budget_exhausted` until the month turns or
    the budget is raised. Spend is what the invocations cost: input with the
    cache plus output (`pricing.costs.spend`). Soft budgets are alert rules
    (`spend_above_budget`): they tell, they never refuse.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="budgets")
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets", help_text="Empty: the tenant."
    )
    monthly_limit = models.DecimalField(max_digits=14, decimal_places=2, help_text="USD per UTC calendar month.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "agent_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(agent__isnull=True), name="unique_tenant_budget"
            ),
            models.UniqueConstraint(fields=["agent"], name="unique_agent_budget"),
            models.CheckConstraint(condition=models.Q(monthly_limit__gte=0), name="budget_not_negative"),
        ]

    def __str__(self):
        return f"{self.agent or self.tenant}: ${self.monthly_limit}/month"

    def clean(self):
        if self.agent_id and self.tenant_id and self.agent.tenant_id != self.tenant_id:
            raise ValidationError({"agent": "The agent must be one of the budget's tenant."})


class MonthlySpend(models.Model):
    """What an agent's finished invocations cost in a UTC month (of their `queued_at`), kept running.

    Added to in the transaction that stores an invocation's costs, so it always
    equals the sum over the stored rows; a tenant's month is the sum of its
    agents' rows (a few rows, however many invocations). One row per agent and
    month keeps concurrent workers of different agents off each other's row.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="monthly_spend")
    month = models.DateField(help_text="The first day of the UTC month.")
    spend = models.DecimalField(max_digits=26, decimal_places=12, default=0)

    class Meta:
        ordering = ["-month", "agent_id"]
        constraints = [models.UniqueConstraint(fields=["agent", "month"], name="unique_monthly_spend")]
        indexes = [models.Index(fields=["tenant", "month"])]

    def __str__(self):
        return f"{self.agent} {self.month:%Y-%m}: {self.spend}"
