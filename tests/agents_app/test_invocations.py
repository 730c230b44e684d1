"""The invocation service end to end through the real runtime, boto3 and Strands to the emulator.

The Celery task is a thin wrapper around `invocation_run`; here the service runs in-process
(the same code a worker runs), and tests/integration runs it in real workers on Redis.
"""

import logging
import sys
import threading
import time
from decimal import Decimal

import pytest

from agents_app.demo import support_system_prompt
from agents_app.models import FamilyCachingDefault, Invocation, ModelFamily
from agents_app.services import invocations as invocation_services
from agents_app.services.errors import RetryLater
from pricing.costs import MILLION
from tests.conftest import CLAUDE, LLAMA, NOVA, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LONG_PROMPT = support_system_prompt()


@pytest.fixture
def claude_agent(tenant):
    return make_agent(tenant, CLAUDE, name="claude", system_prompt=LONG_PROMPT, prompt_caching_enabled=True)


def invoke(agent, prompt="Hello there", session_id=None) -> Invocation:
    invocation = invocation_services.invocation_create(agent=agent, prompt=prompt, session_id=session_id)
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    return invocation


def test_first_turn_writes_second_turn_reads_and_saves(bedrock_emulator_env, claude_agent):
    first = invoke(claude_agent)
    second = invoke(claude_agent, "And another question", session_id=first.session.session_id)

    assert first.status == second.status == "succeeded", (first.error, second.error)
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0 and first.cache_hit is False
    assert first.net_savings < 0 and first.write_premium > 0
    assert second.cache_read_tokens > 0 and second.cache_hit is True
    assert second.gross_savings > 0 and second.net_savings > 0
    assert second.response and second.time_to_first_token_ms is not None and second.latency_ms >= 0


def test_costs_are_stored_exactly_with_the_prices_in_force(bedrock_emulator_env, claude_agent):
    first = invoke(claude_agent)
    second = invoke(claude_agent, "Next", session_id=first.session.session_id)
    p = {k: Decimal(v) for k, v in second.prices.items() if k != "source"}

    assert p["input"] == Decimal("3.3")  # us. profile of Sonnet 4.6 in genai-prices
    i, r, w = second.input_tokens, second.cache_read_tokens, second.cache_write_tokens
    assert second.cost_without_cache == (i + r + w) * p["input"] / MILLION
    assert second.cost_with_cache == (i * p["input"] + r * p["cache_read"] + w * p["cache_write"]) / MILLION
    assert second.gross_savings == r * (p["input"] - p["cache_read"]) / MILLION
    assert second.write_premium == w * (p["cache_write"] - p["input"]) / MILLION
    assert second.net_savings == second.gross_savings - second.write_premium
    assert second.cost_without_cache - second.cost_with_cache == second.net_savings
    assert second.output_cost == second.output_tokens * p["output"] / MILLION


def test_totals_equal_the_sum_of_model_calls_not_more(bedrock_emulator_env, tenant):
    agent = make_agent(
        tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True, integrations=[{"name": "word_count"}]
    )

    invocation = invoke(agent, "Please use word_count on: the quick brown fox")

    assert invocation.status == "succeeded", invocation.error
    assert len(invocation.model_calls) >= 2
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        assert getattr(invocation, field) == sum(call[field] for call in invocation.model_calls), field
    # Within the tool loop, the second model call already reads what the first wrote.
    assert invocation.model_calls[1]["cache_read_tokens"] > 0


@pytest.mark.parametrize("model_id", [NOVA, LLAMA])
def test_caching_on_a_model_that_cannot_cache_runs_uncached_with_a_warning(bedrock_emulator_env, tenant, model_id):
    # Saved before the catalog turned caching off for the model (the services refuse it now).
    agent = make_agent(tenant, model_id, system_prompt=LONG_PROMPT, prompt_caching_enabled=True)

    invocation = invoke(agent)

    assert invocation.status == "succeeded", invocation.error
    assert "cannot cache" in " ".join(invocation.warnings)
    assert invocation.cache_read_tokens == invocation.cache_write_tokens == 0
    assert invocation.cache_hit is None and invocation.caching_enabled is False
    assert all(request["checkpoints"] == [] for request in bedrock_emulator_env.requests)


