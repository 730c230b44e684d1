import pytest

from agents_app.runtime import checkpoint_plan, strip_cache_points
from agents_app.runtime.checkpoints import count_cache_points

from .factories import CLAUDE, LLAMA, NOVA, make_config

S, T, M = "system", "tools", "messages"

# (model, catalog caching, strategy, has tools) -> checkpoints sent
MATRIX = [
    # Claude: every field, up to four checkpoints.
    (CLAUDE, None, "explicit", True, {S, T}),
    (CLAUDE, None, "explicit", False, {S}),
    (CLAUDE, None, "automatic", True, {M}),
    (CLAUDE, None, "automatic", False, {M}),
    (CLAUDE, None, "combined", True, {S, T, M}),
    (CLAUDE, None, "combined", False, {S, M}),
    # Nova enabled by a platform admin: system and messages only, never tools.
    (NOVA, True, "explicit", True, {S}),
    (NOVA, True, "explicit", False, {S}),
    (NOVA, True, "automatic", True, {M}),
    (NOVA, True, "automatic", False, {M}),
    (NOVA, True, "combined", True, {S, M}),
    (NOVA, True, "combined", False, {S, M}),
]


@pytest.mark.parametrize(("model_id", "catalog", "strategy", "has_tools", "expected"), MATRIX)
def test_strategy_by_capability(model_id, catalog, strategy, has_tools, expected):
    config = make_config(model_id, catalog_caching=catalog, cache_strategy=strategy)
    plan = checkpoint_plan(config, has_tools)
    assert {field for field in (S, T, M) if plan[field]} == expected
    assert plan["checkpoints"] == len(expected)
    assert plan["caching_enabled"] is True
    assert plan["warnings"] == []
    if model_id == NOVA and strategy != "automatic" and has_tools:
        assert plan["skipped"] == {T: f"{NOVA} takes no checkpoint in tools"}


@pytest.mark.parametrize("strategy", ["explicit", "automatic", "combined"])
@pytest.mark.parametrize("has_tools", [True, False])
@pytest.mark.parametrize("model_id", [NOVA, LLAMA])
def test_model_that_cannot_cache_gets_no_checkpoint_and_a_warning(model_id, has_tools, strategy):
    config = make_config(model_id, cache_strategy=strategy)  # catalog default: no caching
    plan = checkpoint_plan(config, has_tools)
    assert (plan[S], plan[T], plan[M], plan["checkpoints"]) == (False, False, False, 0)
    assert plan["caching_enabled"] is False
    assert plan["requested"] is True and plan["model_can_cache"] is False
    assert plan["warnings"] == [f"Prompt caching is enabled but {model_id} cannot cache; running uncached."]


@pytest.mark.parametrize("model_id", [CLAUDE, NOVA, LLAMA])
@pytest.mark.parametrize("strategy", ["explicit", "automatic", "combined"])
def test_caching_off_sends_nothing_and_warns_nothing(model_id, strategy):
    config = make_config(model_id, prompt_caching_enabled=False, cache_strategy=strategy)
    plan = checkpoint_plan(config, has_tools=True)
    assert plan["checkpoints"] == 0 and plan["caching_enabled"] is False
    assert plan["warnings"] == [] and plan["requested"] is False


@pytest.mark.parametrize(
    ("limit", "expected", "skipped"),
    [(0, set(), {S, T, M}), (1, {S}, {T, M}), (2, {S, T}, {M}), (3, {S, T, M}, set()), (4, {S, T, M}, set())],
)
def test_never_more_than_the_catalog_limit(limit, expected, skipped):
    config = make_config(CLAUDE, cache_strategy="combined", caps={"cache_max_checkpoints": limit})
    plan = checkpoint_plan(config, has_tools=True)
    assert {field for field in (S, T, M) if plan[field]} == expected
    assert plan["checkpoints"] == len(expected) <= limit
    assert set(plan["skipped"]) == skipped
    if limit == 0:
        assert plan["caching_enabled"] is False
        assert "has no checkpoint" in plan["warnings"][0]


def test_fields_outside_the_catalog_are_skipped():
    config = make_config(CLAUDE, cache_strategy="automatic", caps={"cache_fields": ["system"]})
    plan = checkpoint_plan(config, has_tools=True)
    assert plan["checkpoints"] == 0 and plan["caching_enabled"] is False
    assert plan["skipped"] == {M: f"{CLAUDE} takes no checkpoint in messages"}
    assert "automatic strategy has no checkpoint" in plan["warnings"][0]


def test_model_without_tool_use_never_gets_a_tools_checkpoint():
    plan = checkpoint_plan(make_config(CLAUDE, caps={"supports_tool_use": False}), has_tools=True)
    assert plan[T] is False and plan[S] and plan[M]


def test_short_system_prompt_gets_a_note(big_system_prompt):
    short = checkpoint_plan(make_config(CLAUDE, system_prompt="Be nice."), has_tools=False)
    assert "caches nothing below 2,048 tokens" in short["notes"][0]
    assert short[S] is True  # still sent: harmless, and the tools may make up the difference
    long = checkpoint_plan(make_config(CLAUDE, system_prompt=big_system_prompt), has_tools=False)
    assert long["notes"] == []


def test_plan_is_json_friendly():
    import json

    plan = checkpoint_plan(make_config(NOVA, catalog_caching=True), has_tools=True)
    assert json.loads(json.dumps(plan)) == plan


def test_strip_cache_points_removes_every_checkpoint_and_copies():
    messages = [
        {"role": "user", "content": [{"text": "hi"}, {"cachePoint": {"type": "default"}}]},
        {"role": "assistant", "content": [{"text": "hello"}, {"cachePoint": {"type": "default", "ttl": "1h"}}]},
        {"role": "user", "content": [{"cachePoint": {"type": "default"}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "4"}]}}]},
    ]
    cleaned = strip_cache_points(messages)
    assert cleaned == [
        {"role": "user", "content": [{"text": "hi"}]},
        {"role": "assistant", "content": [{"text": "hello"}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "4"}]}}]},
    ]
    assert count_cache_points(cleaned) == 0
    assert count_cache_points(messages) == 3  # the input is left alone
    cleaned[0]["content"][0]["text"] = "changed"
    assert messages[0]["content"][0]["text"] == "hi"
    assert strip_cache_points(None) == []
