from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html

from agent_platform.tenancy import ADMIN_ROLES, TenantRecordsAdmin
from agents_app import admin_spend
from caching import admin_views, services, trends
from caching.models import CacheReport, CacheRollupDay, DailyCacheRollup


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
    list_display = ["period_end", "period_start", "tenant", "net_savings", "hit_rate", "emailed_at", "csv_link"]
    list_filter = [("tenant", RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant"]
    date_hierarchy = "period_end"
    fields = ["tenant", "period_start", "period_end", "created_at", "emailed_at", "recipients", "csv_link", "summary"]
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

    @admin.display(description="CSV")
    def csv_link(self, report):
        url = reverse(f"{self.admin_site.name}:caching_cachereport_csv", args=[report.pk])
        return format_html('<a href="{}">Download CSV</a>', url)

    @admin.display(description="Report")
    def summary(self, report):
        return render_to_string("caching/cache_report_summary.html", {"report": report, "stats": report.stats})

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/csv/",
                self.admin_site.admin_view(self.csv_view),
                name="caching_cachereport_csv",
            )
        ]
        return urls + super().get_urls()

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
        reports, _ = self.writable_rows(request, queryset.select_related("tenant"))
        sent = 0
        for report in reports:
            sent += bool(services.cache_report_send(report=report, force=True))
        messages.success(request, f"Sent {sent} report(s).")


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
