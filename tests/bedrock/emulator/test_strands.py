"""Real Strands 1.62 agents against the emulator: the explicit, automatic and combined approaches and a tool loop.

How Strands 1.62 sends each approach (asserted below from what the emulator received):

- explicit: the system prompt as ``SystemContentBlock``s ending in a ``cachePoint``, plus the deprecated
  ``cache_tools="default"`` for the tools checkpoint. Any ``CacheConfig`` would also add a message
  checkpoint (``tools_ttl`` only counts with a cache strategy, and every strategy injects one on the
  newest user message), so the tools checkpoint without history caching is only reachable through
  ``cache_tools``.
- automatic: ``CacheConfig(strategy="auto", system_prompt_ttl=False)``: one checkpoint, on the newest
  *user* message (older Strands releases used the last assistant message), so turn 1 already writes.
- combined: the explicit system blocks plus ``CacheConfig(strategy="auto", tools_ttl=True)``: tools,
  system and newest-message checkpoints.
"""

from decimal import Decimal

import pytest
from strands import Agent, tool
from strands.models import BedrockModel
from strands.models.model import CacheConfig
from strands.types.content import SystemContentBlock

from bedrock import facts
from tests.bedrock.support import SONNET_46, prompt_of, total_input

SYSTEM = prompt_of(2500)
QUESTIONS = (
    "Hello, I am {user}. What can you do?",
    "Please check lookup_order for order 42.",
    "Thanks. Anything else?",
)
# Claude Sonnet 4.6 prices, per million tokens.
PRICE_INPUT, PRICE_READ, PRICE_WRITE = Decimal("3.00"), Decimal("0.30"), Decimal("3.75")

lookups: list[int] = []


@tool
def lookup_order(order_id: int) -> str:
    """Look up an order.

    Args:
        order_id: The order number.
    """
    lookups.append(order_id)
    return f"Order {order_id} shipped on Monday."


def explicit_agent() -> Agent:
    with pytest.warns(DeprecationWarning, match="cache_tools"):
        model = BedrockModel(model_id=SONNET_46, region_name="us-east-1", cache_tools="default")
    system = [SystemContentBlock(text=SYSTEM), SystemContentBlock(cachePoint={"type": "default"})]
    return Agent(model=model, system_prompt=system, tools=[lookup_order], callback_handler=None)


def automatic_agent() -> Agent:
    config = CacheConfig(strategy="auto", system_prompt_ttl=False)
    model = BedrockModel(model_id=SONNET_46, region_name="us-east-1", cache_config=config)
    return Agent(model=model, system_prompt=SYSTEM, tools=[lookup_order], callback_handler=None)


def combined_agent() -> Agent:
    config = CacheConfig(strategy="auto", tools_ttl=True)
    model = BedrockModel(model_id=SONNET_46, region_name="us-east-1", cache_config=config)
    system = [SystemContentBlock(text=SYSTEM), SystemContentBlock(cachePoint={"type": "default"})]
    return Agent(model=model, system_prompt=system, tools=[lookup_order], callback_handler=None)


APPROACHES = {"explicit": explicit_agent, "automatic": automatic_agent, "combined": combined_agent}


def converse(emulator, make_agent, users=1):
    """Each user has a 3-turn conversation (4 model calls: turn 2 uses the tool); returns the server's calls."""
    emulator.reset()
    for user in ("Ana", "Bo")[:users]:
        agent = make_agent()
        for question in QUESTIONS:
            result = agent(question.format(user=user))
        # Strands' own usage agrees with what the server sent, cache fields included.
        server = emulator.requests[-4:]
        assert len(server) == 4
        usage = result.metrics.accumulated_usage
        for key in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"):
            assert usage[key] == sum(call["usage"][key] for call in server)
    return emulator.requests


def cost(calls) -> Decimal:
    return sum(
        (
            c["usage"]["inputTokens"] * PRICE_INPUT
            + c["usage"]["cacheReadInputTokens"] * PRICE_READ
            + c["usage"]["cacheWriteInputTokens"] * PRICE_WRITE
        )
        / 1_000_000
        for c in calls
    )


def fields(call) -> list[str]:
    return [point["field"] for point in call["checkpoints"]]


def test_explicit_caches_system_and_tools_from_the_first_call_but_never_history(bedrock_emulator_env):
    calls = converse(bedrock_emulator_env, explicit_agent)
    assert len(calls) == 4
    assert all(fields(c) == [facts.TOOLS, facts.SYSTEM] for c in calls)
    shared = calls[0]["checkpoints"][1]["tokens"]  # tools + system
    assert shared > 2500
    first, *rest = [c["usage"] for c in calls]
    assert (first["cacheReadInputTokens"], first["cacheWriteInputTokens"]) == (0, shared)
    assert all((u["cacheReadInputTokens"], u["cacheWriteInputTokens"]) == (shared, 0) for u in rest)
    inputs = [u["inputTokens"] for u in rest]
    assert inputs == sorted(inputs) and len(set(inputs)) == len(inputs)  # history at full price, growing


def test_automatic_saves_nothing_on_turn_one_then_caches_history(bedrock_emulator_env):
    calls = converse(bedrock_emulator_env, automatic_agent)
    assert all(fields(c) == [facts.MESSAGES] for c in calls)
    usages = [c["usage"] for c in calls]
    assert usages[0]["cacheReadInputTokens"] == 0
    # Strands 1.62 checkpoints the new user message, so turn 1 already pays the write premium.
    assert cost(calls[:1]) > total_input(usages[0]) * PRICE_INPUT / 1_000_000
    reads = [u["cacheReadInputTokens"] for u in usages[1:]]
    assert reads == sorted(reads) and reads[0] > 2500  # each call reads the whole conversation so far
    assert all(u["inputTokens"] == 0 for u in usages)


def test_combined_has_the_lowest_input_cost(bedrock_emulator_env):
    one_user = {name: cost(converse(bedrock_emulator_env, make)) for name, make in APPROACHES.items()}
    assert one_user["combined"] < one_user["explicit"]
    # In one conversation the newest-message checkpoint decides; combined costs what automatic does.
    assert one_user["combined"] <= one_user["automatic"]

    # A second user with the same system prompt reads combined's system+tools entry on turn 1.
    two_users = {name: cost(converse(bedrock_emulator_env, make, users=2)) for name, make in APPROACHES.items()}
    assert two_users["combined"] < two_users["automatic"]
    assert two_users["combined"] < two_users["explicit"]
    calls = bedrock_emulator_env.requests
    assert all(fields(c) == [facts.TOOLS, facts.SYSTEM, facts.MESSAGES] for c in calls)
    assert calls[4]["usage"]["cacheReadInputTokens"] == calls[4]["checkpoints"][1]["tokens"]


def test_tool_loop_runs_with_usage_per_model_call(bedrock_emulator_env):
    lookups.clear()
    agent = combined_agent()
    result = agent("Use lookup_order to find order 7, please.")
    assert lookups == [7]
    assert result.stop_reason == "end_turn"
    assert "Order 7 shipped on Monday." in str(result)
    cycles = result.metrics.latest_agent_invocation.cycles
    assert len(cycles) >= 2
    server = bedrock_emulator_env.requests
    assert [c["stopReason"] for c in server] == ["tool_use", "end_turn"]
    for cycle, call in zip(cycles, server, strict=True):
        for key in ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"):
            assert cycle.usage[key] == call["usage"][key]
    # The second call of the loop reads what the first wrote.
    assert cycles[1].usage["cacheReadInputTokens"] == total_input(cycles[0].usage)
