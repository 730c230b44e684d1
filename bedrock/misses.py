"""Why a turn wrote the prompt cache instead of reading it: Bedrock does not say, so it is inferred here.

Bedrock's usage carries how many tokens a call read from and wrote to the
cache, never why. The reason follows from the turn's own usage and from what
came before it, by Bedrock's rules (``bedrock.cache``):

- a call of a turn should read at least what the call before it (the previous
  call of the tool loop, or the last call of the conversation's previous turn)
  left cached: that call's read plus its write;
- a conversation's first call can only read the agent's shared prefix (system
  prompt and tools), and only when a checkpoint sits on it.

Reasons, one per turn (the first call that is not a hit decides):

``hit``                everything cached before was read, nothing written;
``growth``             everything cached before was read, and the write is the
                       turn's own new tokens (the expected write of a growing
                       conversation, never a miss);
``first_use``          nothing with this prefix was cached before;
``ttl_expired``        the prefix was cached, but longer ago than its TTL
                       (``gap_seconds`` says how long);
``prefix_changed``     a deployment changed the system prompt, tools or model
                       since the prefix was last used (``version`` names the new
                       one, ``previous_version`` the old);
``below_minimum``      a call read and wrote nothing: no checkpoint reached the
                       model's minimum tokens;
``lookback_exceeded``  the earlier prefix was still live, but the checkpoint sat
                       too many content blocks past it for Bedrock's look-back.

A turn that read the shared system prompt but had to write its own history
again is a miss of its history (``ttl_expired`` or ``lookback_exceeded``), although
Bedrock reports a read: ``hit`` and ``growth`` mean nothing cached was lost.

The same function labels a stored invocation when it finishes (fed by the
agents app) and every turn of a what-if replay (``bedrock.replay``), so the two
agree whenever the replay reproduces the billed tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bedrock.facts import DEFAULT_TTL_SECONDS

HIT = "hit"
GROWTH = "growth"
FIRST_USE = "first_use"
TTL_EXPIRED = "ttl_expired"
PREFIX_CHANGED = "prefix_changed"
BELOW_MINIMUM = "below_minimum"
LOOKBACK_EXCEEDED = "lookback_exceeded"

REASONS = (HIT, GROWTH, FIRST_USE, TTL_EXPIRED, PREFIX_CHANGED, BELOW_MINIMUM, LOOKBACK_EXCEEDED)
MISSES = (FIRST_USE, TTL_EXPIRED, PREFIX_CHANGED, BELOW_MINIMUM, LOOKBACK_EXCEEDED)
LABELS = {
    HIT: "Hit",
    GROWTH: "Hit, wrote the new turn",
    FIRST_USE: "First use of the prefix",
    TTL_EXPIRED: "Expired (idle past the TTL)",
    PREFIX_CHANGED: "Prefix changed by a deployment",
    BELOW_MINIMUM: "Below the model's minimum",
    LOOKBACK_EXCEEDED: "Past Bedrock's look-back",
}


@dataclass(slots=True)
class TurnUse:
    """One turn as the classifier sees it: when it ran, on which prefix, and each model call's read and write.

    `prefix` identifies what every request of the turn starts with (model, tool
    definitions, system prompt); `shared` is whether a checkpoint sat on that
    shared part (the system prompt or the tools); `ttl_seconds` is the TTL the
    turn's checkpoints asked for.
    """

    started: float
    finished: float
    calls: tuple[tuple[int, int], ...]
    prefix: str = ""
    version: int | None = None
    shared: bool = False
    ttl_seconds: int = DEFAULT_TTL_SECONDS

    @property
    def last_call_at(self) -> float:
        """When the turn's last model call reached Bedrock (calls spread evenly over the turn): the time its
        cache entries were last written or read."""
        return call_time(self.started, self.finished, len(self.calls) - 1, len(self.calls))

    @property
    def cached(self) -> int:
        """Tokens the turn's last call left cached: what it read plus what it wrote."""
        if not self.calls:
            return 0
        read, write = self.calls[-1]
        return read + write


@dataclass(frozen=True)
class MissReason:
    reason: str
    call: int = 0  # the model call of the turn it concerns, from 0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def is_miss(self) -> bool:
        return self.reason in MISSES

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "call": self.call, **self.detail}


def classify_turn(turn: TurnUse, *, previous: TurnUse | None, agent_previous: TurnUse | None) -> MissReason:
    """The reason for one turn of a conversation that ran with checkpoints.

    `previous`: the conversation's previous turn (None for its first);
    `agent_previous`: the agent's latest turn started before this one, in any
    conversation (the last user of the shared prefix).
    """
    wrote = False
    for index, (read, write) in enumerate(turn.calls):
        if index == 0:
            before = previous
            expected = previous.cached if previous is not None else 0
            gap = turn.started - previous.last_call_at if previous is not None else 0.0
        else:
            before, expected, gap = turn, sum(turn.calls[index - 1]), 0.0
        if read == 0 and write == 0:
            return MissReason(BELOW_MINIMUM, index)
        if expected and read < expected:
            if before.prefix != turn.prefix:
                return _prefix_changed(turn, before, index)
            if gap >= before.ttl_seconds:
                return MissReason(TTL_EXPIRED, index, {"gap_seconds": round(gap, 3)})
            return MissReason(LOOKBACK_EXCEEDED, index)
        if read == 0:
            return _shared_miss(turn, agent_previous, index)
        wrote = wrote or write > 0
    return MissReason(GROWTH if wrote else HIT)


def _prefix_changed(turn: TurnUse, before: TurnUse, index: int) -> MissReason:
    return MissReason(PREFIX_CHANGED, index, {"version": turn.version, "previous_version": before.version})


def _shared_miss(turn: TurnUse, last: TurnUse | None, index: int) -> MissReason:
    """Nothing of the conversation was cached and nothing was read: did the agent's shared prefix go missing?"""
    if not turn.shared or last is None:
        return MissReason(FIRST_USE, index)
    if last.prefix != turn.prefix:
        return _prefix_changed(turn, last, index)
    gap = turn.started - last.last_call_at
    if last.cached and gap >= last.ttl_seconds:
        return MissReason(TTL_EXPIRED, index, {"gap_seconds": round(gap, 3)})
    return MissReason(FIRST_USE, index)


def call_time(started: float, finished: float, index: int, calls: int) -> float:
    """When call `index` of a turn's `calls` model calls began, the calls spread evenly from its start to its end.

    Stored invocations keep the turn's start and end only; the replay and the
    classifier both place the calls this way, so they measure gaps alike.
    """
    if index <= 0 or calls <= 1:
        return started
    return started + max(finished - started, 0.0) * index / calls


def count_reasons(reasons) -> dict[str, int]:
    """How many of each reason (every reason listed, 0 when absent), from reasons or `MissReason`s."""
    counts = dict.fromkeys(REASONS, 0)
    for item in reasons:
        name = item.reason if isinstance(item, MissReason) else item
        if name in counts:
            counts[name] += 1
    return counts
