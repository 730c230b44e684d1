"""Acceptance of the invocation pipeline: API → Redis → Celery worker → Strands → emulator → database."""

from decimal import Decimal

import pytest

from agents_app.demo import support_system_prompt

LONG_PROMPT = support_system_prompt()
CLAUDE = "us.anthropic.claude-sonnet-4-6"


@pytest.fixture(scope="module")
def key(stack):
    return stack.tenant_key("acme")


@pytest.fixture(scope="module")
def claude_agent(stack, key):
    return stack.create_agent(
        key, name="claude", system_prompt=LONG_PROMPT, model_id=CLAUDE, prompt_caching_enabled=True
    )


def test_second_invocation_of_a_session_reads_the_cache_and_saves(stack, key, claude_agent):
    first = stack.wait_finished(key, stack.invoke(key, claude_agent["id"], "Hello")["id"])
    second = stack.invoke(key, claude_agent["id"], "How do refunds work?", first["session_id"])
    second = stack.wait_finished(key, second["id"])

    assert first["status"] == second["status"] == "succeeded", (first["error"], second["error"])
    assert first["cache_write_tokens"] > 0 and first["cache_hit"] is False
    assert second["cache_read_tokens"] > 0 and second["cache_hit"] is True
    assert Decimal(second["net_savings"]) > 0


@pytest.mark.parametrize(
    ("model_id", "family"),
    [("us.amazon.nova-pro-v1:0", "amazon-nova"), ("us.meta.llama3-3-70b-instruct-v1:0", "meta-llama")],
)
def test_models_that_cannot_cache_refuse_caching_and_run_uncached(stack, key, emulator, model_id, family):
    # Caching is refused for a family none of whose models can cache, as it is for one agent.
    refused = stack.call(
        key, "PUT", f"/api/model-families/{family}/caching-default/", json={"prompt_caching_enabled": True}
    )
    assert refused.status_code == 400 and "prompt_caching_enabled" in refused.text, refused.text
    agent = stack.create_agent(key, name=f"on {family}", system_prompt=LONG_PROMPT, model_id=model_id)
    seen = len(emulator.requests)

    done = stack.wait_finished(key, stack.invoke(key, agent["id"], "Hello")["id"])

    assert done["status"] == "succeeded", done["error"]
    assert done["caching_enabled"] is False and done["warnings"] == []
    assert done["cache_read_tokens"] == done["cache_write_tokens"] == 0 and done["cache_hit"] is None
    assert [r["checkpoints"] for r in emulator.requests[seen:]] == [[]]


def test_a_ten_turn_session_queued_at_once_runs_in_order_and_reads_grow(stack, key, claude_agent):
    first = stack.invoke(key, claude_agent["id"], "Turn 0: what is the warranty?")
    queued = [first] + [
        stack.invoke(key, claude_agent["id"], f"Turn {n}: and policy {n}?", first["session_id"]) for n in range(1, 10)
    ]
    done = [stack.wait_finished(key, q["id"]) for q in queued]

    assert [d["status"] for d in done] == ["succeeded"] * 10, [d["error"] for d in done]
    started = [d["started_at"] for d in done]
    assert started == sorted(started)
    reads = [d["cache_read_tokens"] for d in done]
    assert all(later > earlier for earlier, later in zip(reads[1:], reads[2:], strict=False)), reads
    session = stack.call(key, "GET", f"/api/agents/{claude_agent['id']}/sessions/").json()["results"]
    assert {s["session_id"]: s["invocations"] for s in session}[first["session_id"]] == 10


def test_combined_saves_more_than_explicit_and_automatic_over_four_turns(stack, key):
    savings = {}
    for strategy in ("explicit", "automatic", "combined"):
        agent = stack.create_agent(
            key,
            name=f"strategy {strategy}",
            system_prompt=LONG_PROMPT + f"\nStrategy {strategy}.",
            model_id=CLAUDE,
            prompt_caching_enabled=True,
            cache_strategy=strategy,
        )
        stack.wait_finished(key, stack.invoke(key, agent["id"], "An earlier customer asking about shipping")["id"])
        session_id, total = None, Decimal(0)
        for turn in range(4):
            done = stack.wait_finished(
                key, stack.invoke(key, agent["id"], f"Turn {turn}: the refund policy, part {turn}", session_id)["id"]
            )
            session_id, total = done["session_id"], total + Decimal(done["net_savings"])
        savings[strategy] = total

    assert savings["combined"] > savings["explicit"] and savings["combined"] > savings["automatic"], savings


def test_injected_throttling_is_retried_until_it_succeeds(stack, key, claude_agent, emulator):
    emulator.faults.configure(fail_next=["ThrottlingException"] * 6)
    try:
        done = stack.wait_finished(key, stack.invoke(key, claude_agent["id"], "Hi again")["id"])
    finally:
        emulator.faults.configure(fail_next=[])

    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] >= 2


def test_a_permanent_error_leaves_a_failed_invocation_with_its_message(stack, key, claude_agent, emulator):
    emulator.faults.configure(fail_next=["AccessDeniedException"])

    done = stack.wait_finished(key, stack.invoke(key, claude_agent["id"], "Hi")["id"])

    assert done["status"] == "failed"
    assert "AccessDenied" in done["error"] and done["attempts"] == 1


def test_cli_invoke_agent_waits_and_prints_json(stack, claude_agent):
    import json

    output = stack.manage("invoke_agent", str(claude_agent["id"]), "Hello from the command line", "--wait")

    data = json.loads(output)
    assert data["status"] == "succeeded" and data["response"]