@pytest.mark.parametrize("model_id", [NOVA, LLAMA])
def test_a_family_default_on_does_not_ask_a_model_that_cannot_cache(bedrock_emulator_env, tenant, model_id):
    agent = make_agent(tenant, model_id, system_prompt=LONG_PROMPT)
    family = ModelFamily.objects.get(models__model_id=model_id)
    FamilyCachingDefault.objects.create(tenant=tenant, family=family, prompt_caching_enabled=True)

    invocation = invoke(agent)

    assert invocation.status == "succeeded", invocation.error
    assert invocation.warnings == []
    assert invocation.cache_read_tokens == invocation.cache_write_tokens == 0
    assert invocation.cache_hit is None and invocation.caching_enabled is False
    assert all(request["checkpoints"] == [] for request in bedrock_emulator_env.requests)


def test_ten_turn_session_keeps_working_and_reads_grow(bedrock_emulator_env, claude_agent):
    session_id, reads = None, []
    for turn in range(10):
        invocation = invoke(claude_agent, f"Question number {turn}: tell me about policy {turn}", session_id)
        assert invocation.status == "succeeded", invocation.error
        session_id = invocation.session.session_id
        reads.append(invocation.cache_read_tokens)

    assert all(later > earlier for earlier, later in zip(reads[1:], reads[2:], strict=False)), reads
    stored = invocation.session.__class__.objects.get(pk=invocation.session_id).messages
    assert len(stored) == 20
    assert "cachePoint" not in str(stored)
    assert max(len(r["checkpoints"]) for r in bedrock_emulator_env.requests) <= 4


def test_combined_saves_more_than_explicit_and_automatic_over_four_turns(bedrock_emulator_env, tenant):
    """The same 4-turn conversation per strategy, on an agent that has served a session before.

    In Strands 1.62 the automatic checkpoint sits on the newest user message, so on a cold
    cache combined and automatic cost the same; combined pulls ahead as soon as the agent's
    system prompt is cached by an earlier session, which is how agents run in production.
    """
    savings = {}
    for strategy in ("explicit", "automatic", "combined"):
        agent = make_agent(
            tenant,
            CLAUDE,
            name=strategy,
            system_prompt=LONG_PROMPT + f"\nStrategy {strategy}.",
            prompt_caching_enabled=True,
            cache_strategy=strategy,
        )
        invoke(agent, "An earlier customer asking about shipping")
        session_id, total = None, Decimal(0)
        for turn in range(4):
            invocation = invoke(agent, f"Turn {turn}: explain the refund policy in detail, part {turn}", session_id)
            session_id = invocation.session.session_id
            total += invocation.net_savings
        savings[strategy] = total

    assert savings["combined"] > savings["explicit"], savings
    assert savings["combined"] > savings["automatic"], savings


def test_throttling_is_retried_and_the_invocation_succeeds(bedrock_emulator_env, claude_agent):
    # More throttles in a row than botocore's own retries absorb (1 + 3 attempts), so the task's retry steps in.
    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException"] * 4)
    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="hi")

    with pytest.raises(RetryLater):
        invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    assert invocation.status == "queued" and "Throttl" in invocation.error

    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    # Every attempt counts: botocore's four in the first run (three of them retried by botocore itself),
    # then the service's second run.
    assert invocation.status == "succeeded" and invocation.attempts == 5 and invocation.error == ""
    assert [(r["attempt"], r["retried_by"]) for r in invocation.retries] == [
        (1, "botocore"),
        (2, "botocore"),
        (3, "botocore"),
        (4, "service"),
    ]
    assert [r["status"] for r in invocation.retries[:3]] == [429, 429, 429]
    assert all("Throttling" in r["error"] for r in invocation.retries)


def test_throttles_botocore_absorbs_count_as_attempts_and_are_logged(bedrock_emulator_env, claude_agent, caplog):
    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException", "InternalServerException"])

    invocation = invoke(claude_agent)

    assert invocation.status == "succeeded" and invocation.attempts == 3
    assert [(r["attempt"], r["error"], r["status"], r["retried_by"]) for r in invocation.retries] == [
        (1, "ThrottlingException", 429, "botocore"),
        (2, "InternalServerException", 500, "botocore"),
    ]
    logged = [r.getMessage() for r in caplog.records if "botocore retried it" in r.getMessage()]
    assert logged == [
        f"invocation {invocation.pk} attempt 1 failed (ThrottlingException, HTTP 429); botocore retried it",
        f"invocation {invocation.pk} attempt 2 failed (InternalServerException, HTTP 500); botocore retried it",
    ]


