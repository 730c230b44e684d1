"""The agent form: the caching select follows the model, the strategy choice, and the prompt-size warning."""

import json
import re

import pytest

from agents_app.demo import support_system_prompt
from agents_app.models import Agent, FoundationModel
from tests.admin.conftest import page
from tests.agent_platform.test_admin_scoping import agent_form
from tests.conftest import CLAUDE, NOVA, make_agent

pytestmark = pytest.mark.django_db

BELOW_MINIMUM = "caching will have no effect until the conversation grows"


def change_url(agent):
    return f"/admin/agents_app/agent/{agent.pk}/change/"


def caching_select(html: str) -> str:
    return re.search(r'<select name="prompt_caching_enabled"[^>]*>', html).group(0)


def test_the_page_embeds_each_active_models_caching_capability(member, agent, catalog):
    inactive = FoundationModel.objects.exclude(model_id__in=[CLAUDE, NOVA]).first()
    inactive.is_active = False
    inactive.save()

    html = page(member.get(change_url(agent)))

    data = json.loads(re.search(r'<script id="model-caching-data" type="application/json">(.*?)</script>', html)[1])
    assert data[str(catalog[CLAUDE].pk)]["supports_prompt_caching"] is True
    assert data[str(catalog[NOVA].pk)]["supports_prompt_caching"] is False
    assert data[str(catalog[NOVA].pk)]["model_id"] == NOVA
    assert str(inactive.pk) not in data
    assert f'<option value="{inactive.pk}"' not in html  # the select offers active models only
    assert "agents_app/admin.js" in html and "agents_app/admin.css" in html


def test_caching_select_is_disabled_with_its_reason_for_a_model_that_cannot_cache(member, tenant, agent):
    nova = make_agent(tenant, NOVA, name="Nova", prompt_caching_enabled=False)

    nova_select = caching_select(page(member.get(change_url(nova))))
    claude_select = caching_select(page(member.get(change_url(agent))))

    assert "disabled" in nova_select
    assert 'title="Nova Pro does not support prompt caching, so caching stays off for it."' in nova_select
    assert "disabled" not in claude_select
    assert "Enabled only for a model that supports prompt caching" in page(member.get(change_url(agent)))


def test_a_disabled_select_that_is_not_submitted_keeps_the_stored_value(member, tenant):
    nova = make_agent(tenant, NOVA, name="Nova", prompt_caching_enabled=False)
    data = agent_form(nova, description="renamed")
    del data["prompt_caching_enabled"]  # what a browser sends for a disabled select

    response = member.post(change_url(nova), data)

    assert response.status_code == 302
    nova.refresh_from_db()
    assert nova.description == "renamed" and nova.prompt_caching_enabled is False


def test_cache_strategy_offers_each_choice_with_one_line(member, agent):
    html = page(member.get(change_url(agent)))
    for line in (
        "Explicit: checkpoints after the system prompt and tools, written on the first call, read on every later one",
        "Automatic: a checkpoint on the newest message that moves with the conversation, written from the first "
        "turn, read from the second",
        "Combined: both, the largest savings on multi-turn conversations",
    ):
        assert line in html
    assert "second turn" not in html  # Strands 1.62 writes the automatic checkpoint on turn 1
    assert html.count('name="cache_strategy"') == 3  # radio buttons


def test_short_prompt_warns_on_the_change_page_and_after_save(member, agent, bedrock_emulator_env):
    html = page(member.get(change_url(agent)))
    assert BELOW_MINIMUM in html
    assert "fewer than the 2,048 Claude Sonnet 4.6 needs per cache checkpoint" in html

    response = member.post(change_url(agent), agent_form(agent, description="x"), follow=True)
    assert BELOW_MINIMUM in page(response)  # the message after save


def test_long_prompt_or_caching_off_gives_no_warning(member, tenant, bedrock_emulator_env):
    long_one = make_agent(tenant, name="Long", system_prompt=support_system_prompt(), prompt_caching_enabled=True)
    off = make_agent(tenant, name="Off", prompt_caching_enabled=False)

    assert BELOW_MINIMUM not in page(member.get(change_url(long_one)))
    assert BELOW_MINIMUM not in page(member.get(change_url(off)))


def test_unreachable_endpoint_fails_soft_with_a_note(member, agent, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    html = page(member.get(change_url(agent)))

    assert "Could not count the system prompt" in html and "unreachable" in html
    assert BELOW_MINIMUM not in html


def test_save_and_continue_on_add_opens_the_new_agents_page(member, tenant, agent):
    data = agent_form(agent, name="Added") | {"_continue": "Save and continue editing"}

    response = member.post("/admin/agents_app/agent/add/", data)

    added = Agent.objects.get(name="Added")
    assert response.status_code == 302 and response["Location"] == change_url(added)
