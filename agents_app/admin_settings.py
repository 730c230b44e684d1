"""The admin of a tenant's settings: model-family caching defaults and hard monthly budgets."""

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.utils import timezone

from agent_platform.errors import ApplicationError
from agent_platform.tenancy import TenantSettingsAdmin
from agents_app import budgets
from agents_app.models import Budget, FamilyCachingDefault
from agents_app.services import agents as agent_services
from pricing.costs import money


class FamilyCachingDefaultForm(forms.ModelForm):
    class Meta:
        model = FamilyCachingDefault
        fields = ["tenant", "family", "prompt_caching_enabled"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("family") is not None:
            # The service's rule, so the admin refuses what the API refuses, in the same words.
            try:
                agent_services.family_default_check(
                    family=cleaned["family"], enabled=bool(cleaned.get("prompt_caching_enabled"))
                )
            except ApplicationError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned


@admin.register(FamilyCachingDefault)
class FamilyCachingDefaultAdmin(TenantSettingsAdmin):
    form = FamilyCachingDefaultForm
    list_display = ["tenant", "family", "prompt_caching_enabled", "updated_at"]
    list_filter = ["family", "prompt_caching_enabled"]

    def save_model(self, request, obj, form, change):
        agent_services.family_default_set(
            tenant=obj.tenant, family=obj.family, enabled=obj.prompt_caching_enabled, actor=request.user
        )

    def delete_model(self, request, obj):
        agent_services.family_default_delete(default=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for default in queryset.select_related("tenant", "family"):
            agent_services.family_default_delete(default=default, actor=request.user)


@admin.register(Budget)
class BudgetAdmin(TenantSettingsAdmin):
    """Hard monthly budgets: tenant admins set and raise them; the month's spend so far is shown beside each."""

    list_display = ["__str__", "tenant", "agent", "monthly_limit", "spent_this_month", "updated_at"]
    list_filter = [("tenant", RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant", "agent"]
    fields = ["tenant", "agent", "monthly_limit", "spent_this_month"]
    readonly_fields = ["spent_this_month"]

    @admin.display(description="Spent this month (USD)")
    def spent_this_month(self, budget):
        if budget.pk is None:
            return "-"
        month = budgets.month_of(timezone.now())
        return money(budgets.month_spend(tenant_id=budget.tenant_id, month=month, agent_id=budget.agent_id))
