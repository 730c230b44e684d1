"""How turns run on a worker's threads: one shared client, models reused, a loop per thread, a time limit,
and botocore's own retries made visible. Against the local emulator, through the real boto3 and Strands."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.config import Config as BotocoreConfig
from strands.models import bedrock as strands_bedrock

from agents_app.runtime import ModelCallTimeout, bedrock_client, build_agent, is_retryable, retries_recorded, run_agent
from agents_app.runtime.run import CANCEL_POLL_SECONDS, thread_loop

from .factories import CLAUDE, make_config

RETRIES = BotocoreConfig(retries={"max_attempts": 3, "mode": "standard"})


def test_threads_share_one_client_and_one_model_per_settings(bedrock_emulator_env):
    config = make_config(CLAUDE)

    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: build_agent(config, boto_client_config=RETRIES).agent.model, range(16)))

    assert len({id(model) for model in models}) == 1
    assert models[0].client is bedrock_client(RETRIES)
    # Other model settings, another model; still the same client.
    other = build_agent(make_config(CLAUDE, max_tokens=123), boto_client_config=RETRIES).agent.model
    assert other is not models[0] and other.client is models[0].client


def test_a_new_endpoint_gets_a_new_client(bedrock_emulator_env, monkeypatch):
    before = bedrock_client(RETRIES)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")

    after = bedrock_client(RETRIES)

    assert after is not before and after.meta.endpoint_url == "http://127.0.0.1:9"


def test_turns_share_no_conversation_and_each_thread_keeps_its_loop(bedrock_emulator_env):
    config = make_config(CLAUDE)

    def turn(n: int):
        result = run_agent(config, f"Question {n}", boto_client_config=RETRIES)
        return n, result, thread_loop()

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(turn, range(12)))

    for n, result, _ in outcomes:
        assert [m["role"] for m in result.messages] == ["user", "assistant"]
        assert result.messages[0]["content"][0]["text"] == f"Question {n}"
        # Per-turn usage, not the accumulation over a reused agent.
        assert result.usage == {key: sum(call[key] for call in result.model_calls) for key in result.usage}
    assert len({id(loop) for _, _, loop in outcomes}) <= 4
    assert not any(loop.is_closed() for _, _, loop in outcomes)


def test_strands_polls_the_cancel_signal_once_a_second():
    # The runtime cancels through asyncio; the name is pinned so an upgrade that renames it fails here.
    assert strands_bedrock._CANCEL_POLL_INTERVAL == CANCEL_POLL_SECONDS == 1.0


def test_a_turn_past_its_time_limit_is_cancelled_and_its_stream_closed(bedrock_emulator_env):
    bedrock_emulator_env.faults.configure(slow_rate=1.0, slow_seconds=3)  # the response starts after 3 s

    started = time.monotonic()
    with pytest.raises(ModelCallTimeout, match="time limit of 0.5 s") as caught:
        run_agent(make_config(CLAUDE), "Hello", boto_client_config=RETRIES, timeout=0.5)

    assert time.monotonic() - started < 1.5
    assert is_retryable(caught.value)
    # The thread that was waiting for the response closes it when it comes, and the next turn runs.
    bedrock_emulator_env.faults.configure(slow_rate=0)
    assert run_agent(make_config(CLAUDE), "Hello again", boto_client_config=RETRIES).response
    time.sleep(3)
    readers = [t for t in threading.enumerate() if t.name.startswith("asyncio_") and t.is_alive()]
    assert all(not _in_http_read(t) for t in readers)


def _in_http_read(thread) -> bool:
    import sys

    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if "urllib3" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def test_retries_botocore_makes_are_recorded_for_the_caller(bedrock_emulator_env):
    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException", "ServiceUnavailableException"])

    with retries_recorded() as retries:
        result = run_agent(make_config(CLAUDE), "Hello", boto_client_config=RETRIES)

    assert result.response
    assert [(r["error"], r["status"]) for r in retries] == [
        ("ThrottlingException", 429),
        ("ServiceUnavailableException", 503),
    ]
    assert all(r["at"] for r in retries)


def test_the_last_failure_is_not_a_retry(bedrock_emulator_env):
    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException"] * 4)

    with retries_recorded() as retries, pytest.raises(Exception) as caught:
        run_agent(make_config(CLAUDE), "Hello", boto_client_config=RETRIES)

    assert is_retryable(caught.value)
    assert [r["error"] for r in retries] == ["ThrottlingException"] * 3  # four attempts, three retried


def test_retries_are_recorded_only_inside_the_block(bedrock_emulator_env):
    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException"])
    assert run_agent(make_config(CLAUDE), "Hello", boto_client_config=RETRIES).response

    with retries_recorded() as retries:
        run_agent(make_config(CLAUDE), "Hello", boto_client_config=RETRIES)

    assert retries == []
