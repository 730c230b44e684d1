"""What caching costs and saves: daily rollups and stored reports."""

from django.db import models

from agent_platform.models import Tenant
from caching import histograms

# Sums of the per-invocation figures (agents_app MONEY: 20 digits, 12 places), with room to grow.
MONEY_SUM = {"max_digits": 26, "decimal_places": 12, "default": 0}

# The timing histograms' columns (`caching.histograms`: a count per bucket, the count and the sum), one per
# bucket bound, generated from the bounds so the columns and the exported buckets cannot drift apart.
TimingHistogramColumns = type(
    "TimingHistogramColumns",
    (models.Model,),
    {
        "__module__": __name__,
        "Meta": type("Meta", (), {"abstract": True}),
        **{name: models.PositiveIntegerField(default=0) for name in histograms.COUNT_FIELDS},
        **{name: models.PositiveBigIntegerField(default=0) for name in histograms.SUM_FIELDS},
    },
)


class CacheSums(TimingHistogramColumns):
    """The figures a rollup row sums (`caching.sums.SUM_FIELDS`), shared by every rollup."""

    total_invocations = models.PositiveIntegerField(default=0, help_text="Succeeded invocations.")
    failed_invocations = models.PositiveIntegerField(default=0)
    caching_enabled_invocations = models.PositiveIntegerField(default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    no_cache_activity_invocations = models.PositiveIntegerField(
        default=0, help_text="Caching enabled, yet neither read nor wrote the cache (prompt below the minimum)."
    )
    # Succeeded invocations by `Invocation.cache_miss_reason`.
    miss_reason_hit = models.PositiveIntegerField(default=0)
    miss_reason_growth = models.PositiveIntegerField(default=0)
    miss_reason_first_use = models.PositiveIntegerField(default=0)
    miss_reason_ttl_expired = models.PositiveIntegerField(default=0)
    miss_reason_prefix_changed = models.PositiveIntegerField(default=0)
    miss_reason_below_minimum = models.PositiveIntegerField(default=0)
    miss_reason_lookback_exceeded = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    cache_read_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_with_cache = models.DecimalField(**MONEY_SUM)
    cost_without_cache = models.DecimalField(**MONEY_SUM)
    gross_savings = models.DecimalField(**MONEY_SUM)
    write_premium = models.DecimalField(**MONEY_SUM)
    net_savings = models.DecimalField(**MONEY_SUM)
    output_cost = models.DecimalField(**MONEY_SUM)
    # Attempts at the model calls of finished invocations, those tried again, and those lost with a dead worker.
    attempts = models.PositiveIntegerField(default=0)
    retried_attempts = models.PositiveIntegerField(default=0)
    lost_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class DailyCacheRollup(CacheSums):
    """One agent's invocations of one UTC day (the date of `queued_at`), summed.

    Counts and sums follow `caching.sums.invocation_sums`: tokens and money
    of succeeded invocations only (the stored per-invocation Decimal figures,
    never recomputed), failed ones counted apart. Written only by
    `caching.services.rollup_day`, together with the day's `CacheRollupDay`.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="cache_rollups")
    agent = models.ForeignKey("agents_app.Agent", on_delete=models.CASCADE, related_name="cache_rollups")
    day = models.DateField()

    rolled_up_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "agent_id"]
        constraints = [models.UniqueConstraint(fields=["agent", "day"], name="unique_cache_rollup_per_agent_day")]
        indexes = [models.Index(fields=["tenant", "day"])]

    def __str__(self):
        return f"{self.agent} on {self.day}"


class CacheRollupDay(CacheSums):
    """A tenant's day has been rolled up: its `DailyCacheRollup` rows are complete as of `covers_through_id`,
    and its figures (`CacheSums`) are theirs summed, the tenant's day.

    The rollup rows hold every invocation of the day with an id up to
    `covers_through_id` (the highest invocation id in the table when the day
    was summed, or when it was last checked). Readers trust them only when
    `open_invocations` is 0 and no invocation of that day has a larger id; see
    `caching.rollups` for the whole design. The tenant's by-day figures are
    read from here, one row a day however many agents it has: they are written
    with its agents' rows (`caching.services.rollup_day`), and an agent that is
    deleted takes its share with it (`caching.services.agent_rollups_drop`).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="cache_rollup_days")
    day = models.DateField()
    open_invocations = models.PositiveIntegerField(
        default=0, help_text="Invocations still queued or running when the day was summed."
    )
    covers_through_id = models.PositiveBigIntegerField(default=0)
    rolled_up_at = models.DateTimeField()

    class Meta:
        ordering = ["-day"]
        verbose_name = "rolled-up day"
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="unique_cache_rollup_day")]

    def __str__(self):
        return f"{self.tenant} {self.day}"


