"""The caching-state rule: one queryset annotation, read the same by the selector, the API and the admin."""

import itertools
import json

import pytest

from agents_app import selectors
from agents_app.models import Agent, FamilyCachingDefault
from agents_app.runtime.config import AgentConfig
from agents_app.services import agents as agent_services
from tests.conftest import CLAUDE, NOVA, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.mark.parametrize(
    ("own", "family_default", "model_id"),
    list(itertools.product([True, False, None], [True, False, None], [CLAUDE, NOVA])),
)
def test_requested_and_effective_follow_the_agent_then_the_family_default(tenant, own, family_default, model_id):
    agent = make_agent(tenant, model_id, prompt_caching_enabled=own)
    if family_default is not None:
        FamilyCachingDefault.objects.create(
            tenant=tenant, family=agent.model.family, prompt_caching_enabled=family_default
        )
    can_cache = model_id == CLAUDE
    # A family default asks only models that can cache; an agent's own setting is what it says.
    requested = own if own is not None else bool(family_default) and can_cache

    annotated = selectors.agent_list(tenant=tenant).get(pk=agent.pk)
    plain = Agent.objects.select_related("model").get(pk=agent.pk)

    for read in (annotated, plain):
        state = selectors.caching_state(read)
        assert (state.requested, state.effective) == (requested, requested and can_cache)
        assert state.source == ("agent" if own is not None else "family default")
        assert bool(state.warnings) == (requested and not can_cache)


def test_the_family_default_of_another_tenant_does_not_count(tenant, other_tenant):
    agent = make_agent(tenant, CLAUDE, prompt_caching_enabled=None)
    FamilyCachingDefault.objects.create(tenant=other_tenant, family=agent.model.family, prompt_caching_enabled=True)

    assert selectors.caching_state(selectors.agent_get(tenant=tenant, agent_id=agent.pk)).requested is False


def test_a_saved_change_is_not_hidden_by_the_state_read_with_the_row(tenant):
    agent = selectors.agent_get(tenant=tenant, agent_id=make_agent(tenant, CLAUDE, prompt_caching_enabled=False).pk)
    assert selectors.caching_state(agent).effective is False

    change = agent_services.agent_update(agent=agent, prompt_caching_enabled=True)

    assert selectors.caching_state(change.agent).effective is True


def test_agent_config_json_is_the_runtime_config_of_the_agent(tenant):
    agent = make_agent(
        tenant,
        CLAUDE,
        system_prompt="You help.",
        max_tokens=1234,
        integrations=[{"type": "builtin", "name": "calculator"}],
        prompt_caching_enabled=None,
        cache_strategy="explicit",
    )
    FamilyCachingDefault.objects.create(tenant=tenant, family=agent.model.family, prompt_caching_enabled=True)
    model = agent.model

    config = selectors.agent_config(agent)

    expected = {
        "agent_id": str(agent.pk),
        "version": None,
        "system_prompt": "You help.",
        "model_id": CLAUDE,
        "max_tokens": 1234,
        "integrations": [{"type": "builtin", "name": "calculator"}],
        "prompt_caching_enabled": True,
        "cache_strategy": "explicit",
        "model_capabilities": {
            "supports_prompt_caching": True,
            "cache_min_tokens": model.cache_min_tokens,
            "cache_max_checkpoints": model.cache_max_checkpoints,
            "cache_fields": model.cache_fields,
            "supports_tool_use": model.supports_tool_use,
        },
    }
    assert json.dumps(config) == json.dumps(expected)  # the same keys, values and order
    assert AgentConfig.from_json(config).to_dict() == config


def test_an_integration_stored_without_its_type_is_sent_with_it(tenant):
    agent = make_agent(tenant, CLAUDE, integrations=[{"name": "word_count"}])

    assert selectors.agent_config(agent)["integrations"] == [{"type": "builtin", "name": "word_count"}]
