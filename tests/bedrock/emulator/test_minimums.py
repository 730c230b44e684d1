"""Every caching model's minimum, through real boto3: a prompt just below it caches nothing, one at it caches.

Counts are the emulator's for that model (Claude's estimate for Claude, the published vocabulary for
Nova); a Claude count is a scaled one, so "just below" and "just at" are the nearest counts a text
can have on either side of the minimum (at most one token apart from it).
"""

import pytest

from bedrock import facts
from tests.bedrock.support import client, cp, prompt_of, stream_usage, total_input, user

CACHING_MODELS = sorted(model_id for model_id, model in facts.MODELS.items() if model.supports_caching)


def prompt_near(tokens: int, claude: bool, step: int) -> str:
    """A prompt of `tokens` tokens, or of the nearest count reachable walking by `step`."""
    for count in range(tokens, tokens + 3 * step, step):
        try:
            return prompt_of(count, claude=claude)
        except ValueError:
            continue
    raise AssertionError(f"no prompt near {tokens} tokens")


@pytest.mark.parametrize("model_id", CACHING_MODELS)
def test_just_below_the_minimum_caches_nothing_and_at_it_caches(bedrock_emulator, model_id):
    model = facts.MODELS[model_id]
    bedrock = client(bedrock_emulator.url)
    claude = model.counts_like_claude
    below = prompt_near(model.cache_min_tokens - 1, claude, -1)
    at = prompt_near(model.cache_min_tokens, claude, 1)

    def call(prompt, stream):
        request = {"modelId": model_id, "system": [{"text": prompt}, cp()], "messages": [user("hi")]}
        if stream:
            return stream_usage(bedrock.converse_stream(**request))[1]
        return bedrock.converse(**request)["usage"]

    for stream in (False, True):
        usage = call(below, stream)
        assert (usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"]) == (0, 0)

    first, second = call(at, False), call(at, True)
    tokens = first["cacheWriteInputTokens"]
    assert model.cache_min_tokens <= tokens <= model.cache_min_tokens + 1
    assert (first["cacheReadInputTokens"], second["cacheReadInputTokens"], second["cacheWriteInputTokens"]) == (
        0,
        tokens,
        0,
    )
    counted = bedrock.count_tokens(
        modelId=model_id, input={"converse": {"system": [{"text": at}, cp()], "messages": [user("hi")]}}
    )["inputTokens"]
    assert total_input(first) == total_input(second) == counted
