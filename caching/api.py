"""The cache-stats API: thin views that parse the query, call one read and shape its answer.

The period parameters are read by `caching.periods`, the figures come from
`caching.stats` (what is counted: `caching.sums`), and `caching.serializers`
writes them.
"""

from __future__ import annotations

import csv

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from agent_platform.tenancy import TenantRateThrottle
from agents_app.api import tenant_agent
from caching import advice, advice_services, exports, reports, serializers, stats
from caching.models import CacheAdvice
from caching.periods import LAST_DAY, ONE_DAY, PERIOD_DAYS, int_param, period_from_params

MAX_SESSIONS_LIMIT = 100
MAX_TOP = 100
LAST_DAY_PLUS_ONE = (LAST_DAY + ONE_DAY).isoformat()


# `period`, or `from` with an optional `to`, never both: one form-exploded object parameter whose two shapes
# say so (each of its properties is a query parameter of its own on the wire). The rules a schema cannot
# state: `from` not after `to`, at most CACHE_STATS_MAX_DAYS days.
DAY = {"type": "string", "format": "date", "not": {"enum": [LAST_DAY_PLUS_ONE]}}
PERIOD_PARAMETERS = [
    OpenApiParameter(
        "period",
        {
            "oneOf": [
                {
                    "title": "A named period",
                    "type": "object",
                    "properties": {
                        "period": {
                            "type": "string",
                            "enum": [*PERIOD_DAYS, "all"],
                            "description": "Ending today (UTC); `all` starts at the first invocation. Default 30d.",
                        }
                    },
                    "additionalProperties": False,
                },
                {
                    "title": "A range of days",
                    "type": "object",
                    "properties": {
                        "from": DAY | {"description": "First UTC day."},
                        "to": DAY | {"description": "Last UTC day, included; default today. Not before `from`."},
                    },
                    "required": ["from"],
                    "additionalProperties": False,
                },
            ]
        },
        style="form",
        explode=True,
        description="`?period=7d|30d|90d|all`, or `?from=YYYY-MM-DD&to=YYYY-MM-DD` (whole UTC days, at most "
        "CACHE_STATS_MAX_DAYS of them), not both.",
    ),
]

AGENT_STATS_EXAMPLE = {
    "agent": {"id": 7, "name": "Support", "model_id": "us.anthropic.claude-sonnet-4-6", "family": "anthropic-claude"},
    "period": {"name": "7d", "from": "2026-11-16", "to": "2026-11-22", "days": 7},
    "currency": "USD",
    "total_invocations": 3,
    "failed_invocations": 1,
    "caching_enabled_invocations": 3,
    "cache_hits": 2,
    "hit_rate": 0.666667,
    "no_cache_activity_invocations": 0,
    "input_tokens": 300,
    "cache_read_tokens": 4000,
    "cache_write_tokens": 2000,
    "total_input_tokens": 6300,
    "output_tokens": 450,
    "efficiency_ratio": 0.634921,
    "cost_with_cache": "0.010650",
    "cost_without_cache": "0.018900",
    "gross_savings": "0.010800",
    "write_premium": "0.001500",
    "net_savings": "0.008250",
    "output_cost": "0.006750",
    "cost": "0.017400",
    "by_day": [{"day": "2026-11-16", "total_invocations": 0, "...": "the same fields"}],
    "by_period": {"last_7_days": {"from": "2026-11-16", "to": "2026-11-22", "...": "the same fields"}},
    "sessions": [
        {
            "id": 12,
            "session_id": "a1b2",
            "invocations": 3,
            "first_write_tokens": 2000,
            "later_read_tokens": 4000,
            "efficiency_ratio": 0.634921,
            "cache_expirations": 0,
            "cache_expired": False,
            "...": "more",
        }
    ],
    "sessions_limit": 20,
    "sessions_has_more": False,
}


# --- Views ---------------------------------------------------------------------------------------


class AgentCacheStatsApi(APIView):
    @extend_schema(
        operation_id="agent_cache_stats",
        summary="An agent's cache hit rate, tokens, costs and savings: totals, by day, by period, per session",
        parameters=[
            *PERIOD_PARAMETERS,
            OpenApiParameter(
                "sessions_limit",
                {"type": "integer", "minimum": 0, "maximum": MAX_SESSIONS_LIMIT},
                description="Sessions listed; default 20.",
            ),
        ],
        responses=OpenApiTypes.OBJECT,
        examples=[OpenApiExample("Seven days", value=AGENT_STATS_EXAMPLE, response_only=True)],
    )
    def get(self, request, agent_id):
        agent = tenant_agent(request, agent_id, states=False)
        period = period_from_params(request.query_params, tenant=request.tenant, agent=agent)
        limit = int_param(request.query_params, "sessions_limit", default=20, low=0, high=MAX_SESSIONS_LIMIT)
        data = stats.agent_cache_stats(tenant=request.tenant, agent=agent, period=period, sessions_limit=limit)
        return Response(serializers.agent_cache_stats_json(data))