def test_a_permanent_error_fails_the_invocation_with_its_message(bedrock_emulator_env, claude_agent):
    bedrock_emulator_env.faults.configure(fail_next=["AccessDeniedException"])

    invocation = invoke(claude_agent)

    assert invocation.status == "failed"
    assert "AccessDenied" in invocation.error
    assert invocation.finished_at is not None


def test_retries_give_up_after_the_configured_attempts(bedrock_emulator_env, claude_agent, settings):
    settings.INVOCATION_MAX_ATTEMPTS = 2
    bedrock_emulator_env.faults.configure(fail_next=["ServiceUnavailableException"] * 20)
    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="hi")

    with pytest.raises(RetryLater):
        invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation_services.invocation_run(invocation_id=invocation.pk)

    invocation.refresh_from_db()
    # Two runs of the service (the setting), each with botocore's four attempts.
    assert invocation.status == "failed" and invocation.attempts == 8
    assert [r["retried_by"] for r in invocation.retries] == ["botocore"] * 3 + ["service"] + ["botocore"] * 3
    assert "ServiceUnavailable" in invocation.error


def test_a_model_call_past_the_time_limit_is_cancelled_and_the_session_released(
    bedrock_emulator_env, claude_agent, settings
):
    settings.INVOCATION_TIME_LIMIT = 1
    settings.INVOCATION_MAX_ATTEMPTS = 2
    bedrock_emulator_env.faults.configure(slow_rate=1.0, slow_seconds=4)  # the response starts after 4 s
    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="hi")

    started = time.monotonic()
    with pytest.raises(RetryLater):
        invocation_services.invocation_run(invocation_id=invocation.pk)
    elapsed = time.monotonic() - started

    invocation.refresh_from_db()
    session = invocation.session.__class__.objects.get(pk=invocation.session_id)
    assert elapsed < 2.5, elapsed  # cancelled at the limit, not after the slow response
    assert invocation.status == "queued" and "ModelCallTimeout" in invocation.error
    assert "time limit of 1 s" in invocation.error
    assert (session.lease_token, session.lease_until) == ("", None)
    assert [r["retried_by"] for r in invocation.retries] == ["service"]

    # The last attempt allowed fails for good, with the same clear error, and is not left running.
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    assert invocation.status == "failed" and "time limit of 1 s" in invocation.error
    assert invocation.finished_at is not None
    session.refresh_from_db()
    assert (session.lease_token, session.lease_until) == ("", None)

    # The thread Strands streamed from does not outlive the slow response: it closes it unread.
    bedrock_emulator_env.faults.configure(slow_rate=0)
    time.sleep(4)
    assert not [t for t in threading.enumerate() if t.name.startswith("asyncio_") and _is_reading(t)]


def _is_reading(thread) -> bool:
    frames = sys._current_frames().get(thread.ident)
    while frames is not None:
        if "botocore" in frames.f_code.co_filename or "urllib3" in frames.f_code.co_filename:
            return True
        frames = frames.f_back
    return False


def test_a_finished_invocation_is_never_run_or_counted_twice(bedrock_emulator_env, claude_agent):
    invocation = invoke(claude_agent)
    requests_before = len(bedrock_emulator_env.requests)

    invocation_services.invocation_run(invocation_id=invocation.pk)

    again = Invocation.objects.get(pk=invocation.pk)
    assert len(bedrock_emulator_env.requests) == requests_before
    assert (again.attempts, again.cache_write_tokens, again.finished_at) == (
        invocation.attempts,
        invocation.cache_write_tokens,
        invocation.finished_at,
    )


def test_turns_of_a_session_run_in_order(bedrock_emulator_env, claude_agent):
    first = invocation_services.invocation_create(agent=claude_agent, prompt="one")
    second = invocation_services.invocation_create(
        agent=claude_agent, prompt="two", session_id=first.session.session_id
    )

    with pytest.raises(RetryLater, match="earlier turn"):
        invocation_services.invocation_run(invocation_id=second.pk)
    invocation_services.invocation_run(invocation_id=first.pk)
    invocation_services.invocation_run(invocation_id=second.pk)

    second.refresh_from_db()
    assert second.status == "succeeded"
    assert [m["role"] for m in second.session.__class__.objects.get(pk=second.session_id).messages] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]


