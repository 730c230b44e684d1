from django import forms
from django.contrib import admin, messages

from agent_platform.admin import TenantAdminOnly
from agent_platform.errors import ApplicationError
from agent_platform.tenancy import TenantScopedAdmin
from agents_app import selectors, services
from agents_app.models import (
    Agent,
    AgentSession,
    Deployment,
    FamilyCachingDefault,
    FoundationModel,
    Invocation,
    ModelFamily,
)


class SuperuserEditsAdmin(admin.ModelAdmin):
    """The catalog is global: every staff user reads it, only superusers change it."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(ModelFamily)
class ModelFamilyAdmin(SuperuserEditsAdmin):
    list_display = ["name", "slug", "provider"]


@admin.register(FoundationModel)
class FoundationModelAdmin(SuperuserEditsAdmin):
    list_display = [
        "display_name",
        "model_id",
        "family",
        "max_tokens",
        "supports_prompt_caching",
        "cache_min_tokens",
        "is_active",
    ]
    list_filter = ["family", "supports_prompt_caching", "is_active"]
    search_fields = ["model_id", "display_name"]


class AgentAdminForm(forms.ModelForm):
    prompt_caching_enabled = forms.TypedChoiceField(
        label="Prompt caching",
        choices=[("", "Follow the family default"), ("true", "On"), ("false", "Off")],
        coerce=lambda value: {"true": True, "false": False}.get(value),
        empty_value=None,
        required=False,
    )

    class Meta:
        model = Agent
        fields = [
            "tenant",
            "name",
            "description",
            "system_prompt",
            "model",
            "max_tokens",
            "integrations",
            "prompt_caching_enabled",
            "cache_strategy",
        ]
        widgets = {"cache_strategy": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        value = self.initial.get("prompt_caching_enabled")
        self.initial["prompt_caching_enabled"] = {True: "true", False: "false"}.get(value, "")

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        # The same rules as the API: the service decides, the form shows its answer.
        try:
            self.notices = services.agent_check(
                self.instance,
                caching_asked="prompt_caching_enabled" in self.changed_data
                and self.cleaned_data.get("prompt_caching_enabled") is True,
                model_switched=bool(self.instance.pk) and "model" in self.changed_data,
            )
        except ApplicationError as exc:
            field = {"model_id": "model"}.get(exc.field, exc.field)
            self.add_error(field if field in self.fields else None, exc.message)


@admin.register(Agent)
class AgentAdmin(TenantScopedAdmin):
    form = AgentAdminForm
    list_display = ["name", "tenant", "model", "caching", "cache_strategy", "updated_at"]
    list_filter = ["model__family", "cache_strategy", "prompt_caching_enabled"]
    search_fields = ["name", "description"]
    list_select_related = ["tenant", "model__family"]

    @admin.display(description="Caching")
    def caching(self, agent):
        state = selectors.caching_state(agent)
        return f"{'on' if state.effective else 'off'} ({state.source})"

    def save_model(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in services.AGENT_FIELDS}
        if change:
            result = services.agent_update(agent=obj, actor=request.user, **fields)
        else:
            fields.pop("model")
            result = services.agent_create(tenant=obj.tenant, model=obj.model, actor=request.user, **fields)
            form.instance = result.agent
        # The form already applied the rules (and may have switched caching off); show what it said.
        for notice in dict.fromkeys(getattr(form, "notices", []) + result.notices):
            messages.warning(request, notice)


@admin.register(FamilyCachingDefault)
class FamilyCachingDefaultAdmin(TenantAdminOnly):
    list_display = ["tenant", "family", "prompt_caching_enabled", "updated_at"]
    list_filter = ["family", "prompt_caching_enabled"]

    def save_model(self, request, obj, form, change):
        services.family_default_set(
            tenant=obj.tenant, family=obj.family, enabled=obj.prompt_caching_enabled, actor=request.user
        )


class ReadOnlyScopedAdmin(TenantScopedAdmin):
    """Records the service writes; people look at them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyScopedAdmin):
    list_display = ["agent", "version", "status", "backend", "requested_at", "finished_at"]
    list_filter = ["status", "backend"]
    list_select_related = ["agent"]


@admin.register(AgentSession)
class AgentSessionAdmin(ReadOnlyScopedAdmin):
    list_display = ["session_id", "agent", "created_at", "last_invoked_at"]
    list_select_related = ["agent"]
    exclude = ["messages"]


@admin.register(Invocation)
class InvocationAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "id",
        "agent",
        "status",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "cache_hit",
        "net_savings",
        "queued_at",
    ]
    list_filter = ["status", "cache_hit"]
    list_select_related = ["agent"]
