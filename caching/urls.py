from django.urls import path

from caching import api

urlpatterns = [
    path("agents/<int:agent_id>/cache-stats/", api.AgentCacheStatsApi.as_view(), name="agent-cache-stats"),
    path("agents/<int:agent_id>/invocations.csv", api.AgentInvocationsCsvApi.as_view(), name="agent-invocations-csv"),
    path("agents/<int:agent_id>/sessions.csv", api.AgentSessionsCsvApi.as_view(), name="agent-sessions-csv"),
    path("agents/<int:agent_id>/cache-advice/", api.AgentCacheAdviceApi.as_view(), name="agent-cache-advice"),
    path("cache-stats/", api.TenantCacheStatsApi.as_view(), name="tenant-cache-stats"),
    path("cache-advice/", api.TenantCacheAdviceApi.as_view(), name="tenant-cache-advice"),
    path("cache-reports/", api.CacheReportListApi.as_view(), name="cache-report-list"),
    path("cache-reports/preview/", api.CacheReportPreviewApi.as_view(), name="cache-report-preview"),
]
