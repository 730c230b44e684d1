"""run_agent through the real Strands BedrockModel and boto3, against the local Bedrock emulator.

The emulator (`bedrock.emulator`) applies Bedrock's cache rules: prefix-hash
entries at checkpoints, per-model minimums, at most four checkpoints, and a
ValidationException for a checkpoint a model cannot take. Its tool rule: a
tool named in the user's text is called, with string input taken from the
words after the tool's name.
"""

import json
from decimal import Decimal

import pytest
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import ClientError

from agents_app.runtime import is_retryable, run_agent
from agents_app.runtime.checkpoints import count_cache_points
from agents_app.runtime.run import USAGE_FIELDS, call_usage
from bedrock.emulator.faults import parse_latency

from .factories import CLAUDE, LLAMA, NOVA, SONNET_PRICES, make_config

pytestmark = pytest.mark.filterwarnings("ignore:cache_tools is deprecated:DeprecationWarning")

TOOLS = [{"name": "calculator"}, {"name": "word_count"}]
NO_RETRIES = BotocoreConfig(retries={"total_max_attempts": 1, "mode": "standard"})


def input_cost(result) -> Decimal:
    """Input-side cost in USD with Sonnet 4.6 prices (per million tokens)."""
    prices = {key: Decimal(str(value)) for key, value in SONNET_PRICES.items()}
    return (
        result.input_tokens * prices["input"]
        + result.cache_read_tokens * prices["read"]
        + result.cache_write_tokens * prices["write"]
    ) / Decimal(1_000_000)


def converse(emulator, calls: int) -> list[dict]:
    """The last `calls` requests the emulator handled (checkpoints, usage, request).

    Never fewer: a loop over them would pass on nothing (and `[-0:]` would be every request).
    """
    assert calls >= 1, "a result with no model call"
    assert len(emulator.requests) >= calls, (len(emulator.requests), calls)
    return emulator.requests[-calls:]


def test_claude_combined_writes_then_reads(bedrock_emulator_env, big_system_prompt):
    config = make_config(CLAUDE, system_prompt=big_system_prompt, cache_strategy="combined")

    first = run_agent(config, "What are your opening hours?")
    assert first.caching_enabled is True
    assert first.cache_write_tokens > 2_048 and first.cache_read_tokens == 0
    assert first.cache_hit is False
    assert first.warnings == []
    assert first.response.startswith("Emulated answer")
    assert [m["role"] for m in first.messages] == ["user", "assistant"]

    second = run_agent(config, "And on Sundays?", messages=first.messages)
    assert second.cache_read_tokens > 2_048
    assert second.cache_hit is True
    assert len(second.messages) == 4
    # Bedrock's inputTokens excludes the cached tokens: the three parts add up to what the emulator counted.
    (request,) = converse(bedrock_emulator_env, 1)
    usage = request["usage"]
    assert second.input_tokens + second.cache_read_tokens + second.cache_write_tokens == (
        usage["totalTokens"] - usage["outputTokens"]
    )
    assert [c["field"] for c in request["checkpoints"]] == ["system", "messages"]


@pytest.mark.parametrize("model_id", [NOVA, LLAMA])
def test_model_that_cannot_cache_runs_uncached(bedrock_emulator_env, big_system_prompt, model_id):
    config = make_config(model_id, system_prompt=big_system_prompt, integrations=TOOLS)
    assert config.prompt_caching_enabled is True and config.model_capabilities.supports_prompt_caching is False

    result = run_agent(config, "Use the calculator: 6 * 7")

    assert result.response
    assert result.warnings == [f"Prompt caching is enabled but {model_id} cannot cache; running uncached."]
    assert result.caching_enabled is False and result.cache_hit is None
    assert result.cache_read_tokens == result.cache_write_tokens == result.cache_write_1h_tokens == 0
    assert result.input_tokens > 2_000
    requests = converse(bedrock_emulator_env, len(result.model_calls))
    assert len(requests) == 2  # the tool loop ran: tool call, then the answer
    for request in requests:
        assert request["modelId"] == model_id
        assert request["checkpoints"] == []
        assert count_cache_points(request["request"]) == 0
    assert bedrock_emulator_env.stats()["errors"] == {}


def test_nova_enabled_in_the_catalog_caches_system_and_messages_only(bedrock_emulator_env, big_system_prompt):
    config = make_config(NOVA, catalog_caching=True, system_prompt=big_system_prompt, integrations=TOOLS)
    first = run_agent(config, "Hello")
    second = run_agent(config, "Use the word_count tool on: one two three", messages=first.messages)

    assert first.warnings == second.warnings == []
    assert first.cache_write_tokens > 0 and second.cache_read_tokens > 0 and second.cache_hit is True
    for request in converse(bedrock_emulator_env, 1 + len(second.model_calls)):
        # Nova takes no checkpoint in toolConfig: Bedrock would reject it.
        assert {c["field"] for c in request["checkpoints"]} == {"system", "messages"}
    assert bedrock_emulator_env.stats()["errors"] == {}