class TenantCacheStatsApi(APIView):
    @extend_schema(
        operation_id="tenant_cache_stats",
        summary="Cache stats across your agents: totals, by day, by period, by model family, top and least-benefit",
        description="`by_key` breaks spend (`spend`: input with the cache plus output, USD) and savings down by "
        "the API key that asked for the invocations; `api_key` is null for those asked for in the admin or by a "
        "command.",
        parameters=[
            *PERIOD_PARAMETERS,
            OpenApiParameter("top", {"type": "integer", "minimum": 1, "maximum": MAX_TOP}, description="Default 5."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        period = period_from_params(request.query_params, tenant=request.tenant)
        top = int_param(request.query_params, "top", default=5, low=1, high=MAX_TOP)
        data = stats.tenant_cache_stats(tenant=request.tenant, period=period, top=top)
        return Response(serializers.tenant_cache_stats_json(data))


class _Echo:
    """A file-like object whose `write` hands the line back, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def csv_response(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


CSV_RESPONSE = {(200, "text/csv"): OpenApiTypes.STR}


class AgentInvocationsCsvApi(APIView):
    @extend_schema(
        operation_id="agent_invocations_csv",
        summary="The agent's invocations in a period, as CSV",
        parameters=PERIOD_PARAMETERS,
        responses=CSV_RESPONSE,
    )
    def get(self, request, agent_id):
        agent = tenant_agent(request, agent_id, states=False)
        period = period_from_params(request.query_params, tenant=request.tenant, agent=agent)
        rows = exports.invocation_csv_rows(tenant=request.tenant, agent=agent, period=period)
        return csv_response(rows, f"invocations-{agent.pk}-{period.day_from}-{period.day_to}.csv")


class AgentSessionsCsvApi(APIView):
    @extend_schema(
        operation_id="agent_sessions_csv",
        summary="The agent's sessions active in a period, with their cache use, as CSV",
        parameters=PERIOD_PARAMETERS,
        responses=CSV_RESPONSE,
    )
    def get(self, request, agent_id):
        agent = tenant_agent(request, agent_id, states=False)
        period = period_from_params(request.query_params, tenant=request.tenant, agent=agent)
        rows = exports.session_csv_rows(tenant=request.tenant, agent=agent, period=period)
        return csv_response(rows, f"sessions-{agent.pk}-{period.day_from}-{period.day_to}.csv")


class CacheReportListApi(APIView):
    @extend_schema(
        operation_id="cache_reports_list",
        summary="Your stored cache reports, newest first",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(reports.cache_report_list(tenant=request.tenant), request, view=self)
        return paginator.get_paginated_response([serializers.cache_report_json(report) for report in page])


class CacheReportPreviewApi(APIView):
    @extend_schema(
        operation_id="cache_report_preview",
        summary="The next report as it stands: the current period so far (not stored, not mailed)",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        preview = reports.cache_report_preview(tenant=request.tenant)
        return Response(serializers.cache_report_preview_json(preview))


# --- Cache advice ------------------------------------------------------------------------------

ADVICE_PARAMETERS = [
    *PERIOD_PARAMETERS,
    OpenApiParameter("refresh", bool, description="Compute again even when the stored advice is current."),
]


class AgentCacheAdviceApi(APIView):
    throttle_classes = [TenantRateThrottle]

    @extend_schema(
        operation_id="agent_cache_advice",
        summary="What each caching set-up would have cost on the agent's traffic, the oracle, and what to change",
        description=(
            "Replays the period's stored sessions through Bedrock's prompt-cache rules. Answers 200 with the "
            "stored advice when it is current or was computed now; 202 while a large period is computed in the "
            "background (poll the same URL: `status`, `progress`)."
        ),
        parameters=ADVICE_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT},
    )
    def get(self, request, agent_id):
        agent = tenant_agent(request, agent_id)
        period = period_from_params(request.query_params, tenant=request.tenant, agent=agent)
        refresh = request.query_params.get("refresh", "").lower() in ("1", "true", "yes")
        found = advice_services.cache_advice_request(tenant=request.tenant, agent=agent, period=period, force=refresh)
        code = 200 if found.status == CacheAdvice.Status.READY else 202
        return Response(serializers.cache_advice_json(found), status=code)


class TenantCacheAdviceApi(APIView):
    throttle_classes = [TenantRateThrottle]

    @extend_schema(
        operation_id="tenant_cache_advice",
        summary="Your agents ranked by the money their caching set-up leaves on the table",
        parameters=PERIOD_PARAMETERS,
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        period = period_from_params(request.query_params, tenant=request.tenant)
        agents = advice.agents_with_traffic(tenant=request.tenant, period=period)
        items = advice_services.tenant_cache_advice_request(tenant=request.tenant, period=period, agents=agents)
        return Response(serializers.tenant_cache_advice_json(tenant=request.tenant, period=period, items=items))
