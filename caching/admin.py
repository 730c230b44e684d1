from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from agent_platform.admin import TenantAPIKeyAdmin
from agent_platform.models import TenantAPIKey
from agent_platform.tenancy import ADMIN_ROLES, TenantRecordsAdmin, chosen_tenant
from agents_app import admin_spend
from caching import admin_views, reports, services, trends
from caching.models import CacheReport, CacheRollupDay, DailyCacheRollup
from caching.periods import ONE_DAY, PERIOD_DAYS, Period, utc_today
from caching.totals import CacheTotals, grouped_cache_totals
from pricing.costs import money


@admin.register(DailyCacheRollup)
class DailyCacheRollupAdmin(TenantRecordsAdmin):
    list_display = [
        "day",
        "agent",
        "tenant",
        "total_invocations",
        "failed_invocations",
        "caching_enabled_invocations",
        "cache_hits",
        "cache_read_tokens",
        "cache_write_tokens",
        "net_savings",
        "rolled_up_at",
    ]
    list_filter = [("tenant", RelatedOnlyFieldListFilter), ("agent", RelatedOnlyFieldListFilter)]
    list_select_related = ["agent", "tenant"]
    date_hierarchy = "day"


@admin.register(CacheRollupDay)
class CacheRollupDayAdmin(TenantRecordsAdmin):
    list_display = ["day", "tenant", "open_invocations", "covers_through_id", "rolled_up_at"]
    list_filter = [("tenant", RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant"]
    date_hierarchy = "day"
    actions = ["recompute"]

    @admin.action(description="Recompute the selected days", permissions=["tenant_write"])
    def recompute(self, request, queryset):
        markers, _ = self.writable_rows(request, queryset.select_related("tenant"))
        done = 0
        for marker in markers:
            services.rollup_day(tenant=marker.tenant, day=marker.day)
            done += 1
        messages.success(request, f"Recomputed {done} day(s).")


@admin.register(CacheReport)
class CacheReportAdmin(TenantRecordsAdmin):
    list_display = ["period_end", "period_start", "tenant", "net_savings", "hit_rate", "emailed", "csv_link"]
    list_filter = [("tenant", RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant"]
    date_hierarchy = "period_end"
    fields = ["tenant", "period_start", "period_end", "created_at", "emailed", "csv_link", "summary"]
    readonly_fields = fields
    actions = ["send_again"]
    # Sending a report mails the tenant's admins: only they may ask for it.
    write_roles = ADMIN_ROLES

    @admin.display(description="Net saving (USD)")
    def net_savings(self, report):
        return report.stats.get("net_savings")

    @admin.display(description="Hit rate")
    def hit_rate(self, report):
        return report.stats.get("hit_rate")

    @admin.display(description="Emailed", ordering="emailed_at")
    def emailed(self, report):
        """Who got it, truthfully: a report nobody could receive says so."""
        if report.emailed_at is None or not report.recipients:
            return "not emailed yet: no tenant admin with an email address had it"
        count = len(report.recipients)
        when = report.emailed_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"to {count} ({', '.join(report.recipients)}) on {when}"

    @admin.display(description="CSV")
    def csv_link(self, report):
        url = reverse(f"{self.admin_site.name}:caching_cachereport_csv", args=[report.pk])
        return format_html('<a href="{}">Download CSV</a>', url)

    @admin.display(description="Report")
    def summary(self, report):
        return render_to_string("caching/cache_report_summary.html", {"report": report, "stats": report.stats})

    def get_urls(self):
        urls = [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="caching_cachereport_preview"),
            path(
                "<path:object_id>/csv/",
                self.admin_site.admin_view(self.csv_view),
                name="caching_cachereport_csv",
            ),
        ]
        return urls + super().get_urls()

    def preview_view(self, request):
        """The next report of a tenant (`?tenant=`) as it stands: the current period so far."""
        tenant, tenants = chosen_tenant(request)
        preview = reports.cache_report_preview(tenant=tenant)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Next cache report so far: {tenant.name}",
            "opts": self.model._meta,
            "tenant": tenant,
            "tenants": tenants,
            "preview": preview,
            "summary": render_to_string(
                "caching/cache_report_summary.html",
                {"report": preview, "stats": preview.stats, "so_far": True},
            ),
        }
        return TemplateResponse(request, "admin/caching/cachereport/preview.html", context)

    def csv_view(self, request, object_id):
        report = self.get_queryset(request).select_related("tenant").filter(pk=object_id).first()
        if report is None or not self.has_view_permission(request, report):
            raise Http404
        filename = f"cache-report-{report.tenant.slug}-{report.period_start}-{report.period_end}.csv"
        response = HttpResponse(services.cache_report_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.action(description="Email the selected reports again to the tenant's admins", permissions=["tenant_write"])
    def send_again(self, request, queryset):
        chosen, _ = self.writable_rows(request, queryset.select_related("tenant"))
        for report in chosen:
            recipients = services.cache_report_send(report=report, force=True)
            if recipients:
                messages.success(request, f"{report}: emailed to {len(recipients)} ({', '.join(recipients)}).")
            else:
                messages.warning(request, f"{report}: not emailed: no admin of {report.tenant.name} has an email.")


class SpendPeriodFilter(admin.SimpleListFilter):
    """Picks the period of the keys' spend column; it filters nothing."""

    title = "spend over"
    parameter_name = "spend_period"

    def lookups(self, request, model_admin):
        return [("7d", "Last 7 days"), ("90d", "Last 90 days"), ("month", "This month")]

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        choices[0]["display"] = "Last 30 days"
        return choices

    def queryset(self, request, queryset):
        return queryset

    def period(self, today) -> Period:
        if self.value() == "month":
            return Period(today.replace(day=1), today, "month")
        days = PERIOD_DAYS.get(self.value() or "", 30)
        return Period(today - (days - 1) * ONE_DAY, today)


# The keys' own admin (agent_platform) knows nothing of invocations: reporting adds what each key spent.
admin.site.unregister(TenantAPIKey)


@admin.register(TenantAPIKey)
class TenantAPIKeySpendAdmin(TenantAPIKeyAdmin):
    list_display = [*TenantAPIKeyAdmin.list_display, "period_spend", "period_invocations"]
    list_filter = [*TenantAPIKeyAdmin.list_filter, SpendPeriodFilter]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        spend_filter = next((f for f in changelist.filter_specs if isinstance(f, SpendPeriodFilter)), None)
        period = spend_filter.period(utc_today()) if spend_filter else None
        keys = list(changelist.result_list)
        if period is not None and keys:
            totals = grouped_cache_totals(
                tenant_from=dict.fromkeys({key.tenant_id for key in keys}, period.day_from),
                day_to=period.day_to,
                keys=("api_key_id",),
            )
            for key in keys:
                key.period_totals = totals.get((key.pk,), CacheTotals())
        return changelist

    @admin.display(description="Spend in the period (USD)")
    def period_spend(self, key):
        totals = getattr(key, "period_totals", None)
        return money(totals.spend) if totals is not None else "-"

    @admin.display(description="Invocations in the period")
    def period_invocations(self, key):
        totals = getattr(key, "period_totals", None)
        return totals.total_invocations if totals is not None else "-"


# The agents list's cost, savings and hit-rate columns read the cache-stats engine (rollups), not raw rows.
admin_spend.agent_spend_reader_set(trends.agents_spend)

# Reporting's pages, the agent's among them: the site serves them before the model admins' URLs.
admin.site.add_page("caching/dashboard/", admin_views.cost_dashboard, name="caching-cost-dashboard")
admin.site.add_page(
    "agents_app/agent/<path:object_id>/caching/", admin_views.agent_caching_page, name="agents_app_agent_caching"
)
admin.site.add_page(
    "agents_app/agent/<path:object_id>/caching/figures/",
    admin_views.agent_caching_figures,
    name="agents_app_agent_caching_figures",
)
