"""Why a finished invocation wrote the cache instead of reading it, from what the agents app stores.

The reason itself is `bedrock.misses.classify_turn`, the same function that
labels every turn of a what-if replay. Here it is fed, when an invocation
finishes, with the turn's own model calls (read and write each), when it ran,
the prefix it ran on (its config's identity: model, tools, system prompt), and
the two earlier turns that matter: its session's previous succeeded turn (what
the conversation had cached) and the agent's latest turn started before it (the
last use of the shared prefix). An earlier turn's prefix comes from the config
of the deployment version it ran on.
"""

from __future__ import annotations

from typing import Any

from agents_app import selectors
from agents_app.models import Deployment, Invocation
from agents_app.runtime.config import AgentConfig, ConfigError
from agents_app.runtime.requests import config_identity
from bedrock.facts import DEFAULT_TTL_SECONDS, SYSTEM, TOOLS
from bedrock.misses import (
    BELOW_MINIMUM,
    FIRST_USE,
    GROWTH,
    HIT,
    LOOKBACK_EXCEEDED,
    PREFIX_CHANGED,
    TTL_EXPIRED,
    MissReason,
    TurnUse,
    classify_turn,
)

EARLIER_FIELDS = ("started_at", "finished_at", "model_calls", "cache_read_tokens", "cache_write_tokens")


def _calls(model_calls: list[dict] | None, read: int, write: int) -> tuple[tuple[int, int], ...]:
    try:
        return tuple((call["cache_read_tokens"], call["cache_write_tokens"]) for call in model_calls or []) or (
            (read, write),
        )
    except (KeyError, TypeError):
        return ((read, write),)


def _identity(config: dict | None) -> str:
    try:
        return config_identity(AgentConfig.from_json(config)) if config else ""
    except ConfigError:
        return ""


def _earlier(invocation: Invocation, row: dict | None, configs: dict[Any, str]) -> TurnUse | None:
    if row is None:
        return None
    version = row["deployment_version"]
    if version not in configs:
        stored = Deployment.objects.filter(agent_id=invocation.agent_id, version=version).values("config").first()
        config = stored["config"] if stored else selectors.agent_config(invocation.agent)
        configs[version] = _identity(config)
    started = row["started_at"] or row["finished_at"]
    return TurnUse(
        started=started.timestamp(),
        finished=(row["finished_at"] or started).timestamp(),
        calls=_calls(row["model_calls"], row["cache_read_tokens"], row["cache_write_tokens"]),
        prefix=configs[version],
        version=version,
        shared=True,
        ttl_seconds=DEFAULT_TTL_SECONDS,
    )


def invocation_miss_reason(*, invocation: Invocation, config: dict, result, finished_at) -> MissReason | None:
    """The reason for a turn that just ran with checkpoints (None when it sent none)."""
    if not result.caching_enabled:
        return None
    started = invocation.started_at or finished_at
    plan = getattr(result, "plan", None) or {}
    turn = TurnUse(
        started=started.timestamp(),
        finished=finished_at.timestamp(),
        calls=_calls(result.model_calls, result.cache_read_tokens, result.cache_write_tokens),
        prefix=_identity(config),
        version=config.get("version"),
        shared=bool(plan.get(SYSTEM) or plan.get(TOOLS)) if plan else True,
        ttl_seconds=DEFAULT_TTL_SECONDS,  # the runtime asks for no TTL: Bedrock's default
    )
    earlier = Invocation.objects.filter(
        agent_id=invocation.agent_id, status=Invocation.Status.SUCCEEDED, caching_enabled=True
    ).exclude(pk=invocation.pk)
    fields = (*EARLIER_FIELDS, "deployment_version")
    previous = (
        earlier.filter(session_id=invocation.session_id, pk__lt=invocation.pk).order_by("-pk").values(*fields).first()
    )
    last = earlier.filter(started_at__lt=started).order_by("-started_at").values(*fields).first()
    configs: dict[Any, str] = {config.get("version"): turn.prefix}
    return classify_turn(
        turn, previous=_earlier(invocation, previous, configs), agent_previous=_earlier(invocation, last, configs)
    )


def miss_reason_text(reason: str, detail: dict) -> str:
    """The stored reason as a sentence for the invocation page."""
    call = f" (model call {detail.get('call', 0) + 1})" if detail.get("call") else ""
    gap = detail.get("gap_seconds")
    texts = {
        HIT: "Read everything cached before; wrote nothing.",
        GROWTH: "Read everything cached before; wrote only the turn's own new tokens.",
        FIRST_USE: "Wrote instead of reading: nothing with this prefix was cached before.",
        TTL_EXPIRED: f"Wrote instead of reading: the prefix was last used {_duration(gap)} earlier, past its TTL.",
        PREFIX_CHANGED: (
            f"Wrote instead of reading: deployment v{detail.get('version')} changed the system prompt, tools or "
            f"model since v{detail.get('previous_version')} last used the prefix."
        ),
        BELOW_MINIMUM: "Cached nothing: no checkpoint reached the model's minimum tokens.",
        LOOKBACK_EXCEEDED: (
            "Wrote instead of reading: the cached prefix was still live, but the checkpoint sat more content blocks "
            "past it than Bedrock looks back."
        ),
    }
    return texts.get(reason, reason) + call


def _duration(seconds) -> str:
    if seconds is None:
        return "a while"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