class HourlyCacheRollup(CacheSums):
    """One agent's invocations of one UTC hour (of `queued_at`) asked for by one API key (none: the admin, a
    command), summed exactly as a `DailyCacheRollup` is.

    Kept for the last few days only (`caching.services.HOURLY_ROLLUP_DAYS`): they serve today, and a closed
    day until its daily rollup exists. Split by key as well as by agent, so the tenant's figures by key
    (which every tenant read includes) are served by it too; summed over keys it is the agent's hour. Its
    figure columns are every rollup's (`CacheSums`), so a figure added there is summed per hour too. Written
    only by `caching.services.rollup_hour`, with the hour's `CacheRollupHour`.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="hourly_cache_rollups")
    agent = models.ForeignKey("agents_app.Agent", on_delete=models.CASCADE, related_name="hourly_cache_rollups")
    # As in `DailyKeyRollup`: a deleted key's rows stay and show as "no key".
    api_key = models.ForeignKey(
        "agent_platform.TenantAPIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    day = models.DateField(help_text="The hour's UTC day (what the by-day figures group by).")
    rolled_up_at = models.DateTimeField()

    class Meta:
        ordering = ["-hour", "agent_id"]
        indexes = [models.Index(fields=["tenant", "hour"]), models.Index(fields=["agent", "hour"])]

    def __str__(self):
        return f"{self.agent} at {self.hour:%Y-%m-%d %H}:00 by {self.api_key_id or 'no key'}"


class CacheRollupHour(models.Model):
    """A tenant's closed hour has been rolled up: `CacheRollupDay`'s rule, one hour wide (`caching.rollups`)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="cache_rollup_hours")
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    open_invocations = models.PositiveIntegerField(
        default=0, help_text="Invocations still queued or running when the hour was summed."
    )
    covers_through_id = models.PositiveBigIntegerField(default=0)
    rolled_up_at = models.DateTimeField()

    class Meta:
        ordering = ["-hour"]
        verbose_name = "rolled-up hour"
        constraints = [models.UniqueConstraint(fields=["tenant", "hour"], name="unique_cache_rollup_hour")]

    def __str__(self):
        return f"{self.tenant} {self.hour:%Y-%m-%d %H}:00"


class CacheReport(models.Model):
    """A tenant's cache report for a period, as mailed to its admins; `stats` is the tenant cache-stats JSON."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="cache_reports")
    period_start = models.DateField()
    period_end = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    stats = models.JSONField()
    emailed_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-period_end", "tenant_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period_start", "period_end"], name="unique_cache_report_period")
        ]

    def __str__(self):
        return f"{self.tenant}: {self.period_start} to {self.period_end}"


class CacheAdvice(models.Model):
    """An agent's cache advice for a period: the what-if replay's figures, with when and on what data.

    Written only by `caching.advice_services`. `data` is the JSON the advice
    API answers with (`caching.advice.advice_data`); `invocations` and
    `through_invocation_id` say which invocations it was computed from, so a
    reader can tell when newer ones make it stale.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="cache_advice")
    agent = models.ForeignKey("agents_app.Agent", on_delete=models.CASCADE, related_name="cache_advice")
    period_from = models.DateField()
    period_to = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0, help_text="0 to 1 while the replay runs.")
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    invocations = models.PositiveIntegerField(default=0, help_text="Succeeded invocations of the period replayed.")
    through_invocation_id = models.PositiveBigIntegerField(default=0, help_text="The newest invocation included.")
    left_on_table = models.DecimalField(
        **MONEY_SUM, help_text="Input cost of the period above the oracle placement's (USD)."
    )
    data = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-period_to", "-left_on_table"]
        verbose_name_plural = "cache advice"
        constraints = [
            models.UniqueConstraint(fields=["agent", "period_from", "period_to"], name="unique_cache_advice_period")
        ]
        indexes = [models.Index(fields=["tenant", "period_to"])]

    def __str__(self):
        return f"{self.agent}: {self.period_from} to {self.period_to} ({self.status})"


class DailyKeyRollup(CacheSums):
    """One agent's invocations of one UTC day asked for by one API key (none: the admin, a command), summed.

    The per-agent rollup split by who asked: written by `caching.services.rollup_day` in the same transaction
    as `DailyCacheRollup` and the day's `CacheRollupDay`, so the same freshness rule (`caching.rollups`)
    says when to trust it. Spend and savings by key read it for closed days.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="key_rollups")
    agent = models.ForeignKey("agents_app.Agent", on_delete=models.CASCADE, related_name="key_rollups")
    # A deleted key's rows stay (its spend happened) and show as "no key".
    api_key = models.ForeignKey(
        "agent_platform.TenantAPIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    day = models.DateField()
    rolled_up_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "agent_id"]
        indexes = [models.Index(fields=["tenant", "day"]), models.Index(fields=["agent", "day"])]

    def __str__(self):
        return f"{self.agent} on {self.day} by {self.api_key_id or 'no key'}"
