"""The oracle placement: per request, checkpoints chosen knowing the traffic that actually followed.

No configuration knows the future; the oracle does, so its cost is the floor
to compare a configuration with. For each call, in time order, it places at
most three checkpoints, in the fields the catalog allows, with their TTLs
non-increasing along the prefix as Bedrock requires:

- **shared** at the end of the system prompt (or of the tools): kept warm while
  it is live, and written when the next call of another conversation on the
  same head comes within a TTL (or when the call writes anyway);
- **read** at the conversation's own live entry, named explicitly so Bedrock's
  20-block look-back never loses it;
- **write** at the end of the request, only when the conversation's next call
  comes within a TTL: 5 minutes when it comes within 5 minutes, 1 hour when it
  comes within the hour and one read of the prefix repays the dearer write.

The placements then go through the same engine as every set-up, so the
oracle's tokens obey Bedrock's rules (minimums, TTLs, what a read touches).
The choice is greedy, not an exhaustive search: the caller reports the lower of
the oracle and every set-up it replayed, which is a placement too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bedrock import facts
from bedrock.prefix import Checkpoint
from bedrock.replay import FIVE_MINUTES, ONE_HOUR, Replay, Setup, SetupResult, checkpoint, message_checkpoint

ORACLE = Setup("oracle", "oracle")
FOREVER = float("inf")


@dataclass(frozen=True)
class Rates:
    """Relative prices per token (any unit): input, cache read, 5-minute and 1-hour cache write."""

    input: float = 1.0
    read: float = 0.1
    write: float = 1.25
    write_1h: float = 2.0


@dataclass
class _Entry:
    position: int
    expires: float
    ttl: str


def _next_times(replay: Replay) -> tuple[dict[int, object], dict[int, float], dict[int, bool]]:
    """For each call (by id): its conversation's next call on the same timeline (or None), when the next call
    of another conversation on the same head comes, and whether the shared prefix, kept warm by every call on
    the head from this one on, meets a gap that only a 1-hour entry survives before one that none does."""
    following: dict[int, object] = {}
    other: dict[int, float] = {}
    hour: dict[int, bool] = {}
    after_line: dict[int, object] = {}
    # per head identity: (time, timeline) of the nearest later call, the nearest later one of another timeline,
    # and that nearest call's own 1-hour need
    after_head: dict[str, tuple[float, int, float, bool]] = {}
    five, one = facts.TTL_SECONDS[FIVE_MINUTES], facts.TTL_SECONDS[ONE_HOUR]
    for call in reversed(replay.calls):
        line = id(call.timeline)
        following[id(call)] = after_line.get(line)
        after_line[line] = call
        identity = replay.turns[call.turn].head.identity
        nearest, nearest_line, beyond, nearest_hour = after_head.get(identity, (FOREVER, -1, FOREVER, False))
        other[id(call)] = nearest if nearest_line != line else beyond
        gap = nearest - call.time
        hour[id(call)] = five < gap <= one or (gap <= five and nearest_hour)
        after_head[identity] = (call.time, line, beyond if nearest_line == line else nearest, hour[id(call)])
    return following, other, hour


def _cacheable(model: facts.ModelFacts, tokens: int) -> bool:
    """Whether a checkpoint with `tokens` before it takes effect (the model's minimum, Nova's maximum)."""
    return tokens >= model.cache_min_tokens and (model.max_cached_tokens is None or tokens <= model.max_cached_tokens)


def _ttl_for(gap: float, one_hour: bool) -> str | None:
    if gap <= facts.TTL_SECONDS[FIVE_MINUTES]:
        return FIVE_MINUTES
    if one_hour and gap <= facts.TTL_SECONDS[ONE_HOUR]:
        return ONE_HOUR
    return None


def _longest(*ttls: str | None) -> str:
    return ONE_HOUR if ONE_HOUR in ttls else FIVE_MINUTES


def _write_ttl(call, following: dict, model: facts.ModelFacts, rate: Rates, new: int, kept: int) -> str | None:
    """The TTL to write the end of this request with, or None. Only the conversation's next call reads it.

    `new`: the tokens this request would write (past what it reads); `kept`: the tokens of the request that
    stay cached until the next call anyway (a 1-hour entry, the shared prefix). Within 5 minutes a 5-minute
    write always pays (1.25 + 0.1 against at least 1 + 1). Past 5 minutes, a 1-hour write costs the new
    tokens 1 input more now, and saves the next call everything past `kept`: a read instead of a write (when
    that call writes: its own next call follows within a TTL) or of input.
    """
    after = following.get(id(call))
    if after is None:
        return None
    ttl = _ttl_for(after.time - call.time, model.supports_1h_ttl)
    if ttl != ONE_HOUR:
        return ttl
    beyond = following.get(id(after))
    then = _ttl_for(beyond.time - after.time, model.supports_1h_ttl) if beyond is not None else None
    later = {FIVE_MINUTES: rate.write, ONE_HOUR: rate.write_1h}.get(then, rate.input)
    saved = (call.timeline.prefix.tokens[call.end] - kept) * (later - rate.read)
    return ONE_HOUR if new * (rate.write_1h - rate.input) < saved else None


def oracle_placements(replay: Replay, rates: Mapping[Any, Rates] | None = None) -> dict[int, list[Checkpoint]]:
    """The oracle's checkpoints for every call of the replay, by `id(call)`."""
    rates = rates or {}
    default = Rates()
    following, next_other, shared_hour = _next_times(replay)
    own: dict[int, _Entry] = {}  # per timeline: the conversation's latest entry, as predicted
    shared: dict[str, _Entry] = {}  # per head identity: the shared prefix's entry, as predicted
    placements: dict[int, list[Checkpoint]] = {}
    for call in replay.calls:
        turn = replay.turns[call.turn]
        head, line, model, now = turn.head, call.timeline, call.timeline.model, call.time
        fields = head.oracle_fields
        if not fields or model is None or not model.supports_caching or head.max_checkpoints < 1:
            placements[id(call)] = []
            continue
        rate = rates.get(turn.key, default)
        tokens = line.prefix.tokens

        def cacheable(position: int, model=model, tokens=tokens) -> bool:
            return _cacheable(model, tokens[position])

        if facts.SYSTEM in fields and line.n_system:
            shared_at, shared_field, shared_index = line.n_tools + line.n_system, facts.SYSTEM, line.n_system
        elif facts.TOOLS in fields and line.n_tools:
            shared_at, shared_field, shared_index = line.n_tools, facts.TOOLS, line.n_tools
        else:
            shared_at = 0
        if shared_at and not cacheable(shared_at):
            shared_at = 0
        entry = own.get(id(line))
        own_live = entry if entry and entry.expires > now and shared_at < entry.position < call.end else None
        shared_entry = shared.get(head.identity)
        shared_live = bool(shared_at and shared_entry and shared_entry.expires > now)
        read_at = own_live.position if own_live else (shared_at if shared_live else 0)

        write_ttl = None
        if facts.MESSAGES in fields and cacheable(call.end):
            kept_at = own_live.position if own_live and own_live.ttl == ONE_HOUR else shared_at
            new, kept = tokens[call.end] - tokens[read_at], tokens[kept_at]
            write_ttl = _write_ttl(call, following, model, rate, new, kept)
        shared_need = _ttl_for(next_other[id(call)] - now, model.supports_1h_ttl) if shared_at else None
        if shared_need and model.supports_1h_ttl and shared_hour[id(call)]:
            shared_need = ONE_HOUR
        place_shared = shared_at and (shared_live or write_ttl or (shared_need and read_at < shared_at))

        # Kept first when the catalog allows fewer: the write, then the shared prefix, then the explicit read.
        ranked: list[Checkpoint] = []
        if write_ttl:
            ranked.append(message_checkpoint(line, call.end, write_ttl))
        if place_shared:
            ranked.append(checkpoint(line, shared_field, shared_at, _longest(shared_need, write_ttl), shared_index))
        if own_live and facts.MESSAGES in fields:
            ranked.append(message_checkpoint(line, own_live.position, write_ttl or FIVE_MINUTES))
        points = sorted(ranked[: head.max_checkpoints], key=lambda point: point.position)
        placements[id(call)] = points

        # What the engine will do, as far as the next decisions need it.
        if write_ttl:
            own[id(line)] = _Entry(call.end, now + facts.TTL_SECONDS[write_ttl], write_ttl)
        elif own_live:
            own_live.expires = now + facts.TTL_SECONDS[own_live.ttl]
        if place_shared and points and points[0].field == shared_field:
            if shared_live:
                shared_entry.expires = now + facts.TTL_SECONDS[shared_entry.ttl]
            elif read_at < shared_at:
                shared[head.identity] = _Entry(shared_at, now + facts.TTL_SECONDS[points[0].ttl], points[0].ttl)
    return placements


def replay_oracle(replay: Replay, rates: Mapping[Any, Rates] | None = None) -> SetupResult:
    """The oracle's tokens for every turn of the replay."""
    return replay.run_placements(ORACLE, oracle_placements(replay, rates))
