"""Alerts in the admin: rules and webhooks (tenant admins edit them), incidents and deliveries (read, resent).

Every page goes through `agent_platform.tenancy`: the querysets, the foreign
keys and the webhooks a rule may pick are the user's tenants' only. A
webhook's URL is never rendered: the list shows it masked and the form's
field is a password input that leaves the stored URL alone when left empty.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import ValidationError

from agent_platform.errors import ApplicationError
from agent_platform.tenancy import ADMIN_ROLES, TenantRecordsAdmin, TenantSettingsAdmin, user_tenants
from alerts import notify, services
from alerts.models import Alert, AlertDelivery, AlertRule, Webhook

# The admin form's names for the fields the services' errors name.
FORM_FIELDS = {"agent_id": "agent", "webhook_ids": "webhooks"}


def _validation_error(exc: ApplicationError) -> ValidationError:
    return ValidationError({FORM_FIELDS.get(exc.field, exc.field): exc.message})


class WebhookForm(forms.ModelForm):
    url = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="A secret, never shown again. Leave empty to keep the stored URL.",
    )

    class Meta:
        model = Webhook
        fields = ["tenant", "name", "kind", "url"]

    def clean(self):
        data = super().clean()
        url = (data.get("url") or "").strip() or (self.instance.url if self.instance.pk else "")
        if not url:
            raise ValidationError({"url": "The webhook's URL is required."})
        try:
            notify.webhook_url_check(kind=data.get("kind") or "", url=url)
        except ApplicationError as exc:
            raise _validation_error(exc) from None
        data["url"] = url
        return data


@admin.register(Webhook)
class WebhookAdmin(TenantSettingsAdmin):
    form = WebhookForm
    list_display = ["name", "kind", "masked_url", "tenant", "created_at"]
    list_filter = ["kind", ("tenant", RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant"]

    @admin.display(description="URL")
    def masked_url(self, webhook):
        return notify.url_masked(webhook.url)


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = [*services.RULE_FIELDS[:2], "tenant", *services.RULE_FIELDS[2:], "webhooks"]

    def clean(self):
        data = super().clean()
        rule = self.instance
        for name in ("tenant", *services.RULE_FIELDS):
            if name in data:
                setattr(rule, name, data[name])
        if rule.tenant_id is None:
            return data
        try:
            services.alert_rule_check(rule)
        except ApplicationError as exc:
            raise _validation_error(exc) from None
        if any(webhook.tenant_id != rule.tenant_id for webhook in data.get("webhooks") or []):
            raise ValidationError({"webhooks": "Pick webhooks of the rule's tenant."})
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(TenantSettingsAdmin):
    form = AlertRuleForm
    list_display = [
        "name",
        "kind",
        "tenant",
        "agent",
        "api_key",
        "threshold",
        "enabled",
        "last_value",
        "last_evaluated_at",
    ]
    list_filter = ["kind", "enabled", ("tenant", RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant", "agent", "api_key"]
    filter_horizontal = ["webhooks"]
    readonly_fields = ["last_evaluated_at", "last_value"]
    actions = ["evaluate_now"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "webhooks" and not request.user.is_superuser:
            kwargs["queryset"] = Webhook.objects.filter(tenant__in=user_tenants(request.user, ADMIN_ROLES))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.action(description="Evaluate the selected rules' tenants now", permissions=["tenant_write"])
    def evaluate_now(self, request, queryset):
        rules, _ = self.writable_rows(request, queryset)
        fired = resolved = 0
        for tenant_id in sorted(set(rules.values_list("tenant_id", flat=True))):
            result = services.alert_rules_evaluate(tenant=rules.filter(tenant_id=tenant_id).first().tenant)
            fired, resolved = fired + len(result.fired), resolved + len(result.resolved)
        messages.success(request, f"{fired} alert(s) fired, {resolved} resolved.")


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ["event", "channel", "target", "status", "attempts", "last_error", "created_at", "sent_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(TenantRecordsAdmin):
    list_display = ["rule", "status", "fired_at", "resolved_at", "value", "summary", "tenant"]
    list_filter = ["status", "rule__kind", ("tenant", RelatedOnlyFieldListFilter)]
    list_select_related = ["rule", "tenant"]
    date_hierarchy = "fired_at"
    fields = ["tenant", "rule", "status", "fired_at", "resolved_at", "last_checked_at", "value", "summary", "details"]
    readonly_fields = fields
    inlines = [AlertDeliveryInline]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(TenantRecordsAdmin):
    list_display = ["alert", "event", "channel", "target", "status", "attempts", "last_error", "created_at", "sent_at"]
    list_filter = ["status", "channel", "event", ("tenant", RelatedOnlyFieldListFilter)]
    list_select_related = ["alert__rule"]
    fields = [*list_display, "subject", "body"]
    readonly_fields = fields
    actions = ["send_again"]
    write_roles = ADMIN_ROLES

    @admin.action(description="Send the selected failed deliveries again", permissions=["tenant_write"])
    def send_again(self, request, queryset):
        deliveries, _ = self.writable_rows(request, queryset.filter(status=AlertDelivery.Status.FAILED))
        count = services.deliveries_retry(deliveries)
        messages.success(request, f"Queued {count} deliver{'y' if count == 1 else 'ies'} again.")
