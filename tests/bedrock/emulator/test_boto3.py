"""The emulator through real boto3: shapes, errors, cache usage, retries."""

import json
import threading

import pytest
from botocore.exceptions import EventStreamError

from bedrock import facts
from bedrock.tokenizer import count_block, count_request
from tests.bedrock.support import (
    LLAMA,
    NOVA_PRO,
    SONNET_4,
    SONNET_46,
    assistant,
    client,
    cp,
    prompt_of,
    stream_usage,
    tokens_of,
    total_input,
    user,
)


def system_call(tokens=2500, question="What is our refund policy?", **extra):
    return {
        "modelId": SONNET_46,
        "system": [{"text": prompt_of(tokens)}, cp()],
        "messages": [user(question)],
        **extra,
    }


def test_identical_streams_write_then_read_and_counts_agree(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    request = system_call()
    events, first = stream_usage(bedrock.converse_stream(**request))
    assert [next(iter(e)) for e in events[:1] + events[-2:]] == ["messageStart", "messageStop", "metadata"]
    assert first["cacheReadInputTokens"] == 0
    assert first["cacheWriteInputTokens"] == 2500
    assert first["cacheDetails"] == [{"ttl": "5m", "inputTokens": 2500}]
    assert "latencyMs" in events[-1]["metadata"]["metrics"]

    _, second = stream_usage(bedrock.converse_stream(**request))
    assert second["cacheReadInputTokens"] == 2500
    assert second["cacheWriteInputTokens"] == 0
    assert "cacheDetails" not in second

    counted = bedrock.count_tokens(
        modelId=SONNET_46, input={"converse": {"system": request["system"], "messages": request["messages"]}}
    )["inputTokens"]
    assert total_input(first) == total_input(second) == counted == count_request(request, claude=True)
    assert second["totalTokens"] == counted + second["outputTokens"]


def test_same_request_same_answer(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    answers = [bedrock.converse(**system_call(500))["output"] for _ in range(2)]
    assert answers[0] == answers[1]


def test_prompt_below_the_minimum_caches_nothing_without_error(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    for _ in range(2):
        _, usage = stream_usage(bedrock.converse_stream(**system_call(500)))
        assert usage["cacheReadInputTokens"] == usage["cacheWriteInputTokens"] == 0
        assert usage["inputTokens"] == 500 + tokens_of("What is our refund policy?")


def test_converse_reports_cache_usage_too(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    first = bedrock.converse(**system_call())
    assert first["usage"]["cacheWriteInputTokens"] == 2500
    assert first["stopReason"] == "end_turn"
    assert first["output"]["message"]["role"] == "assistant"
    assert bedrock.converse(**system_call())["usage"]["cacheReadInputTokens"] == 2500


def test_five_checkpoints_are_rejected(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    system = [{"text": prompt_of(500)}, cp(), {"text": "b"}, cp(), {"text": "c"}, cp()]
    with pytest.raises(bedrock.exceptions.ValidationException, match="Found 5"):
        bedrock.converse_stream(modelId=SONNET_46, system=system, messages=[user("q", cp(), {"text": "d"}, cp())])


def test_checkpoint_on_a_model_without_caching_gets_the_unsupported_message(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    with pytest.raises(bedrock.exceptions.ValidationException) as caught:
        bedrock.converse_stream(modelId=LLAMA, system=[{"text": "x"}, cp()], messages=[user("q")])
    assert caught.value.response["Error"]["Message"] == facts.UNSUPPORTED_CACHING_MESSAGE
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Without a checkpoint the model answers; its usage has no cache fields.
    usage = bedrock.converse(modelId=LLAMA, messages=[user("q")])["usage"]
    assert "cacheReadInputTokens" not in usage


def test_nova_rejects_a_tools_checkpoint_and_caches_system(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    spec = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}
    with pytest.raises(bedrock.exceptions.ValidationException, match="toolConfig"):
        bedrock.converse(modelId=NOVA_PRO, toolConfig={"tools": [spec, cp()]}, messages=[user("q")])
    request = {"modelId": NOVA_PRO, "system": [{"text": prompt_of(1200, claude=False)}, cp()], "messages": [user("q")]}
    assert bedrock.converse(**request)["usage"]["cacheWriteInputTokens"] == 1200
    assert bedrock.converse(**request)["usage"]["cacheReadInputTokens"] == 1200


def test_advancing_the_clock_past_five_minutes_turns_a_read_into_a_write(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    bedrock.converse(**system_call())
    bedrock_emulator.clock.advance(4 * 60)
    assert bedrock.converse(**system_call())["usage"]["cacheReadInputTokens"] == 2500
    bedrock_emulator.clock.advance(5 * 60 + 1)
    usage = bedrock.converse(**system_call())["usage"]
    assert (usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"]) == (0, 2500)


def test_one_hour_ttl_and_its_rules(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    request = system_call(system=[{"text": prompt_of(2500)}, cp("1h")], messages=[user(prompt_of(100), cp("5m"))])
    usage = bedrock.converse(**request)["usage"]
    assert usage["cacheDetails"] == [{"ttl": "1h", "inputTokens": 2500}, {"ttl": "5m", "inputTokens": 100}]
    bedrock_emulator.clock.advance(30 * 60)
    assert bedrock.converse(**request)["usage"]["cacheReadInputTokens"] == 2500
    with pytest.raises(bedrock.exceptions.ValidationException, match="1h"):
        bedrock.converse(**{**request, "modelId": SONNET_4})
    with pytest.raises(bedrock.exceptions.ValidationException, match="shorter ttl"):
        bedrock.converse(**system_call(messages=[user("q", cp("1h"))]))


def test_unknown_model_and_encoded_ids(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    with pytest.raises(bedrock.exceptions.ValidationException, match="model identifier is invalid"):
        bedrock.converse(modelId="us.anthropic.claude-unknown-9", messages=[user("q")])
    for model_id in (
        SONNET_4,  # has a ':'
        "anthropic.claude-sonnet-4-6",
        "global.anthropic.claude-sonnet-4-6",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6",
    ):
        assert bedrock.converse(modelId=model_id, messages=[user("q")])["stopReason"] == "end_turn"


def test_conversation_rules(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    with pytest.raises(bedrock.exceptions.ValidationException, match="start with a user message"):
        bedrock.converse(modelId=SONNET_46, messages=[assistant("hi")])
    tool_use = {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {}}}
    with pytest.raises(bedrock.exceptions.ValidationException, match="toolConfig field must be defined"):
        bedrock.converse(modelId=SONNET_46, messages=[user("q"), assistant("x", tool_use), user("next")])
    with pytest.raises(bedrock.exceptions.ValidationException, match="maximum tokens"):
        bedrock.converse(modelId=SONNET_46, messages=[user("q")], inferenceConfig={"maxTokens": 10**6})


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("ThrottlingException", 429),
        ("ModelNotReadyException", 429),
        ("InternalServerException", 500),
        ("ServiceUnavailableException", 503),
    ],
)
def test_errors_raise_the_modeled_botocore_exceptions(bedrock_emulator, name, status):
    bedrock = client(bedrock_emulator.url)
    bedrock_emulator.faults.configure(fail_next=[name, name])
    for call in (bedrock.converse, bedrock.converse_stream):
        with pytest.raises(getattr(bedrock.exceptions, name)) as caught:
            call(modelId=SONNET_46, messages=[user("q")])
        assert caught.value.response["Error"]["Code"] == name
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_exception_inside_the_stream(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    bedrock_emulator.faults.configure(fail_next=[{"error": "ThrottlingException", "in_stream": True}])
    response = bedrock.converse_stream(modelId=SONNET_46, messages=[user("q")])
    events = []
    with pytest.raises(EventStreamError) as caught:
        events.extend(response["stream"])
    assert events == [{"messageStart": {"role": "assistant"}}]
    assert caught.value.response["Error"]["Code"] == "throttlingException"


def test_retries_recover_from_injected_throttling(bedrock_emulator):
    bedrock_emulator.faults.configure(throttle_rate=0.4, seed=3)
    bedrock = client(bedrock_emulator.url, retries={"max_attempts": 10, "mode": "standard"})
    for turn in range(5):
        _, usage = stream_usage(bedrock.converse_stream(**system_call(question=f"question {turn}")))
        assert usage["outputTokens"] > 0
    stats = bedrock_emulator.stats()
    assert stats["errors"]["ThrottlingException"] >= 2
    assert stats["requests"]["converse-stream"] == 5 + stats["errors"]["ThrottlingException"]


def test_tool_use_streams_as_start_and_json_deltas(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    spec = {
        "toolSpec": {
            "name": "lookup_order",
            "inputSchema": {"json": {"type": "object", "properties": {"order_id": {"type": "integer"}}}},
        }
    }
    response = bedrock.converse_stream(
        modelId=SONNET_46, toolConfig={"tools": [spec]}, messages=[user("Use lookup_order on order 42")]
    )
    events = list(response["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "lookup_order"
    index = start["contentBlockIndex"]
    pieces = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e and e["contentBlockDelta"]["contentBlockIndex"] == index
    ]
    assert json.loads("".join(pieces)) == {"order_id": 42}
    assert next(e["messageStop"] for e in events if "messageStop" in e)["stopReason"] == "tool_use"


def test_max_tokens_in_a_stream(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    response = bedrock.converse_stream(modelId=SONNET_46, messages=[user("q")], inferenceConfig={"maxTokens": 3})
    events, usage = stream_usage(response)
    assert next(e["messageStop"] for e in events if "messageStop" in e)["stopReason"] == "max_tokens"
    assert usage["outputTokens"] == 3


def test_concurrent_requests_write_a_prefix_once(bedrock_emulator):
    request = system_call()
    usages = []

    def call():
        usages.append(client(bedrock_emulator.url).converse(**request)["usage"])

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(u["cacheWriteInputTokens"] for u in usages) == 2500
    assert sum(u["cacheReadInputTokens"] for u in usages) == 7 * 2500


def test_tool_specs_uses_and_results_count_the_same_in_all_three_operations(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    spec = {
        "toolSpec": {
            "name": "lookup_order",
            "description": "Look up an order by number.",
            "inputSchema": {"json": {"type": "object", "properties": {"order_id": {"type": "integer"}}}},
        }
    }
    use = {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup_order", "input": {"order_id": 42}}}
    result = {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "Order 42:\n  shipped Monday"}]}}
    conversation = {
        "toolConfig": {"tools": [spec, cp()]},
        "system": [{"text": prompt_of(1100)}, cp()],
        "messages": [
            user("Please check lookup_order for order 42."),
            {"role": "assistant", "content": [{"text": "Checking."}, use]},
            {"role": "user", "content": [result]},
        ],
    }
    counted = bedrock.count_tokens(modelId=SONNET_4, input={"converse": conversation})["inputTokens"]
    expected = sum(count_block(b, claude=True) for b in [spec, {"text": "Checking."}, use, result])
    assert counted == expected + 1100 + tokens_of("Please check lookup_order for order 42.")
    written = bedrock.converse(modelId=SONNET_4, **conversation)["usage"]
    _, read = stream_usage(bedrock.converse_stream(modelId=SONNET_4, **conversation))
    assert total_input(written) == total_input(read) == counted
    assert written["cacheWriteInputTokens"] == read["cacheReadInputTokens"] == count_block(spec, claude=True) + 1100
