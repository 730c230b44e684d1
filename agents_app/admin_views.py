"""The agent admin's own pages, mounted by `AgentAdmin.get_urls` / `InvocationAdmin.get_urls`.

- the caching toggle (POST: `agent_services.agent_update`, which redeploys on commit);
- the invoke panel's POST (`invocation_services.invocation_create`; a Celery worker runs it)
  and the invocation status JSON it polls;
- the JSON import page (`agent_services.agents_import`, atomic) and the export action.

Every object is fetched through the model admin's `get_queryset`, the one place
the admin scopes by tenant: another tenant's agent is a 404. Writes need the
change permission (members and admins); viewers get 403. The agent's caching
page, which shows these forms beside its cache statistics, is reporting's
(`caching.admin_views.agent_caching_page`).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from agent_platform.errors import ApplicationError
from agent_platform.parsers import json_loads
from agent_platform.tenancy import WRITE_ROLES, scoped_object, user_tenants
from agents_app import selectors
from agents_app.cache_misses import miss_reason_text
from agents_app.models import Invocation
from agents_app.prompt_size import prompt_size_check
from agents_app.services import agents as agent_services
from agents_app.services import invocations as invocation_services
from pricing.costs import money_figures, ratio, spend_shown, total_input_tokens, usd


def cannot_cache_reason(model) -> str:
    """Why the caching controls are disabled for a model; empty when it can cache."""
    if model.supports_prompt_caching:
        return ""
    return f"{model.display_name} does not support prompt caching, so caching stays off for it."


# --- Fetching, scoped ----------------------------------------------------------------------------


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# --- Caching state, for the form, the toggle and the caching page --------------------------------


def prompt_size_note(agent, state=None) -> str:
    """The warning for a cached prefix below the model's minimum (only when caching is in effect), or a soft note."""
    state = state or selectors.caching_state(agent)
    if not state.effective:
        return ""
    return prompt_size_check(agent=agent).message


CACHING_CHOICES = {"on": True, "off": False, "default": None}
CACHING_WORDS = {True: "on", False: "off", None: "following the family default"}


def _agents(agents) -> str:
    names = [agent.name for agent in agents]
    return f"{len(names)} agent{'s' if len(names) != 1 else ''} ({', '.join(names)})"


def caching_set_messages(result, enabled: bool | None) -> list[tuple[int, str]]:
    """What a caching action or toggle did, exactly: how many changed, how many already were so, how many
    redeploys it queued (only a change of the deployed config queues one), and what was refused and why."""
    word = CACHING_WORDS[enabled]
    said = []
    if result.changed:
        changed = [change.agent for change in result.changed]
        redeploys = len(result.redeploys)
        queued = (
            f"{redeploys} redeploy{'s' if redeploys != 1 else ''} queued"
            if redeploys
            else "no redeploy needed: the deployed configuration already has it"
        )
        said.append((messages.SUCCESS, f"Prompt caching set to {word} for {_agents(changed)}; {queued}."))
        for notice in dict.fromkeys(n for change in result.changed for n in change.notices):
            said.append((messages.WARNING, notice))
    if result.unchanged:
        said.append((messages.INFO, f"Already {word}, left as it was: {_agents(result.unchanged)}."))
    for agent, reason in result.refused.items():
        said.append((messages.ERROR, f"{agent.name}: {reason}"))
    return said


