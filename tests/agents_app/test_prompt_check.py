"""The pre-deploy prompt check: content in front of a checkpoint that defeats the cache, named by its span,
and what a change costs, through the API, the admin form and the import alike."""

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agent_platform.models import Role
from agents_app.models import Agent, Invocation
from agents_app.prompt_check import prompt_findings, tool_order_notice
from pricing.costs import MILLION, usd
from tests.admin.conftest import login, page
from tests.agent_platform.test_admin_scoping import agent_form
from tests.caching.advice_support import LONG_PROMPT, TOOLS, session
from tests.conftest import CLAUDE, NOVA, make_agent

pytestmark = pytest.mark.django_db

VOLATILE = (
    "You are the support agent.\n"
    "Generated 2026-03-05T10:15:00Z for request 3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f.\n"
    "The customer's name is Ann Lee; today is March 5, 2026."
)


def test_each_kind_is_found_with_its_span_and_line():
    found = [(f.kind, f.span, f.line) for f in prompt_findings(VOLATILE + "\nBuild 9f86d081884c7d659a2feaa0c55ad015.")]

    assert found == [
        ("timestamp", "2026-03-05T10:15:00Z", 2),
        ("uuid", "3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f", 2),
        ("user_name", "customer's name is Ann Lee", 3),
        ("date", "March 5, 2026", 3),
        ("hex_id", "9f86d081884c7d659a2feaa0c55ad015", 4),
    ]
    finding = prompt_findings("Hi.\nYou are talking to Bob at 12:30:45.")
    assert [(f.kind, f.span, f.start, f.end) for f in finding] == [
        ("user_name", "talking to Bob", 12, 26),
        ("timestamp", "12:30:45", 30, 38),
    ]
    # Opening hours, ordinary capitalised words and a plain number are left alone.
    assert prompt_findings("Open 9:00 to 17:00. Helping Customers is our job. Call 555 0100.") == []


def test_tool_order_alone_is_flagged():
    assert "another order (calculator, word_count now word_count, calculator)" in tool_order_notice(
        [{"name": "calculator"}, {"name": "word_count"}], [{"name": "word_count"}, {"name": "calculator"}]
    )
    assert tool_order_notice([{"name": "calculator"}], [{"name": "calculator"}, {"name": "word_count"}]) == ""


def test_an_api_create_names_the_spans(api):
    response = api.post(
        "/api/agents/",
        {"name": "Volatile", "system_prompt": VOLATILE, "model_id": CLAUDE, "prompt_caching_enabled": True},
        format="json",
    )

    assert response.status_code == 201, response.data
    warnings = " ".join(response.data["warnings"])
    for span in ("2026-03-05T10:15:00Z", "3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f", "Ann Lee", "March 5, 2026"):
        assert f"{span}" in warnings
    assert "(line 2, characters 37-57)" in warnings


def test_an_agent_that_does_not_cache_is_not_checked(api):
    for body in (
        {"name": "Off", "system_prompt": VOLATILE, "model_id": CLAUDE, "prompt_caching_enabled": False},
        {"name": "Nova", "system_prompt": VOLATILE, "model_id": NOVA},
    ):
        response = api.post("/api/agents/", body, format="json")
        assert response.status_code == 201 and response.data["warnings"] == [], response.data


def test_the_admin_form_and_the_import_say_the_same(client, tenant):
    member = login(client, tenant, Role.MEMBER)
    agent = make_agent(tenant, CLAUDE, name="Form", prompt_caching_enabled=True)
    saved = page(
        member.post(
            f"/admin/agents_app/agent/{agent.pk}/change/", agent_form(agent, system_prompt=VOLATILE), follow=True
        )
    )
    assert "2026-03-05T10:15:00Z" in saved and "invalidates the cached prefix" in saved

    document = {
        "agents": [{"name": "Imported", "system_prompt": VOLATILE, "model_id": CLAUDE, "prompt_caching_enabled": True}]
    }
    upload = SimpleUploadedFile("agents.json", json.dumps(document).encode(), content_type="application/json")
    imported = page(member.post("/admin/agents_app/agent/import/", {"tenant": tenant.pk, "file": upload}, follow=True))
    assert "3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f" in imported
    assert Agent.objects.filter(name="Imported").exists()


@pytest.mark.filterwarnings("ignore:cache_tools is deprecated")
def test_a_change_to_a_busy_agent_states_what_rewriting_its_prefix_costs(bedrock_emulator_env, api, tenant):
    agent = make_agent(
        tenant, CLAUDE, name="Busy", system_prompt=LONG_PROMPT, prompt_caching_enabled=True, integrations=TOOLS
    )
    session(agent, ["Hello there", "Use the calculator: 6 * 7"])
    session(agent, ["Opening hours?"])

    response = api.patch(f"/api/agents/{agent.pk}/", {"system_prompt": LONG_PROMPT + " Be brief."}, format="json")

    last = [
        Invocation.objects.filter(session_id=s).latest("pk") for s in {i.session_id for i in Invocation.objects.all()}
    ]
    tokens = sum(i.model_calls[-1]["cache_read_tokens"] + i.model_calls[-1]["cache_write_tokens"] for i in last)
    cost = Decimal(tokens) * Decimal(Invocation.objects.first().prices["cache_write"]) / MILLION
    warnings = response.data["warnings"]
    assert (
        f"This change invalidates the cached prefix; the next sessions pay about {usd(cost)} in cache writes"
        in " ".join(warnings)
    )
    assert f"2 session(s) active in the last hour write about {tokens:,} cached tokens again" in " ".join(warnings)

    reordered = api.patch(f"/api/agents/{agent.pk}/", {"integrations": list(reversed(TOOLS))}, format="json")
    assert any("same as before in another order" in w for w in reordered.data["warnings"])
    # A change that leaves the prefix alone costs nothing.
    renamed = api.patch(f"/api/agents/{agent.pk}/", {"description": "renamed"}, format="json")
    assert not any("invalidates" in w for w in renamed.data["warnings"])