def test_a_held_session_lease_blocks_until_it_expires(bedrock_emulator_env, claude_agent):
    from datetime import timedelta

    from django.utils import timezone

    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="one")
    session = invocation.session
    session.lease_token, session.lease_until = "dead-worker", timezone.now() + timedelta(minutes=5)
    session.save()

    with pytest.raises(RetryLater, match="another worker"):
        invocation_services.invocation_run(invocation_id=invocation.pk)

    session.lease_until = timezone.now() - timedelta(seconds=1)  # the dead worker's lease ran out
    session.save()
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    assert invocation.status == "succeeded"


def test_new_session_when_none_given_and_bad_input(claude_agent):
    a = invocation_services.invocation_create(agent=claude_agent, prompt="x")
    b = invocation_services.invocation_create(agent=claude_agent, prompt="y")

    assert a.session_id != b.session_id and a.status == "queued"
    with pytest.raises(Exception, match="prompt"):
        invocation_services.invocation_create(agent=claude_agent, prompt="  ")
    with pytest.raises(Exception, match="session_id"):
        invocation_services.invocation_create(agent=claude_agent, prompt="x", session_id="bad id with spaces")


def test_the_sweeper_sends_lost_invocations_again(bedrock_emulator_env, claude_agent, eager, settings):
    from datetime import timedelta

    from django.utils import timezone

    lost = invocation_services.invocation_create(agent=claude_agent, prompt="my task message was lost")
    fresh = invocation_services.invocation_create(agent=claude_agent, prompt="just queued")
    long_ago = timezone.now() - timedelta(seconds=settings.INVOCATION_REQUEUE_AFTER + 1)
    Invocation.objects.filter(pk=lost.pk).update(enqueued_at=long_ago)

    assert invocation_services.invocations_requeue_stale() == 1

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == "succeeded" and fresh.status == "queued"
    assert invocation_services.invocations_requeue_stale() == 0


def test_the_sweeper_takes_over_from_a_dead_worker(bedrock_emulator_env, claude_agent, eager, settings):
    from datetime import timedelta

    from django.utils import timezone

    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="the worker died")
    alive = invocation_services.invocation_create(agent=claude_agent, prompt="a live worker runs it")
    # Sent longer ago than a lease, not as long as INVOCATION_REQUEUE_AFTER: a dead worker's turn need not wait.
    sent = timezone.now() - timedelta(seconds=settings.INVOCATION_LEASE_SECONDS + 1)
    assert settings.INVOCATION_REQUEUE_AFTER > settings.INVOCATION_LEASE_SECONDS + 1
    Invocation.objects.filter(pk__in=[invocation.pk, alive.pk]).update(status="running", attempts=1, enqueued_at=sent)
    sessions = invocation.session.__class__.objects
    sessions.filter(pk=invocation.session_id).update(
        lease_token="dead", lease_until=timezone.now() - timedelta(seconds=1)
    )
    sessions.filter(pk=alive.session_id).update(lease_token="alive", lease_until=timezone.now() + timedelta(seconds=9))

    assert invocation_services.invocations_requeue_stale() == 1

    invocation.refresh_from_db()
    assert invocation.status == "succeeded" and invocation.attempts == 2
    # The attempt the dead worker lost is on the row: its model call may have been billed.
    assert invocation.lost_attempts == 1
    (lost,) = invocation.retries
    assert (lost["attempt"], lost["retried_by"], lost["lost_with_worker"]) == (1, "service", True)
    assert lost["error"].startswith("WorkerLost:") and "billed" in lost["error"]
    assert Invocation.objects.get(pk=alive.pk).status == "running"  # its worker renews the lease: left alone


def test_a_turn_lost_with_its_worker_and_then_retried_keeps_the_count(bedrock_emulator_env, claude_agent):
    """The lost attempt stays recorded through a later throttle and the success after it."""
    from datetime import timedelta

    from django.utils import timezone

    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="lost, then throttled")
    Invocation.objects.filter(pk=invocation.pk).update(status="running", attempts=1)
    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException"] * 4)

    with pytest.raises(RetryLater):
        invocation_services.invocation_run(invocation_id=invocation.pk)  # no lease held: the worker is gone
    invocation_services.invocation_run(invocation_id=invocation.pk)

    invocation.refresh_from_db()
    assert invocation.status == "succeeded" and invocation.lost_attempts == 1
    # 1 lost, 4 of botocore's in the second run, the third run's success; every attempt but the last retried.
    assert invocation.attempts == 6 and len(invocation.retries) == invocation.attempts - 1
    assert [r.get("lost_with_worker", False) for r in invocation.retries] == [True] + [False] * 4
    assert timezone.now() - timedelta(minutes=1) < timezone.datetime.fromisoformat(invocation.retries[0]["at"])


