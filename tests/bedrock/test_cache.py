"""The prompt cache on its own: prefix keys, minimums, look-back, TTLs, and the checkpoint rules."""

import pytest

from bedrock import facts
from bedrock.cache import Clock, PromptCache
from bedrock.errors import BedrockError
from bedrock.prefix import build_prefix, check_checkpoints
from bedrock.tokenizer import count_request
from tests.bedrock.support import assistant, cp, prompt_of, tokens_of, user

SONNET_46 = facts.resolve_model("us.anthropic.claude-sonnet-4-6")  # min 2,048, 1h TTL
SONNET_4 = facts.resolve_model("us.anthropic.claude-sonnet-4-20250514-v1:0")  # min 1,024, no 1h
OPUS_46 = facts.resolve_model("us.anthropic.claude-opus-4-6-v1")  # min 4,096
NOVA = facts.resolve_model("us.amazon.nova-pro-v1:0")
LLAMA = facts.resolve_model("us.meta.llama3-3-70b-instruct-v1:0")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    return PromptCache(clock)


def prefix_of(request, model=SONNET_46):
    return build_prefix(request, model.model_id, claude=model.counts_like_claude)


def run(cache, request, model=SONNET_46):
    prefix = prefix_of(request, model)
    check_checkpoints(prefix, model)
    usage = cache.apply(prefix, model)
    assert prefix.total_tokens == count_request(request, model.counts_like_claude)
    return usage


def system_request(tokens=2500, question="hi", ttl=None, salt="", model=SONNET_46):
    text = prompt_of(tokens, salt, claude=model.counts_like_claude)
    return {"system": [{"text": text}, cp(ttl)], "messages": [user(question)]}


def test_first_call_writes_and_second_reads(cache):
    first = run(cache, system_request())
    assert (first.read, first.write) == (0, 2500)
    assert first.details() == [{"ttl": "5m", "inputTokens": 2500}]
    second = run(cache, system_request(question="a different question"))
    assert (second.read, second.write) == (2500, 0)
    assert second.details() == []


def test_one_changed_token_before_the_checkpoint_misses(cache):
    run(cache, system_request(salt="alpha"))
    assert run(cache, system_request(salt="beta")).write == 2500


def test_below_the_minimum_nothing_is_cached(cache):
    for _ in range(2):
        usage = run(cache, system_request(tokens=2047))
        assert (usage.read, usage.write) == (0, 0)
    assert len(cache) == 0


def test_minimum_is_per_model(cache):
    assert run(cache, system_request(tokens=1500), SONNET_4).write == 1500
    assert run(cache, system_request(tokens=1500), SONNET_46).write == 0
    assert run(cache, system_request(tokens=4000), OPUS_46).write == 0


def test_models_do_not_share_entries_but_profiles_of_one_model_do(cache):
    run(cache, system_request(tokens=5000), SONNET_46)
    assert run(cache, system_request(tokens=5000), OPUS_46).write == 5000
    request = system_request()
    first = build_prefix(request, facts.resolve_model("us.anthropic.claude-sonnet-4-6").model_id)
    second = build_prefix(request, facts.resolve_model("global.anthropic.claude-sonnet-4-6").model_id)
    assert first.hashes == second.hashes


def test_inference_config_and_cache_points_are_not_part_of_the_key(cache):
    run(cache, {**system_request(), "inferenceConfig": {"maxTokens": 10}})
    request = system_request()
    request["inferenceConfig"] = {"maxTokens": 99, "temperature": 0.5}
    assert run(cache, request).read == 2500


def test_longest_prefix_is_read_and_the_rest_written(cache):
    system = [{"text": prompt_of(2500)}, cp()]
    run(cache, {"system": system, "messages": [user("q1")]})
    request = {"system": system, "messages": [user(prompt_of(300), cp())]}
    usage = run(cache, request)
    assert (usage.read, usage.write) == (2500, 300)
    again = run(cache, {"system": system, "messages": [user(prompt_of(300), cp()), assistant("ok"), user("more")]})
    assert (again.read, again.write) == (2800, 0)


def test_write_is_split_by_ttl_one_hour_first(cache):
    request = {"system": [{"text": prompt_of(2500)}, cp("1h")], "messages": [user(prompt_of(100), cp("5m"))]}
    usage = run(cache, request)
    assert usage.write == 2600
    assert usage.details() == [{"ttl": "1h", "inputTokens": 2500}, {"ttl": "5m", "inputTokens": 100}]


def test_ttl_expires_and_reads_refresh_it(cache, clock):
    run(cache, system_request())
    clock.advance(240)
    assert run(cache, system_request()).read == 2500  # resets the 5 minutes
    clock.advance(240)
    assert run(cache, system_request()).read == 2500
    clock.advance(301)
    usage = run(cache, system_request())
    assert (usage.read, usage.write) == (0, 2500)


