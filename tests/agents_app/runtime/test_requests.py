"""Rebuilding a stored conversation's requests: what Strands sent the emulator, checkpoints aside."""

import pytest

from agents_app.runtime import run_agent
from agents_app.runtime.requests import (
    actual_strategy,
    conversation_request,
    oracle_fields,
    strategy_fields,
    turn_calls,
    turn_prompt,
)

from .factories import CLAUDE, NOVA, make_config

pytestmark = pytest.mark.filterwarnings("ignore:cache_tools is deprecated:DeprecationWarning")

TOOLS = [{"name": "calculator"}, {"name": "word_count"}]
PROMPTS = [
    "What are your opening hours?",
    "Use the calculator: 6 * 7 and word_count on: the quick brown fox",
    "In parallel: " + ", ".join(f"word_count on item {n}" for n in range(12)),
]


def without_checkpoints(value):
    if isinstance(value, dict):
        return {k: without_checkpoints(v) for k, v in value.items() if k != "cachePoint"}
    if isinstance(value, list):
        return [without_checkpoints(v) for v in value if not (isinstance(v, dict) and "cachePoint" in v)]
    return value


@pytest.mark.parametrize("strategy", ["combined", "explicit"])
def test_every_model_call_is_rebuilt_as_it_was_sent(bedrock_emulator_env, big_system_prompt, strategy):
    config = make_config(CLAUDE, system_prompt=big_system_prompt, integrations=TOOLS, cache_strategy=strategy)
    messages = None
    for prompt in PROMPTS:
        messages = run_agent(config, prompt, messages=messages).messages

    rebuilt = conversation_request(config, messages)
    turns = turn_calls(rebuilt["messages"])
    sent = [without_checkpoints(r["request"]) for r in bedrock_emulator_env.requests]

    assert [turn_prompt(rebuilt["messages"], calls) for calls in turns] == PROMPTS
    assert [len(calls) for calls in turns] == [1, 3, 2]
    expected = [
        {"system": rebuilt["system"], "toolConfig": rebuilt["toolConfig"], "messages": rebuilt["messages"][:count]}
        for calls in turns
        for count in calls
    ]
    assert len(sent) == len(expected)
    for request, wanted in zip(sent, expected, strict=True):
        assert request["system"] == wanted["system"]
        assert request["toolConfig"]["tools"] == wanted["toolConfig"]["tools"]
        assert request["messages"] == wanted["messages"]
    # The parallel turn: one reply with twelve tool uses, then one message with their twelve results.
    parallel = rebuilt["messages"][turns[2][0]]
    assert sum("toolUse" in block for block in parallel["content"]) == 12


def test_strategy_fields_follow_the_runtime_plan():
    claude = make_config(CLAUDE, integrations=TOOLS, cache_strategy="automatic")
    assert strategy_fields(claude) == {
        "explicit": ("tools", "system"),
        "automatic": ("messages",),
        "combined": ("tools", "system", "messages"),
    }
    assert actual_strategy(claude) == "automatic"
    assert oracle_fields(claude) == ("tools", "system", "messages")

    no_tools = make_config(CLAUDE)
    assert strategy_fields(no_tools)["combined"] == ("system", "messages")
    assert oracle_fields(no_tools) == ("system", "messages")
    assert actual_strategy(make_config(CLAUDE, prompt_caching_enabled=False)) is None

    # The catalog ships Nova without caching: nothing anywhere.
    nova = make_config(NOVA, integrations=TOOLS)
    assert actual_strategy(nova) is None and oracle_fields(nova) == ()
    assert set(strategy_fields(nova).values()) == {()}