def test_ten_turn_session_keeps_working_and_reads_more_each_turn(bedrock_emulator_env, big_system_prompt):
    config = make_config(CLAUDE, system_prompt=big_system_prompt, cache_strategy="combined")
    messages = None
    reads = []
    for turn in range(1, 11):
        result = run_agent(config, f"Question number {turn}: what about bikes for children?", messages=messages)
        messages = result.messages
        reads.append(result.cache_read_tokens)
        assert count_cache_points(messages) == 0
        assert len(messages) == 2 * turn
        (request,) = converse(bedrock_emulator_env, 1)
        assert len(request["checkpoints"]) == 2  # system + the one moving messages checkpoint, every turn

    assert reads[0] == 0
    assert all(later > earlier for earlier, later in zip(reads[1:], reads[2:], strict=False)), reads
    assert bedrock_emulator_env.stats()["errors"] == {}


PROMPTS = [
    "What are your opening hours?",
    "Use the calculator: 12 * 7",
    "Tell me about repairs in detail.",
    "Use the word_count tool on: the quick brown fox",
]
STRATEGIES = ("explicit", "automatic", "combined")


def four_turn_cost(emulator, system_prompt: str, strategy: str, *, warm: bool) -> Decimal:
    """Input-side cost of the same 4-turn conversation, from an empty cache.

    warm: another user's session of the same agent ran first, as on any agent serving more than one person.
    """
    emulator.reset()
    config = make_config(CLAUDE, system_prompt=system_prompt, cache_strategy=strategy, integrations=TOOLS)
    if warm:
        run_agent(config, "Another user asks about prices.")
    messages, cost = None, Decimal(0)
    for prompt in PROMPTS:
        result = run_agent(config, prompt, messages=messages)
        messages = result.messages
        cost += input_cost(result)
    return cost


def test_combined_costs_least_over_four_turns(bedrock_emulator_env, big_system_prompt):
    warm = {s: four_turn_cost(bedrock_emulator_env, big_system_prompt, s, warm=True) for s in STRATEGIES}
    assert warm["combined"] < warm["explicit"]
    assert warm["combined"] < warm["automatic"]

    cold = {s: four_turn_cost(bedrock_emulator_env, big_system_prompt, s, warm=False) for s in STRATEGIES}
    assert cold["combined"] < cold["explicit"]
    # Strands 1.62 puts the automatic checkpoint on the newest *user* message, so on a cold cache
    # automatic already caches turn 1; combined's system/tools checkpoints pay off across sessions.
    assert cold["combined"] <= cold["automatic"]


def test_tool_turn_reports_each_model_call_and_they_add_up(bedrock_emulator_env, big_system_prompt):
    config = make_config(CLAUDE, system_prompt=big_system_prompt, integrations=TOOLS)
    result = run_agent(config, "Use the calculator: 12 * 7")

    assert len(result.model_calls) >= 2
    assert [call["stop_reason"] for call in result.model_calls] == ["tool_use", "end_turn"]
    assert "'84'" in result.response  # the emulator quotes the tool result
    for name in USAGE_FIELDS:
        assert sum(call[name] for call in result.model_calls) == getattr(result, name), name
    # Each entry is exactly what the emulator reported for that call; the totals are not added on top.
    requests = converse(bedrock_emulator_env, len(result.model_calls))
    for call, request in zip(result.model_calls, requests, strict=True):
        assert call["input_tokens"] == request["usage"]["inputTokens"]
        assert call["cache_read_tokens"] == request["usage"]["cacheReadInputTokens"]
        assert call["cache_write_tokens"] == request["usage"]["cacheWriteInputTokens"]
        assert call["latency_ms"] is not None
    # The second call reads what the first wrote (system + tools + the user's turn).
    assert result.model_calls[1]["cache_read_tokens"] >= result.model_calls[0]["cache_write_tokens"]
    assert [m["role"] for m in result.messages] == ["user", "assistant", "user", "assistant"]
    assert "toolResult" in result.messages[2]["content"][0]
    # What the worker stores is plain JSON.
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


def test_checkpoints_in_a_stored_conversation_are_never_sent(bedrock_emulator_env, big_system_prompt):
    config = make_config(CLAUDE, system_prompt=big_system_prompt, cache_strategy="explicit", integrations=TOOLS)
    stale = {"cachePoint": {"type": "default"}}
    history = [
        {"role": "user", "content": [{"text": "first"}, stale]},
        {"role": "assistant", "content": [{"text": "answer"}, stale]},
        {"role": "user", "content": [{"text": "second"}, stale]},
        {"role": "assistant", "content": [{"text": "answer"}, stale]},
    ]
    # Sent as stored, these four plus the system and tools checkpoints would be six: a ValidationException.
    result = run_agent(config, "third", messages=history)
    (request,) = converse(bedrock_emulator_env, 1)
    assert [c["field"] for c in request["checkpoints"]] == ["tools", "system"]
    assert count_cache_points(result.messages) == 0