def run_first_when_taking_the_lease(monkeypatch, first_invocation_id):
    """Make another copy of the task finish `first_invocation_id` just before this one takes the lease."""
    take = invocation_services._session_lease_take
    pending = [first_invocation_id]

    def take_after_the_other_copy(session_pk):
        if pending:
            invocation_services.invocation_run(invocation_id=pending.pop())
        return take(session_pk)

    monkeypatch.setattr(invocation_services, "_session_lease_take", take_after_the_other_copy)


def test_a_copy_that_waited_for_the_lease_finds_the_turn_done(bedrock_emulator_env, claude_agent, monkeypatch):
    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="once")
    run_first_when_taking_the_lease(monkeypatch, invocation.pk)

    invocation_services.invocation_run(invocation_id=invocation.pk)

    invocation.refresh_from_db()
    assert invocation.status == "succeeded" and invocation.attempts == 1
    assert len(bedrock_emulator_env.requests) == 1


def test_a_turn_starts_from_the_conversation_the_previous_turn_stored(bedrock_emulator_env, claude_agent, monkeypatch):
    first = invocation_services.invocation_create(agent=claude_agent, prompt="first question")
    second = invocation_services.invocation_create(
        agent=claude_agent, prompt="second question", session_id=first.session.session_id
    )
    run_first_when_taking_the_lease(monkeypatch, first.pk)

    invocation_services.invocation_run(invocation_id=second.pk)

    texts = [block["text"] for m in Invocation.objects.get(pk=second.pk).session.messages for block in m["content"]]
    assert texts[0] == "first question" and texts[2] == "second question" and len(texts) == 4


def test_prompts_and_responses_stay_out_of_the_logs(bedrock_emulator_env, claude_agent, caplog):
    caplog.set_level("INFO")  # the service's default level
    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException"] * 4)
    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="my-confidential-question-42")

    with pytest.raises(RetryLater):
        invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation_services.invocation_run(invocation_id=invocation.pk)

    invocation.refresh_from_db()
    assert invocation.status == "succeeded" and caplog.records  # the retry was logged...
    assert "my-confidential-question-42" not in caplog.text  # ...without the prompt
    assert invocation.response[:40] not in caplog.text


def test_a_task_whose_invocation_was_deleted_is_a_quiet_no_op(claude_agent, caplog):
    """Deleting an agent deletes its queued turns, while their tasks are still on the queue."""
    from agents_app.tasks import invocation_run

    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="never mind")
    claude_agent.delete()
    assert not Invocation.objects.filter(pk=invocation.pk).exists()

    with caplog.at_level("DEBUG"):
        result = invocation_run.apply(args=[invocation.pk])  # the task as a worker runs it, Celery's wrapper included

    assert result.successful(), result.traceback
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert [r.getMessage() for r in caplog.records if r.name == "agents_app.services.invocations"] == [
        f"invocation {invocation.pk} no longer exists (deleted with its agent or session); nothing to do"
    ]
    assert [r.levelname for r in caplog.records if r.name == "agents_app.services.invocations"] == ["INFO"]


def test_a_turn_lost_with_its_worker_at_every_attempt_fails_instead_of_running_forever(claude_agent, settings):
    settings.INVOCATION_MAX_ATTEMPTS = 3
    invocation = invocation_services.invocation_create(agent=claude_agent, prompt="this one kills workers")
    Invocation.objects.filter(pk=invocation.pk).update(status="running", attempts=3)

    invocation_services.invocation_run(invocation_id=invocation.pk)  # no model call: nothing is sent to Bedrock

    invocation.refresh_from_db()
    assert invocation.status == "failed" and invocation.error.startswith("WorkerLost")
    assert (invocation.attempts, invocation.lost_attempts, invocation.retries) == (3, 1, [])  # not run again
    session = invocation.session.__class__.objects.get(pk=invocation.session_id)
    assert (session.lease_token, session.lease_until) == ("", None)
