"""A Claude Sonnet 4.6 agent with a long English system prompt caches it on turn 1, through Strands and boto3.

The prompt is the corpus' ``markdown_travel_orchestrator.md``: 9,767 characters of English
Markdown with two tools, much like the orchestrator of the public demo behind the blog post "How
to Save 90% on Agent Token Costs with Prompt Caching on AWS Bedrock", which real Sonnet 4.6 caches.
Its reference counts (corpus/reference.json) are 2,261 tokens in the published vocabulary and 2,277
for Claude 3 to 4.6, so above Sonnet 4.6's 2,048-token minimum whichever way it is counted; the
emulator's old rule (runs of letters, runs of digits, single punctuation) counted it at 2,016, below
the minimum, and showed no caching at all.
"""

from pathlib import Path

import pytest
from strands import Agent, tool
from strands.models import BedrockModel
from strands.models.model import CacheConfig
from strands.types.content import SystemContentBlock

from bedrock import facts
from tests.bedrock.support import SONNET_46, tokens_of

PROMPT = (Path(__file__).resolve().parents[1] / "corpus" / "markdown_travel_orchestrator.md").read_text()


@tool
def plan_itinerary(query: str) -> str:
    """Plan days, sights and pacing for a trip.

    Args:
        query: What to plan, with dates and group.
    """
    return "Day 1: old town walk. Day 2: museum and river cruise."


@tool
def search_bookings(query: str) -> str:
    """Search flights, trains and hotels.

    Args:
        query: What to find, with dates and group.
    """
    return "Hotel Aurora, family room, 3 nights, 480 EUR."


def explicit_agent() -> Agent:
    with pytest.warns(DeprecationWarning, match="cache_tools"):
        model = BedrockModel(model_id=SONNET_46, region_name="us-east-1", cache_tools="default")
    system = [SystemContentBlock(text=PROMPT), SystemContentBlock(cachePoint={"type": "default"})]
    return Agent(model=model, system_prompt=system, tools=[plan_itinerary, search_bookings], callback_handler=None)


def combined_agent() -> Agent:
    config = CacheConfig(strategy="auto", tools_ttl=True)
    model = BedrockModel(model_id=SONNET_46, region_name="us-east-1", cache_config=config)
    system = [SystemContentBlock(text=PROMPT), SystemContentBlock(cachePoint={"type": "default"})]
    return Agent(model=model, system_prompt=system, tools=[plan_itinerary, search_bookings], callback_handler=None)


QUESTIONS = ("We are two adults in Lisbon for three days in May. Any tips?", "And what about Porto?")


def system_checkpoint(call) -> dict:
    return next(p for p in call["checkpoints"] if p["field"] == facts.SYSTEM)


def test_the_prompt_is_long_enough_for_sonnet_46_by_every_count():
    minimum = facts.resolve_model(SONNET_46).cache_min_tokens
    assert 9_000 < len(PROMPT) < 10_000
    assert tokens_of(PROMPT, claude=False) > minimum and tokens_of(PROMPT) > minimum


@pytest.mark.parametrize("make_agent", [explicit_agent, combined_agent], ids=["explicit", "combined"])
def test_turn_one_writes_the_system_prompt_and_later_turns_and_sessions_read_it(bedrock_emulator_env, make_agent):
    emulator = bedrock_emulator_env

    # One conversation: turn 1 writes tools + system, turn 2 reads them.
    agent = make_agent()
    for question in QUESTIONS:
        agent(question)
    first, second = emulator.requests
    shared = system_checkpoint(first)["tokens"]  # tools + system prompt
    assert shared > tokens_of(PROMPT) > facts.resolve_model(SONNET_46).cache_min_tokens
    assert first["usage"]["cacheReadInputTokens"] == 0
    assert first["usage"]["cacheWriteInputTokens"] >= shared
    assert second["usage"]["cacheReadInputTokens"] >= shared

    # A second session (a new agent, a new user) with the same prompt reads it on its own turn 1.
    make_agent()(QUESTIONS[0].replace("two adults", "a family of four"))
    third = emulator.requests[2]
    assert third["usage"]["cacheReadInputTokens"] == shared
    entries = [e for e in emulator.cache.entries() if e["checkpoint_field"] == facts.SYSTEM]
    assert [e["prefix_tokens"] for e in entries] == [shared]
    assert entries[0]["hits"] >= 2
