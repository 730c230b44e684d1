"""The prompt-cache engine in-process: the emulator's usage, Bedrock's refusals, time given by the caller."""

import pytest

from bedrock import BedrockError, PromptCacheEngine
from bedrock.tokenizer import count_request
from tests.bedrock.support import LLAMA, SONNET_46, assistant, client, cp, prompt_of, user

SYSTEM = [{"text": prompt_of(2500)}, cp()]


def test_a_two_turn_conversation_gets_the_emulators_usage(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    engine = PromptCacheEngine()
    first = {"system": SYSTEM, "messages": [user(prompt_of(300, "refunds"), cp())]}

    served = bedrock.converse(modelId=SONNET_46, **first)
    local = engine.apply(SONNET_46, first).usage(served["usage"]["outputTokens"])
    assert local == served["usage"]
    assert (local["cacheReadInputTokens"], local["cacheWriteInputTokens"]) == (0, 2800)

    reply = served["output"]["message"]["content"][0]["text"]
    second = {
        "system": SYSTEM,
        "messages": [user(prompt_of(300, "refunds")), assistant(reply), user("And for shipping?", cp())],
    }
    served = bedrock.converse(modelId=SONNET_46, **second)
    local = engine.apply(SONNET_46, second).usage(served["usage"]["outputTokens"])
    assert local == served["usage"]
    # The first turn's messages checkpoint is found by look-back and read; only the new turn is written.
    assert local["cacheReadInputTokens"] == 2800
    assert local["cacheWriteInputTokens"] == count_request(second, claude=True) - 2800 > 0
    assert local["inputTokens"] == 0


def test_entries_live_by_the_time_the_caller_gives():
    engine = PromptCacheEngine()
    request = {"system": SYSTEM, "messages": [user("hi")]}

    def split(now):
        usage = engine.apply(SONNET_46, request, now=now).usage()
        return usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"]

    assert split(0.0) == (0, 2500)
    assert split(299.0) == (2500, 0)  # within 5 minutes: read, and the TTL starts again
    assert split(598.0) == (2500, 0)
    assert split(898.0) == (0, 2500)  # 5 minutes after the last read: gone, written again


def test_usage_without_output_counts_the_request_alone():
    usage = PromptCacheEngine().apply(SONNET_46, {"system": SYSTEM, "messages": [user("hi")]}).usage()
    assert usage["outputTokens"] == 0
    assert usage["totalTokens"] == 2501 == usage["inputTokens"] + usage["cacheWriteInputTokens"]
    assert usage["cacheDetails"] == [{"ttl": "5m", "inputTokens": 2500}]


def test_a_model_that_cannot_cache_reports_no_cache_fields():
    usage = PromptCacheEngine().apply(LLAMA, {"messages": [user("hi")]}).usage(5)
    assert usage == {"inputTokens": 1, "outputTokens": 5, "totalTokens": 6}


def test_a_model_arn_names_its_model():
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + SONNET_46
    assert PromptCacheEngine().apply(arn, {"messages": [user("hi")]}).model.model_id == "anthropic.claude-sonnet-4-6"


@pytest.mark.parametrize(
    ("model_id", "request_", "message"),
    [
        ("us.anthropic.claude-unknown", {"messages": [user("hi")]}, "The provided model identifier is invalid."),
        (SONNET_46, {"messages": [assistant("hi")]}, "A conversation must start with a user message."),
        (SONNET_46, {"messages": [user("hi")], "inferenceConfig": {"maxTokens": 64_001}}, "exceeds the model limit"),
        (SONNET_46, {"system": [{"text": "a"}, cp()] * 5, "messages": [user("hi")]}, "A maximum of 4 cache points"),
    ],
)
def test_what_bedrock_refuses_raises_its_validation_error(model_id, request_, message):
    engine = PromptCacheEngine()
    with pytest.raises(BedrockError) as raised:
        engine.apply(model_id, request_)
    assert raised.value.name == "ValidationException"
    assert message in raised.value.message
    assert len(engine.cache) == 0
