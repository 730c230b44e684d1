import functools

from django import forms
from django.contrib import admin, messages
from django.db.models import Max, OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.urls import path
from django.utils.html import format_html

from agent_platform.admin import SuperuserEditsAdmin
from agent_platform.errors import ApplicationError
from agent_platform.tenancy import (
    TenantRecordsAdmin,
    TenantScopedAdmin,
    user_sees_tenants,
    writable_rows,
)
from agents_app import admin_lists, admin_spend, admin_views, selectors
from agents_app.admin_filters import CachingStateFilter
from agents_app.catalog import model_label, model_scope, model_short_label
from agents_app.models import (
    Agent,
    AgentSession,
    Deployment,
    FoundationModel,
    Invocation,
    ModelFamily,
)
from agents_app.services import agents as agent_services
from agents_app.services import deployments as deployment_services
from pricing.selectors import model_prices_map


@admin.register(ModelFamily)
class ModelFamilyAdmin(SuperuserEditsAdmin):
    list_display = ["name", "slug", "provider"]


@admin.register(FoundationModel)
class FoundationModelAdmin(SuperuserEditsAdmin):
    list_display = [
        "display_name",
        "model_id",
        "runs",
        "family",
        "max_tokens",
        "supports_prompt_caching",
        "cache_min_tokens",
        "is_active",
    ]
    list_filter = ["family", "supports_prompt_caching", "is_active"]
    search_fields = ["model_id", "display_name"]

    @admin.display(description="Runs")
    def runs(self, model):
        return model_scope(model.model_id)