def agent_caching_toggle(model_admin, request, object_id):
    """POST `caching=on|off|default`: the same service as the form and the API, so it redeploys on commit."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    agent = scoped_object(model_admin, request, object_id, write=True)
    choice = request.POST.get("caching")
    if choice not in CACHING_CHOICES:
        messages.error(request, "Choose on, off or the family default.")
    else:
        enabled = CACHING_CHOICES[choice]
        result = agent_services.agents_caching_set(agents=[agent], enabled=enabled, actor=request.user)
        for level, text in caching_set_messages(result, enabled):
            messages.add_message(request, level, text)
        if result.changed:
            state = selectors.caching_state(agent)
            if enabled is None:
                source = "on" if state.effective else "off"
                messages.info(request, f"The family default makes prompt caching {source} for {agent.name}.")
            for notice in state.warnings:
                messages.warning(request, notice)
            if note := prompt_size_note(agent, state):
                messages.warning(request, note)
    return redirect(reverse("admin:agents_app_agent_caching", args=[agent.pk]))


# --- The invoke panel ----------------------------------------------------------------------------


def agent_invoke(model_admin, request, object_id):
    """POST `prompt` (and `session_id` to continue a session): queue an invocation, answer 202 with where to poll."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    agent = scoped_object(model_admin, request, object_id)
    if not model_admin.has_change_permission(request, agent):
        if wants_json(request):
            return JsonResponse({"errors": {"non_field_errors": ["Viewers cannot invoke agents."]}}, status=403)
        raise PermissionDenied
    # The form's empty session field asks for a new session.
    prompt, session_id = request.POST.get("prompt", ""), request.POST.get("session_id", "").strip() or None
    try:
        invocation = invocation_services.invocation_create(
            agent=agent, prompt=prompt, session_id=session_id, actor=request.user
        )
    except ApplicationError as exc:
        if wants_json(request):
            return JsonResponse({"errors": exc.errors}, status=exc.status)
        messages.error(request, exc.message)
        return redirect(reverse("admin:agents_app_agent_caching", args=[agent.pk]))
    if not wants_json(request):
        return redirect(reverse("admin:agents_app_invocation_change", args=[invocation.pk]))
    return JsonResponse(invocation_status_data(invocation), status=202)


def invocation_status(model_admin, request, object_id):
    invocation = scoped_object(model_admin, request, object_id)
    return JsonResponse(invocation_status_data(invocation))


def invocation_status_data(invocation: Invocation) -> dict:
    summary = invocation_summary(invocation)
    return {
        "id": invocation.pk,
        "status": invocation.status,
        "finished": invocation.status in (Invocation.Status.SUCCEEDED, Invocation.Status.FAILED),
        "session_id": invocation.session.session_id,
        "response": invocation.response,
        "error": invocation.error,
        "warnings": invocation.warnings,
        "status_url": reverse("admin:agents_app_invocation_status", args=[invocation.pk]),
        "detail_url": reverse("admin:agents_app_invocation_change", args=[invocation.pk]),
        **{key: summary[key] for key in ("tokens", "money", "cost_text", "saved_text", "premium_text", "latency")},
    }


# --- The invocation detail ------------------------------------------------------------------------


def _ms_between(start, end) -> int | None:
    return round((end - start).total_seconds() * 1000) if start and end else None


def invocation_summary(invocation: Invocation) -> dict:
    """What the invocation page shows, from the stored row: tokens split cached/uncached, money, latency, calls.

    Money is the row's own figures (computed with the prices in force when it
    ran), never recomputed. "Saved" is the gross saving of its cache reads; the
    write premium is what writing the cache cost on top of plain input.
    """
    read, write, plain = invocation.cache_read_tokens, invocation.cache_write_tokens, invocation.input_tokens
    total_input = total_input_tokens(plain, read, write)
    gross, premium = Decimal(invocation.gross_savings), Decimal(invocation.write_premium)
    saved_text = f"Saved {usd(gross)} from cache" if invocation.cache_hit and gross > 0 else ""
    # The turn's cost, with caching on or off: its two shown parts, each rounded once, and their sum.
    figures = money_figures(invocation)
    input_cost, output_cost = Decimal(figures["cost_with_cache"]), Decimal(figures["output_cost"])
    cost_text = f"Cost {usd(input_cost + output_cost)}: input {usd(input_cost)} + output {usd(output_cost)}"
    if not invocation.caching_enabled:
        cost_text += " (prompt caching off for this turn)"
    premium_text = f"Paid a {usd(premium)} cache write premium" if premium > 0 else ""
    calls = []
    for index, call in enumerate(invocation.model_calls or [], start=1):
        call_input = total_input_tokens(
            call.get("input_tokens") or 0, call.get("cache_read_tokens") or 0, call.get("cache_write_tokens") or 0
        )
        calls.append({"number": index, "total_input_tokens": call_input, **call})
    call_latency = [c["latency_ms"] for c in calls if c.get("latency_ms") is not None]
    return {
        "tokens": {
            "input_tokens": plain,
            "cache_read_tokens": read,
            "cache_write_tokens": write,
            "cache_write_1h_tokens": invocation.cache_write_1h_tokens,
            "total_input_tokens": total_input,
            "cached_input_tokens": read,
            "uncached_input_tokens": plain + write,
            "efficiency_ratio": ratio(read, total_input),
            "output_tokens": invocation.output_tokens,
        },
        "money": {**figures, "cost": spend_shown(figures)},
        "cost_text": cost_text if invocation.status == Invocation.Status.SUCCEEDED else "",
        "saved_text": saved_text,
        "premium_text": premium_text,
        "miss_text": miss_reason_text(invocation.cache_miss_reason, invocation.cache_miss_detail or {})
        if invocation.cache_miss_reason
        else "",
        "latency": {
            "queue_wait_ms": _ms_between(invocation.queued_at, invocation.started_at),
            "time_to_first_token_ms": invocation.time_to_first_token_ms,
            "latency_ms": invocation.latency_ms,
            "model_latency_ms": sum(call_latency) if call_latency else None,
            "total_ms": _ms_between(invocation.queued_at, invocation.finished_at),
        },
        "model_calls": calls,
    }