def test_streamed_usage_keeps_the_cache_counts(bedrock_emulator_env, big_system_prompt):
    config = make_config(CLAUDE, system_prompt=big_system_prompt)
    first = run_agent(config, "Hello")
    second = run_agent(config, "Hello again", messages=first.messages)

    assert bedrock_emulator_env.stats()["requests"] == {"converse-stream": 2}
    for result, request in zip((first, second), converse(bedrock_emulator_env, 2), strict=True):
        assert result.cache_read_tokens == request["usage"]["cacheReadInputTokens"]
        assert result.cache_write_tokens == request["usage"]["cacheWriteInputTokens"]
        assert result.input_tokens == request["usage"]["inputTokens"]
        assert result.output_tokens == request["usage"]["outputTokens"]
    assert first.cache_write_tokens > 0 and second.cache_read_tokens > 0
    assert first.time_to_first_token_ms is not None
    assert 0 <= first.time_to_first_token_ms <= first.latency_ms


def test_cache_read_shortens_time_to_first_token(bedrock_emulator_env, big_system_prompt):
    """The emulator's latency model, fed the usage each call reported: cached input costs far less time than
    uncached, so the second turn's first token comes much sooner. Figures, not a stopwatch (timings: bench/)."""
    # 200 ms per 1,000 uncached input tokens, 2 ms per 1,000 cached ones.
    model = parse_latency("base_ms=10,uncached_ms_per_1k=200,cached_ms_per_1k=2")
    config = make_config(CLAUDE, system_prompt=big_system_prompt)
    first = run_agent(config, "Hello")
    second = run_agent(config, "Hello again", messages=first.messages)
    assert first.cache_hit is False and second.cache_hit is True

    def first_token_ms(result) -> float:
        uncached = result.input_tokens + result.cache_write_tokens
        return model.first_token_seconds(uncached, result.cache_read_tokens) * 1000

    # The emulator's log holds the same usage the results carry: the model is applied to what it reported.
    for result, request in zip((first, second), converse(bedrock_emulator_env, 2), strict=True):
        assert request["usage"]["inputTokens"] == result.input_tokens
        assert request["usage"]["cacheReadInputTokens"] == result.cache_read_tokens
        assert request["usage"]["cacheWriteInputTokens"] == result.cache_write_tokens
    assert first.cache_write_tokens > 2_000 and second.cache_read_tokens >= first.cache_write_tokens
    assert first_token_ms(first) >= 400
    assert first_token_ms(second) < first_token_ms(first) / 2
    # What the run reports is consistent whatever the machine's speed.
    for result in (first, second):
        assert 0 <= result.time_to_first_token_ms <= result.latency_ms


def test_one_hour_writes_come_from_cache_details():
    metadata = {
        "usage": {
            "inputTokens": 10,
            "outputTokens": 5,
            "totalTokens": 3_015,
            "cacheReadInputTokens": 0,
            "cacheWriteInputTokens": 3_000,
            "cacheDetails": [{"ttl": "1h", "inputTokens": 2_500}, {"ttl": "5m", "inputTokens": 500}],
        },
        "metrics": {"latencyMs": 120},
    }
    assert call_usage(metadata) == {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 0,
        "cache_write_tokens": 3_000,
        "cache_write_1h_tokens": 2_500,
        "latency_ms": 120,
    }


@pytest.mark.parametrize(
    ("fault", "retryable"),
    [
        ("ThrottlingException", True),
        ("ServiceUnavailableException", True),
        ("ModelNotReadyException", True),
        ({"error": "ModelStreamErrorException", "in_stream": True}, True),
        ("AccessDeniedException", False),
        ("ValidationException", False),
    ],
)
def test_errors_propagate_and_say_whether_to_retry(bedrock_emulator_env, fault, retryable):
    bedrock_emulator_env.faults.configure(fail_next=[fault])
    with pytest.raises(Exception) as caught:
        run_agent(make_config(CLAUDE), "Hello", boto_client_config=NO_RETRIES)
    assert is_retryable(caught.value) is retryable
    # And the next call goes through.
    assert run_agent(make_config(CLAUDE), "Hello", boto_client_config=NO_RETRIES).response


def test_throttling_reaches_the_caller_as_strands_exception(bedrock_emulator_env):
    from strands.types.exceptions import ModelThrottledException

    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException"])
    with pytest.raises(ModelThrottledException):
        run_agent(make_config(CLAUDE), "Hello", boto_client_config=NO_RETRIES)
    bedrock_emulator_env.faults.configure(fail_next=["ValidationException"])
    with pytest.raises(ClientError):
        run_agent(make_config(CLAUDE), "Hello", boto_client_config=NO_RETRIES)