class AgentAdminForm(forms.ModelForm):
    prompt_caching_enabled = forms.TypedChoiceField(
        label="Prompt caching",
        choices=[("", "Follow the family default"), ("true", "On"), ("false", "Off")],
        coerce=lambda value: {"true": True, "false": False}.get(value),
        empty_value=None,
        required=False,
        help_text="Enabled only for a model that supports prompt caching; choosing one that does not turns it off.",
    )

    class Meta:
        model = Agent
        fields = ["tenant", *agent_services.AGENT_FIELDS]
        widgets = {"cache_strategy": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        value = self.initial.get("prompt_caching_enabled")
        self.initial["prompt_caching_enabled"] = {True: "true", False: "false"}.get(value, "")
        if "model" in self.fields:
            models = selectors.model_list()  # active models only
            self.fields["model"].queryset = models
            # Where each runs and what it costs (the agent's tenant's prices; list prices for a new agent).
            tenant = self.instance.tenant if self.instance.tenant_id else None
            prices = model_prices_map(tenant=tenant, models=list(models))
            self.fields["model"].label_from_instance = lambda model: model_label(model, prices.get(model.pk))
        model = self.instance.model if self.instance.model_id else None
        if model is not None and not model.supports_prompt_caching and "prompt_caching_enabled" in self.fields:
            # Disabled before any script runs; agents_app/static/agents_app/admin.js keeps it in step with the select.
            reason = admin_views.cannot_cache_reason(model)
            self.fields["prompt_caching_enabled"].widget.attrs.update(disabled=True, title=reason)

    def clean_prompt_caching_enabled(self):
        # A disabled select is not submitted (a model that cannot cache, no script): keep the stored value.
        if self.add_prefix("prompt_caching_enabled") not in self.data:
            return self.instance.prompt_caching_enabled
        return self.cleaned_data["prompt_caching_enabled"]

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        # The same rules as the API: the service decides, the form shows its answer.
        try:
            self.notices = agent_services.agent_check(
                self.instance,
                caching_asked="prompt_caching_enabled" in self.changed_data
                and self.cleaned_data.get("prompt_caching_enabled") is True,
                model_switched=bool(self.instance.pk) and "model" in self.changed_data,
            )
        except ApplicationError as exc:
            field = {"model_id": "model"}.get(exc.field, exc.field)
            self.add_error(field if field in self.fields else None, exc.message)


@functools.cache
def cache_badge() -> str:
    return render_to_string("admin/agents_app/agent/cache_badge.html")  # the same for every row


def redeploy_agents(modeladmin, request, agents) -> None:
    agents, skipped = writable_rows(request, agents)
    requested = [
        deployment_services.deployment_request(agent=agent, actor=request.user, force=True) for agent in agents
    ]
    versions = ", ".join(f"{d.agent.name} v{d.version}" for d in requested if d is not None)
    if versions:
        modeladmin.message_user(request, f"Deployment requested: {versions}.", messages.SUCCESS)
    if skipped:
        modeladmin.message_user(request, f"{skipped} agent(s) skipped: your role there is read-only.", messages.WARNING)


@admin.register(Agent)
class AgentAdmin(TenantScopedAdmin):
    form = AgentAdminForm
    list_display = [
        "name",
        "tenant",
        "model_with_badge",
        "caching",
        "strategy",
        "deploy_status",
        "deployed_version",
        admin_spend.agent_cost,
        admin_spend.agent_net_savings,
        admin_spend.agent_hit_rate,
    ]
    list_filter = [
        ("tenant", admin_lists.RelatedOnlyScopedFilter),
        ("model__family", admin_lists.RelatedOnlyScopedFilter),
        ("model", admin_lists.RelatedOnlyScopedFilter),
        CachingStateFilter,
        "cache_strategy",
    ]
    search_fields = ["name", "description"]
    list_select_related = ["tenant", "model__family"]
    actions = ["enable_caching", "disable_caching", "redeploy", "export_json"]
    action_checkbox = admin_lists.action_checkbox

    def scoped_queryset(self, request):
        """The agents the user may see, without the list's annotations (what the related filters ask)."""
        return super().get_queryset(request)

    def get_queryset(self, request):
        deployed = Q(deployments__status=Deployment.Status.DEPLOYED)
        latest = Deployment.objects.filter(agent=OuterRef("pk")).order_by("-version")
        return (
            self.scoped_queryset(request)
            # Read with the rows: no query per agent for the caching column, and the caching filter's fields.
            .with_caching_state()
            .annotate(
                deployed=Max("deployments__version", filter=deployed),
                latest_deploy_status=Subquery(latest.values("status")[:1]),
            )
        )

    def get_changelist(self, request, **kwargs):
        return admin_spend.AgentSpendChangeList  # each row carries its spend: one read for the page

    # The tenant column and filter tell same-named agents of two tenants apart; one tenant's staff need neither.
    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return shown if user_sees_tenants(request) else [name for name in shown if name != "tenant"]

    def get_list_filter(self, request):
        shown = super().get_list_filter(request)
        return (
            shown
            if user_sees_tenants(request)
            else [f for f in shown if not (isinstance(f, tuple) and f[0] == "tenant")]
        )

    def caching_state(self, agent):
        return selectors.caching_state(agent)

    @admin.display(description="Model", ordering="model__display_name")
    def model_with_badge(self, agent):
        name = model_short_label(agent.model)  # `us.` and `global.` entries of one model apart
        if not self.caching_state(agent).effective:
            return name
        return format_html("{} {}", name, cache_badge())

    @admin.display(description="Caching")
    def caching(self, agent):
        state = self.caching_state(agent)
        word = "on" if state.effective else "off, the model cannot cache" if state.requested else "off"
        return f"{word} ({state.source})"

    @admin.display(description="Cache strategy", ordering="cache_strategy")
    def strategy(self, agent):
        return agent.cache_strategy  # the short name; the form explains each

    @admin.display(description="Deploy status", ordering="latest_deploy_status")
    def deploy_status(self, agent):
        return getattr(agent, "latest_deploy_status", None) or "never deployed"

    @admin.display(description="Deployed", ordering="deployed")
    def deployed_version(self, agent):
        return f"v{agent.deployed}" if agent.deployed else "-"

    def _set_caching(self, request, queryset, enabled: bool):
        agents, skipped = self.writable_rows(request, queryset.select_related("model"))
        result = agent_services.agents_caching_set(agents=agents, enabled=enabled, actor=request.user)
        for level, text in admin_views.caching_set_messages(result, enabled):
            self.message_user(request, text, level)
        if skipped:
            self.message_user(request, f"{skipped} agent(s) skipped: your role there is read-only.", messages.WARNING)

    @admin.action(description="Enable caching", permissions=["change"])
    def enable_caching(self, request, queryset):
        self._set_caching(request, queryset, True)

    @admin.action(description="Disable caching", permissions=["change"])
    def disable_caching(self, request, queryset):
        self._set_caching(request, queryset, False)

    @admin.action(description="Redeploy", permissions=["change"])
    def redeploy(self, request, queryset):
        redeploy_agents(self, request, queryset)

    @admin.action(description="Export JSON", permissions=["view"])
    def export_json(self, request, queryset):
        return admin_views.agents_export_response(queryset)

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(lambda request, *args, **kwargs: function(self, request, *args, **kwargs))

        return [
            path("import/", view(admin_views.agents_import_page), name="agents_app_agent_import"),
            path(
                "<path:object_id>/caching/toggle/",
                view(admin_views.agent_caching_toggle),
                name="agents_app_agent_caching_toggle",
            ),
            path("<path:object_id>/invoke/", view(admin_views.agent_invoke), name="agents_app_agent_invoke"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["model_caching"] = {
            str(model.pk): {
                "model_id": model.model_id,
                "display_name": model.display_name,
                "supports_prompt_caching": model.supports_prompt_caching,
                "cache_min_tokens": model.cache_min_tokens,
            }
            for model in selectors.model_list()
        }
        if obj is not None and obj.pk and request.method == "GET":
            context["prompt_size_note"] = admin_views.prompt_size_note(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def save_model(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in agent_services.AGENT_FIELDS}
        if change:
            result = agent_services.agent_update(agent=obj, actor=request.user, **fields)
        else:
            fields.pop("model")
            result = agent_services.agent_create(tenant=obj.tenant, model=obj.model, actor=request.user, **fields)
            form.instance = result.agent
            # Django logs and redirects with `obj` (the "Save and continue editing" URL needs its pk).
            obj.pk, obj._state.adding = result.agent.pk, False
        # The form already applied the rules (and may have switched caching off); show what it said.
        for notice in dict.fromkeys(getattr(form, "notices", []) + result.notices):
            messages.warning(request, notice)
        if note := admin_views.prompt_size_note(result.agent):
            messages.warning(request, note)


@admin.register(Deployment)
class DeploymentAdmin(TenantRecordsAdmin):
    """Every version pushed: failures keep their error and attempts; superseded ones say which version won."""

    list_display = [
        "agent",
        "version",
        "state",
        "backend",
        "attempts",
        "short_error",
        "requested_by_label",
        "requested_at",
        "finished_at",
    ]
    list_filter = ["status", "backend"]
    list_select_related = ["agent"]
    search_fields = ["agent__name", "error"]
    actions = ["redeploy"]

    def get_queryset(self, request):
        current = Deployment.objects.filter(agent=OuterRef("agent"), status=Deployment.Status.DEPLOYED)
        top = Subquery(current.order_by("-version").values("version")[:1])
        return super().get_queryset(request).annotate(current_version=top)

    @admin.display(description="Status", ordering="status")
    def state(self, deployment):
        # The API's vocabulary (`Deployment.Status`), and which deployed version is the one that runs.
        if deployment.version == deployment.current_version:
            return format_html(
                '{} <span class="current-badge" title="What invocations run now">current</span>', deployment.status
            )
        return deployment.status

    @admin.display(description="Error")
    def short_error(self, deployment):
        return deployment.error if len(deployment.error) <= 120 else deployment.error[:117] + "..."

    @admin.action(description="Redeploy these agents (a new version of each)", permissions=["tenant_write"])
    def redeploy(self, request, queryset):
        agent_ids = queryset.values_list("agent_id", flat=True).distinct()
        redeploy_agents(self, request, Agent.objects.filter(pk__in=agent_ids).select_related("tenant"))


@admin.register(AgentSession)
class AgentSessionAdmin(TenantRecordsAdmin):
    list_display = [
        "session_id",
        "agent",
        admin_spend.session_turns,
        admin_spend.session_tokens,
        admin_spend.session_cost,
        admin_spend.session_net_savings,
        admin_spend.session_hit_rate,
        admin_spend.session_cached_ratio,
        admin_lists.session_created_at,
        admin_lists.session_last_invoked_at,
    ]
    list_filter = [("agent", admin_lists.RelatedWithRowsFilter)]
    list_select_related = ["agent"]
    exclude = ["messages"]

    def get_changelist(self, request, **kwargs):
        return admin_lists.CountOnceChangeList

    def get_queryset(self, request):
        # The list shows the session's running totals, not its conversation, which may be long.
        return super().get_queryset(request).defer("messages")


@admin.register(Invocation)
class InvocationAdmin(TenantRecordsAdmin):
    list_display = [
        "id",
        "agent",
        admin_lists.invocation_status,
        "input_tokens",
        admin_spend.invocation_cache_tokens,
        "output_tokens",
        admin_spend.invocation_cost,
        admin_spend.invocation_net_savings,
        admin_lists.invocation_cache_hit,
        admin_lists.invocation_cache_miss_reason,
        admin_lists.invocation_queued_at,
    ]
    list_filter = ["status", "cache_hit", "cache_miss_reason", ("agent", admin_lists.RelatedWithRowsFilter)]
    list_select_related = ["agent"]  # the session is not shown: no join for it

    def get_changelist(self, request, **kwargs):
        return admin_lists.CountOnceChangeList

    # The page's summary (templates/admin/agents_app/invocation/change_form.html) shows the prompt, the
    # response and the figures readably; the stored fields stay one click away.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("tenant", "agent", "session"),
                    ("api_key", "requested_by"),
                    ("deployment", "deployment_version", "model_id"),
                    ("status", "attempts", "lost_attempts"),
                    ("enqueued_at", "started_at", "finished_at"),
                    "error",
                    "retries",
                    "warnings",
                ]
            },
        ),
        (
            "Stored figures",
            {
                "classes": ["collapse"],
                "fields": [
                    ("caching_enabled", "cache_hit"),
                    ("cache_miss_reason", "cache_miss_detail"),
                    ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens"),
                    "output_tokens",
                    ("queue_wait_ms", "time_to_first_token_ms", "latency_ms"),
                    "model_calls",
                    "prices",
                    ("cost_with_cache", "cost_without_cache"),
                    ("gross_savings", "write_premium", "net_savings"),
                    "output_cost",
                ],
            },
        ),
    ]

    def get_urls(self):
        status = self.admin_site.admin_view(
            lambda request, object_id: admin_views.invocation_status(self, request, object_id)
        )
        return [
            path("<path:object_id>/status/", status, name="agents_app_invocation_status"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["summary"] = admin_views.invocation_summary(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


# The tenant settings' admins (family caching defaults, budgets) live beside this module.
from agents_app import admin_settings  # noqa: E402, F401
