"""Alert rules on the cache figures, the incidents they raise, and what was sent about them to whom."""

from django.db import models

from agent_platform.models import Tenant, TenantAPIKey
from agents_app.models import Agent


class Webhook(models.Model):
    """Where a rule's alerts are posted: a Slack or Teams incoming webhook, or any URL taking generic JSON.

    The URL is a secret (whoever has it may post to the channel): the admin and
    the API show it masked, and no log line carries it.
    """

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams (Workflows) webhook"
        JSON = "json", "Generic JSON (POST)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="alert_webhooks")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    url = models.CharField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_webhook_name_per_tenant")]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"


class AlertRule(models.Model):
    """A condition on a tenant's figures over a window, checked by beat every few minutes (`alerts.conditions`).

    Scope: the whole tenant, or one agent, or what one API key asked for (or an
    agent's invocations by one key). `threshold` means, by kind: hit rate in %
    (`hit_rate_below`), USD by which the write premium exceeds the gross savings
    (`premium_above_savings`, usually 0), a multiple of the usual writes for that
    hour (`write_storm`), hit-rate points (`hit_rate_drop_after_deploy`), USD of
    spend per day or month (`spend_above_budget`: a soft budget; hard ones are
    `agents_app.Budget`).
    """

    class Kind(models.TextChoices):
        HIT_RATE_BELOW = "hit_rate_below", "Hit rate below X %"
        PREMIUM_ABOVE_SAVINGS = "premium_above_savings", "Write premium above gross savings"
        WRITE_STORM = "write_storm", "Cache writes above N x the usual for the hour"
        HIT_RATE_DROP_AFTER_DEPLOY = "hit_rate_drop_after_deploy", "Hit rate dropped N points after a deployment"
        SPEND_ABOVE_BUDGET = "spend_above_budget", "Spend above a budget per day or month"

    class BudgetPeriod(models.TextChoices):
        DAY = "day", "UTC day"
        MONTH = "month", "UTC month"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules", help_text="Empty: all."
    )
    api_key = models.ForeignKey(
        TenantAPIKey,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text="Only what this key asked for; empty: whoever asked.",
    )
    threshold = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    window_minutes = models.PositiveIntegerField(default=60, help_text="The rolling window, 5 to 1440 minutes.")
    budget_period = models.CharField(
        max_length=5, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTH, help_text="spend_above_budget only."
    )
    min_invocations = models.PositiveIntegerField(
        default=10, help_text="Fewer invocations in the window than this: too few to judge, the rule stays quiet."
    )
    notify_admins = models.BooleanField(default=True, help_text="Email the tenant's admins.")
    webhooks = models.ManyToManyField(Webhook, blank=True, related_name="rules")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_alert_rule_name_per_tenant")]

    def __str__(self):
        return self.name


class Alert(models.Model):
    """One incident of a rule: it fires when the condition starts holding and resolves when it stops.

    At most one firing alert per rule (a constraint), so two overlapping
    evaluations cannot fire the same incident twice.
    """

    class Status(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FIRING)
    fired_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField()
    value = models.DecimalField(max_digits=24, decimal_places=6, help_text="The figure when it fired.")
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"], condition=models.Q(status="firing"), name="one_firing_alert_per_rule"
            )
        ]
        indexes = [models.Index(fields=["tenant", "fired_at"])]

    def __str__(self):
        return f"{self.rule}: {self.status} since {self.fired_at:%Y-%m-%d %H:%M}"


class AlertDelivery(models.Model):
    """One message about an alert (it fired, or resolved) to one channel, sent by a task with retries."""

    class Event(models.TextChoices):
        FIRED = "fired"
        RESOLVED = "resolved"

    class Channel(models.TextChoices):
        EMAIL = "email"
        SLACK = "slack"
        TEAMS = "teams"
        JSON = "json"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    target = models.TextField(help_text="Who it went to: the email addresses, or the webhook's name and masked URL.")
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"{self.event} via {self.channel}: {self.status}"