def test_one_hour_ttl_outlives_five_minutes(cache, clock):
    run(cache, system_request(ttl="1h"))
    clock.advance(50 * 60)
    assert run(cache, system_request(ttl="1h")).read == 2500
    clock.advance(61 * 60)
    assert run(cache, system_request(ttl="1h")).write == 2500


def conversation(turns: int, *, checkpoint_on_newest=True):
    """A Claude conversation of `turns` user turns; the message checkpoint sits on the newest user turn."""
    messages = []
    for turn in range(turns):
        if turn:
            messages.append(assistant(f"answer {turn}"))
        messages.append(user(f"question {turn}"))
    if checkpoint_on_newest:
        messages[-1] = {**messages[-1], "content": [*messages[-1]["content"], cp()]}
    return {"system": [{"text": prompt_of(2500)}], "messages": messages}


def test_lookback_finds_the_older_entry_when_the_checkpoint_moves(cache):
    first = run(cache, conversation(1))
    assert first.write == 2500 + tokens_of("question 0")
    second = run(cache, conversation(2))
    assert second.read == first.write  # the turn-1 entry, found by looking back from the new checkpoint
    assert second.write == tokens_of("answer 1") + tokens_of("question 1")


def test_lookback_is_limited_to_lookback_blocks(cache):
    run(cache, conversation(1))
    # 11 more turns add 22 blocks: the turn-1 entry is out of reach of the 20-block look-back.
    usage = run(cache, conversation(12))
    assert usage.read == 0
    assert SONNET_46.lookback_blocks == 20


def test_nova_has_no_lookback_and_caps_cached_tokens(cache):
    run(cache, conversation(1), NOVA)
    assert run(cache, conversation(2), NOVA).read == 0
    assert run(cache, system_request(tokens=NOVA.max_cached_tokens + 1, model=NOVA), NOVA).write == 0
    assert run(cache, system_request(tokens=1000, model=NOVA), NOVA).write == 1000


def test_tools_checkpoint_counts_tools_first():
    spec = {"toolSpec": {"name": "lookup", "description": prompt_of(1100), "inputSchema": {"json": {}}}}
    request = {"toolConfig": {"tools": [spec, cp()]}, "system": [{"text": "x"}], "messages": [user("q")]}
    prefix = prefix_of(request, SONNET_4)
    [point] = prefix.checkpoints
    assert point.field == facts.TOOLS
    assert point.tokens == prefix.tokens[1] > 1100


def reject(request, model=SONNET_46, match=None):
    with pytest.raises(BedrockError) as caught:
        check_checkpoints(prefix_of(request, model), model)
    assert caught.value.name == "ValidationException"
    if match:
        assert match in caught.value.message
    return caught.value


def test_more_than_four_checkpoints_is_rejected():
    request = {"system": [{"text": "a"}, cp(), {"text": "b"}, cp()], "messages": [user("c", cp(), {"text": "d"}, cp())]}
    check_checkpoints(prefix_of(request), SONNET_46)
    request["messages"][0]["content"] += [{"text": "e"}, cp()]
    reject(request, match="Found 5")


def test_a_model_without_caching_rejects_any_checkpoint():
    error = reject(system_request(), LLAMA)
    assert error.message == facts.UNSUPPORTED_CACHING_MESSAGE
    check_checkpoints(prefix_of({"messages": [user("hi")]}, LLAMA), LLAMA)


def test_nova_rejects_a_tools_checkpoint_but_takes_system_and_messages():
    spec = {"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}
    reject({"toolConfig": {"tools": [spec, cp()]}, "messages": [user("q")]}, NOVA, match="toolConfig")
    check_checkpoints(prefix_of(conversation(2) | system_request(model=NOVA), NOVA), NOVA)


def test_one_hour_ttl_only_where_the_model_supports_it():
    check_checkpoints(prefix_of(system_request(ttl="1h")), SONNET_46)
    reject(system_request(ttl="1h"), SONNET_4, match="1h")


def test_ttl_must_not_increase_along_tools_system_messages():
    reject({"system": [{"text": "a"}, cp("5m")], "messages": [user("q", cp("1h"))]}, match="shorter ttl")
    request = {"system": [{"text": "a"}, cp("1h")], "messages": [user("q", cp())]}
    check_checkpoints(prefix_of(request), SONNET_46)


def test_checkpoint_with_nothing_before_it_is_rejected():
    reject({"messages": [{"role": "user", "content": [cp(), {"text": "q"}]}]}, match="nothing available")
    reject({"system": [cp(), {"text": "a"}], "messages": [user("q")]}, match="nothing available")
