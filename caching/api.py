"""The cache-stats API: thin views that validate the query, call one selector and shape the output.

Periods are whole UTC days, both ends included: `period=7d|30d|90d` (ending
today, the default is 30d) or `all` (from the first invocation), or `from`
and `to` (ISO dates; `to` defaults to today). See `caching.selectors` for
what is counted and how money and rates are written.
"""

from __future__ import annotations

import csv
import datetime as dt

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from agent_platform.errors import ApplicationError
from agents_app.api import tenant_agent
from caching import selectors
from caching.selectors import ONE_DAY, Period, utc_today

PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_PERIOD = "30d"
MAX_SESSIONS_LIMIT = 100
MAX_TOP = 100


# --- Query parameters ----------------------------------------------------------------------------


def max_period_days() -> int:
    return int(getattr(settings, "CACHE_STATS_MAX_DAYS", 366))


def _parse_day(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ApplicationError(f"{name} must be a date as YYYY-MM-DD, not {value!r}.", field=name) from None


def period_from_params(params, *, tenant, agent=None, today: dt.date | None = None) -> Period:
    """The period a request asks for, or an ApplicationError naming the bad parameter."""
    today = today or utc_today()
    name, raw_from, raw_to = params.get("period"), params.get("from"), params.get("to")
    if raw_from or raw_to:
        if name:
            raise ApplicationError("Give either period or from/to, not both.", field="period")
        if not raw_from:
            raise ApplicationError("from is required when to is given.", field="from")
        day_from = _parse_day(raw_from, "from")
        day_to = _parse_day(raw_to, "to") if raw_to else today
        if day_from > day_to:
            raise ApplicationError(f"from ({day_from}) must not be after to ({day_to}).", field="from")
        period = Period(day_from, day_to)
        if period.days > max_period_days():
            raise ApplicationError(
                f"The range {day_from} to {day_to} is {period.days} days; at most {max_period_days()} are allowed.",
                field="from",
            )
        return period
    name = name or DEFAULT_PERIOD
    if name in PERIOD_DAYS:
        return Period(today - (PERIOD_DAYS[name] - 1) * ONE_DAY, today, name)
    if name == "all":
        # The whole history, from the first invocation: not subject to CACHE_STATS_MAX_DAYS.
        first = selectors.first_invocation_day(tenant=tenant, agent=agent)
        return Period(min(first or today, today), today, "all")
    raise ApplicationError(f"Unknown period {name!r}; use one of 7d, 30d, 90d, all, or from/to.", field="period")


def int_param(params, name: str, *, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApplicationError(f"{name} must be a whole number, not {raw!r}.", field=name) from None
    if not low <= value <= high:
        raise ApplicationError(f"{name} must be between {low} and {high}.", field=name)
    return value


PERIOD_PARAMETERS = [
    OpenApiParameter("period", str, enum=["7d", "30d", "90d", "all"], description="Default 30d, ending today (UTC)."),
    OpenApiParameter("from", OpenApiTypes.DATE, description="First UTC day (instead of period)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last UTC day, included; default today."),
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
            OpenApiParameter("sessions_limit", int, description=f"Sessions listed, 0-{MAX_SESSIONS_LIMIT}."),
        ],
        responses=OpenApiTypes.OBJECT,
        examples=[OpenApiExample("Seven days", value=AGENT_STATS_EXAMPLE, response_only=True)],
    )
    def get(self, request, agent_id):
        agent = tenant_agent(request, agent_id)
        period = period_from_params(request.query_params, tenant=request.tenant, agent=agent)
        limit = int_param(request.query_params, "sessions_limit", default=20, low=0, high=MAX_SESSIONS_LIMIT)
        return Response(selectors.agent_cache_stats(agent=agent, period=period, sessions_limit=limit))


class TenantCacheStatsApi(APIView):
    @extend_schema(
        operation_id="tenant_cache_stats",
        summary="Cache stats across your agents: totals, by day, by period, by model family, top and least-benefit",
        parameters=[*PERIOD_PARAMETERS, OpenApiParameter("top", int, description=f"Agents listed, 1-{MAX_TOP}.")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        period = period_from_params(request.query_params, tenant=request.tenant)
        top = int_param(request.query_params, "top", default=5, low=1, high=MAX_TOP)
        return Response(selectors.tenant_cache_stats(tenant=request.tenant, period=period, top=top))


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
        agent = tenant_agent(request, agent_id)
        period = period_from_params(request.query_params, tenant=request.tenant, agent=agent)
        rows = selectors.invocation_csv_rows(agent=agent, period=period)
        return csv_response(rows, f"invocations-{agent.pk}-{period.day_from}-{period.day_to}.csv")


class AgentSessionsCsvApi(APIView):
    @extend_schema(
        operation_id="agent_sessions_csv",
        summary="The agent's sessions active in a period, with their cache use, as CSV",
        parameters=PERIOD_PARAMETERS,
        responses=CSV_RESPONSE,
    )
    def get(self, request, agent_id):
        agent = tenant_agent(request, agent_id)
        period = period_from_params(request.query_params, tenant=request.tenant, agent=agent)
        rows = selectors.session_csv_rows(agent=agent, period=period)
        return csv_response(rows, f"sessions-{agent.pk}-{period.day_from}-{period.day_to}.csv")


class CacheReportListApi(APIView):
    @extend_schema(
        operation_id="cache_reports_list",
        summary="Your stored cache reports, newest first",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.cache_report_list(tenant=request.tenant), request, view=self)
        return paginator.get_paginated_response(
            [
                {
                    "id": report.pk,
                    "period_start": report.period_start.isoformat(),
                    "period_end": report.period_end.isoformat(),
                    "created_at": report.created_at.isoformat(),
                    "emailed_at": report.emailed_at.isoformat() if report.emailed_at else None,
                    "stats": report.stats,
                }
                for report in page
            ]
        )
