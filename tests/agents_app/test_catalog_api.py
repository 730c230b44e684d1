"""The model catalog, effective prices and family caching defaults."""

from decimal import Decimal

import pytest

from agents_app.models import FamilyCachingDefault
from pricing.models import PriceOverride
from tests.conftest import CLAUDE, LLAMA, NOVA, make_agent

pytestmark = pytest.mark.django_db


def by_id(response):
    return {m["model_id"]: m for m in response.json()["results"]}


def test_catalog_ships_claude_caching_nova_and_llama_not(api):
    models = by_id(api.get("/api/models/"))

    claude = [m for m in models.values() if m["family"]["slug"] == "anthropic-claude"]
    nova = [m for m in models.values() if m["family"]["slug"] == "amazon-nova"]
    assert len(claude) >= 5 and all(m["supports_prompt_caching"] for m in claude)
    assert len(nova) >= 5 and not any(m["supports_prompt_caching"] for m in nova)
    assert models[LLAMA]["supports_prompt_caching"] is False
    assert models[LLAMA]["capabilities"]["cache_min_tokens"] is None
    assert models[CLAUDE]["capabilities"] == {
        "cache_min_tokens": 2048,
        "cache_max_checkpoints": 4,
        "cache_fields": ["tools", "system", "messages"],
        "supports_tool_use": True,
    }
    assert models[NOVA]["capabilities"]["cache_fields"] == ["system", "messages"]
    assert any(m.startswith("global.") for m in models) and any(m.startswith("us.") for m in models)


def test_prices_come_from_genai_prices_and_regional_profiles_cost_more(api):
    models = by_id(api.get("/api/models/"))

    us, world = models[CLAUDE]["prices"], models["global.anthropic.claude-sonnet-4-6"]["prices"]
    assert Decimal(world["input_per_mtok"]) == Decimal("3")
    assert Decimal(world["cache_read_per_mtok"]) == Decimal("0.3")
    assert Decimal(world["cache_write_per_mtok"]) == Decimal("3.75")
    assert Decimal(world["cache_write_1h_per_mtok"]) == Decimal("6")
    assert Decimal(us["input_per_mtok"]) > Decimal(world["input_per_mtok"])
    assert us["source"] == "genai-prices"


def test_nova_cache_write_is_billed_as_plain_input(api):
    nova = by_id(api.get("/api/models/"))[NOVA]["prices"]

    assert nova["cache_write_per_mtok"] == nova["input_per_mtok"]
    assert Decimal(nova["cache_read_per_mtok"]) == Decimal(nova["input_per_mtok"]) / 4


def test_tenant_price_override_applies_to_that_tenant_only(api, other_api, tenant, catalog):
    PriceOverride.objects.create(tenant=tenant, model=catalog[CLAUDE], input_per_mtok=Decimal("2.5"))

    mine, theirs = by_id(api.get("/api/models/"))[CLAUDE], by_id(other_api.get("/api/models/"))[CLAUDE]

    assert Decimal(mine["prices"]["input_per_mtok"]) == Decimal("2.5")
    assert mine["prices"]["source"] == "override"
    assert Decimal(mine["prices"]["output_per_mtok"]) == Decimal(theirs["prices"]["output_per_mtok"])
    assert theirs["prices"]["source"] == "genai-prices"


def test_family_default_is_followed_by_agents_without_their_own_setting(api, tenant):
    follower = make_agent(tenant, CLAUDE, name="follower", prompt_caching_enabled=None)
    own = make_agent(tenant, CLAUDE, name="own", prompt_caching_enabled=False)

    response = api.put("/api/model-families/anthropic-claude/caching-default/", {"prompt_caching_enabled": True})

    assert response.status_code == 200, response.data
    assert response.data == {"family": "anthropic-claude", "name": "Anthropic Claude", "prompt_caching_enabled": True}
    assert api.get(f"/api/agents/{follower.pk}/").data["caching"] == {
        "requested": True,
        "effective": True,
        "source": "family default",
    }
    assert api.get(f"/api/agents/{own.pk}/").data["caching"]["effective"] is False
    listed = {f["family"]: f["prompt_caching_enabled"] for f in api.get("/api/model-families/").data["results"]}
    assert listed == {"anthropic-claude": True, "amazon-nova": False, "meta-llama": False}


def test_family_default_on_for_nova_is_refused_as_for_one_nova_agent(api, tenant):
    agent = make_agent(tenant, NOVA, prompt_caching_enabled=None)

    response = api.put("/api/model-families/amazon-nova/caching-default/", {"prompt_caching_enabled": True})

    assert response.status_code == 400 and "prompt_caching_enabled" in response.data
    data = api.get(f"/api/agents/{agent.pk}/").data
    assert data["caching"] == {"requested": False, "effective": False, "source": "family default"}
    assert data["warnings"] == []


def test_family_default_needs_a_tenant_admin(member_api, tenant):
    response = member_api.put("/api/model-families/anthropic-claude/caching-default/", {"prompt_caching_enabled": True})

    assert response.status_code == 403
    assert not FamilyCachingDefault.objects.exists()


def test_family_default_bad_input(api):
    assert api.put("/api/model-families/nope/caching-default/", {"prompt_caching_enabled": True}).status_code == 404
    response = api.put("/api/model-families/amazon-nova/caching-default/", {"enabled": True}, format="json")
    assert response.status_code == 400
    assert "prompt_caching_enabled" in response.data


def test_catalog_lists_are_paginated_like_every_list(api):
    for path in ("/api/models/", "/api/model-families/"):
        data = api.get(path).json()
        assert set(data) == {"count", "next", "previous", "results"}, path
        assert data["count"] == len(data["results"]) > 0


def test_models_carry_a_label_with_where_they_run_and_their_prices(api):
    models = by_id(api.get("/api/models/"))
    us, world = models[CLAUDE], models["global.anthropic.claude-sonnet-4-6"]

    assert (us["inference_profile"], world["inference_profile"]) == ("us", "global")
    assert us["label"].startswith("Claude Sonnet 4.6 · us. US cross-region · $")
    assert world["label"].startswith("Claude Sonnet 4.6 · global. global cross-region · $")
    assert us["label"] != world["label"]
    assert f"${Decimal(us['prices']['input_per_mtok']):.2f} in" in us["label"]