# --- Import and export ---------------------------------------------------------------------------

ERROR_KEY = re.compile(r"^agents\[(\d+)\]\.(.+)$")


def import_error_rows(errors: dict[str, list[str]], payload) -> list[dict]:
    """`{"agents[2].max_tokens": ["Agent 'x': ..."]}` as rows of agent number, agent name, field and message."""
    items = payload.get("agents") if isinstance(payload, dict) else None
    rows = []
    for key, texts in errors.items():
        match = ERROR_KEY.match(key)
        index, field = (int(match[1]), match[2]) if match else (None, key)
        name = ""
        if index is not None and isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
            name = str(items[index].get("name") or "")
        for text in texts:
            message = re.sub(r"^Agent (?:'[^']*'|\"[^\"]*\"|#\d+): ", "", text)
            rows.append({"index": index, "name": name, "field": field, "message": message})
    return rows


def agents_import_page(model_admin, request):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    tenants = list(user_tenants(request.user, WRITE_ROLES).order_by("name"))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import agents from JSON",
        "opts": model_admin.model._meta,
        "tenants": tenants,
        "max_agents": settings.AGENT_IMPORT_MAX_AGENTS,
        "error_rows": [],
        "selected_tenant": None,
    }
    if request.method == "POST":
        tenant = next((t for t in tenants if str(t.pk) == request.POST.get("tenant")), None)
        context["selected_tenant"] = tenant
        upload = request.FILES.get("file")
        payload = None
        if tenant is None:
            context["error_rows"] = [{"index": None, "name": "", "field": "tenant", "message": "Choose a tenant."}]
        elif upload is None:
            context["error_rows"] = [{"index": None, "name": "", "field": "file", "message": "Choose a JSON file."}]
        else:
            try:
                payload = json_loads(upload.read().decode("utf-8"))
            except ApplicationError as exc:  # nested too deep: the field, or the file itself
                field = "file" if exc.field == "non_field_errors" else exc.field
                context["error_rows"] = [{"index": None, "name": "", "field": field, "message": exc.message}]
            except (UnicodeDecodeError, ValueError) as exc:
                message = f"The file is not valid JSON: {exc}"
                context["error_rows"] = [{"index": None, "name": "", "field": "file", "message": message}]
        if payload is not None:
            try:
                changes = agent_services.agents_import(tenant=tenant, payload=payload, actor=request.user)
            except ApplicationError as exc:
                context["error_rows"] = import_error_rows(exc.errors, payload)
            else:
                names = ", ".join(change.agent.name for change in changes)
                messages.success(request, f"Imported {len(changes)} agent(s) into {tenant.name}: {names}.")
                for notice in dict.fromkeys(n for change in changes for n in change.notices):
                    messages.warning(request, notice)
                return redirect(reverse("admin:agents_app_agent_changelist"))
    return TemplateResponse(request, "admin/agents_app/agent/import.html", context)


def agents_export_response(queryset) -> HttpResponse:
    """The selected agents in the import format, as a download (the API's export, for a selection)."""
    data = selectors.agents_export(agents=queryset.select_related("model").order_by("name"))
    response = HttpResponse(json.dumps(data, indent=2), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="agents.json"'
    return response
