"""Building an agent's history through the real invocation path (Strands, boto3, the emulator) for the advisor.

`idle` moves time on for the emulator's cache (its clock) and for the stored
history alike (every stored timestamp moves back), so that a gap between two
turns is the same gap to Bedrock's TTL and to the replay.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F

from agents_app.demo import support_system_prompt
from agents_app.models import AgentSession, Invocation
from agents_app.services import invocations as invocation_services
from caching.periods import Period, utc_today

LONG_PROMPT = support_system_prompt()
TOOLS = [{"name": "calculator"}, {"name": "word_count"}]
PARALLEL_PROMPT = "In parallel: " + ", ".join(f"word_count on item {n}" for n in range(12))


def invoke(agent, prompt: str, session_id: str | None = None) -> Invocation:
    invocation = invocation_services.invocation_create(agent=agent, prompt=prompt, session_id=session_id)
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    assert invocation.status == "succeeded", invocation.error
    return invocation


def session(agent, prompts: list[str], *, gap: float = 0, emulator=None) -> list[Invocation]:
    """One conversation, `gap` seconds of idling between its turns."""
    done, session_id = [], None
    for index, prompt in enumerate(prompts):
        if index and gap:
            idle(emulator, gap)
        done.append(invoke(agent, prompt, session_id))
        session_id = done[-1].session.session_id
    return done


def idle(emulator, seconds: float) -> None:
    """`seconds` pass: the emulator's clock moves on and every stored time moves back as much."""
    emulator.clock.advance(seconds)
    back = timedelta(seconds=seconds)
    Invocation.objects.update(
        **{name: F(name) - back for name in ("queued_at", "enqueued_at", "started_at", "finished_at")}
    )
    AgentSession.objects.update(last_invoked_at=F("last_invoked_at") - back)


def last_days(days: int = 30) -> Period:
    today = utc_today()
    return Period(today - timedelta(days=days - 1), today, f"{days}d")
