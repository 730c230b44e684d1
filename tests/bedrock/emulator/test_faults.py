"""Latency model and fault injection (no timing assertions: only what they compute and that streams still work)."""

import pytest

from bedrock.emulator.faults import REALISTIC, Faults, Latency, parse_latency
from tests.bedrock.support import SONNET_46, client, cp, prompt_of, stream_usage, user


def test_latency_is_off_by_default_and_parses_specs():
    assert not Latency().enabled
    assert not parse_latency("off").enabled
    assert parse_latency("realistic").to_dict() == REALISTIC
    assert parse_latency("realistic,output_tokens_per_s=200").output_tokens_per_s == 200
    assert parse_latency({"base_ms": 5}).base_ms == 5
    with pytest.raises(ValueError, match="bad latency setting"):
        parse_latency("speed=3")


def test_first_token_grows_with_uncached_input_and_shrinks_when_cached():
    latency = parse_latency("realistic")
    cold = latency.first_token_seconds(uncached_tokens=3000, cached_tokens=0)
    warm = latency.first_token_seconds(uncached_tokens=100, cached_tokens=2900)
    assert cold > warm > latency.first_token_seconds(0, 0) == REALISTIC["base_ms"] / 1000
    assert latency.output_seconds(80) == pytest.approx(1.0)
    assert Latency().output_seconds(80) == 0


def test_faults_are_off_by_default_and_reproducible_with_a_seed():
    assert all(Faults().draw().error is None for _ in range(100))

    def outcomes(faults):
        return [getattr(faults.draw().error, "name", None) for _ in range(200)]

    first = outcomes(Faults(throttle_rate=0.2, error_rate=0.1, seed=7))
    assert first == outcomes(Faults(throttle_rate=0.2, error_rate=0.1, seed=7))
    assert first != outcomes(Faults(throttle_rate=0.2, error_rate=0.1, seed=8))
    assert {"ThrottlingException", "InternalServerException", "ServiceUnavailableException", None} == set(first)


def test_slow_responses_and_queued_errors():
    faults = Faults(slow_rate=1.0, slow_seconds=0.25, seed=1)
    assert faults.draw().delay_seconds == 0.25
    faults.configure(fail_next=["ModelNotReadyException"], slow_rate=0.0)
    assert faults.draw().error.name == "ModelNotReadyException"
    assert faults.draw().error is None
    with pytest.raises(ValueError, match="unknown Bedrock error"):
        faults.configure(fail_next=["NoSuchException"])
    with pytest.raises(ValueError, match="cannot be sent inside a stream"):
        faults.configure(fail_next=[{"error": "AccessDeniedException", "in_stream": True}])
    with pytest.raises(ValueError, match="unknown fault settings"):
        faults.configure(throttle=1)


def test_stream_with_a_latency_model_is_sent_in_chunks(bedrock_emulator):
    bedrock_emulator.latency = "base_ms=1,uncached_ms_per_1k=1,cached_ms_per_1k=0.1,output_tokens_per_s=100000"
    bedrock = client(bedrock_emulator.url)
    request = {"modelId": SONNET_46, "system": [{"text": prompt_of(2500)}, cp()], "messages": [user("hi")]}
    response = bedrock.converse_stream(**request)
    assert response["ResponseMetadata"]["HTTPHeaders"]["transfer-encoding"] == "chunked"
    events, usage = stream_usage(response)
    assert usage["cacheWriteInputTokens"] == 2500
    assert events[-1]["metadata"]["metrics"]["latencyMs"] >= 1
    assert bedrock.converse(**request)["usage"]["cacheReadInputTokens"] == 2500
