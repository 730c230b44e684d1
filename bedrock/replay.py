"""What-if replay: stored conversations through Bedrock's prompt-cache rules, under any checkpoint placement.

In-process, with no HTTP and no model: every model call a conversation made is
rebuilt as the Converse request it was (the head, i.e. tool definitions and
system prompt, then the conversation up to that call) and handed to a
``PromptCacheEngine`` at its own time, so entries expire as they did. Each
``Setup`` (no caching, explicit, automatic, combined; 5-minute or 1-hour TTL)
replays the whole traffic through a fresh cache and reports, per turn and per
call, the input, cache read and cache write tokens it would have billed, with
the miss reason of each turn (``bedrock.misses``). ``bedrock.oracle`` places
checkpoints with the knowledge of the traffic that followed.

Speed: a conversation's requests are prefixes of one another, so each
conversation is hashed and counted once (``bedrock.prefix.build_prefix`` over
the head and the whole conversation); a request is a position on that
timeline, and a placement is a handful of ``Checkpoint`` objects over it.

Calibration: where a turn's billed input per call is known (input + cache read
+ cache write, as Bedrock reported it), the timeline's token counts are
stretched between request ends so that each request holds exactly what was
billed. The emulator counts with the same tokenizer, so on its history this
changes nothing; on real Bedrock it corrects the tokenizer's estimate.

Automatic checkpoints go where Strands 1.62 puts them, on the newest user
message (``USER``); ``ASSISTANT`` puts them on the last assistant message, as
older Strands releases did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bedrock import facts
from bedrock.engine import PromptCacheEngine
from bedrock.misses import MissReason, TurnUse, call_time, classify_turn
from bedrock.prefix import Checkpoint, Prefix, build_prefix
from bedrock.tokenizer import canonical_json

USER = "user"
ASSISTANT = "assistant"
ACTUAL = "actual"  # the strategy each turn actually ran with (Head.actual)
FIVE_MINUTES = "5m"
ONE_HOUR = "1h"


def prefix_identity(model_id: str, system: Iterable[dict], tools: Iterable[dict]) -> str:
    """A short hash of what every request of a turn starts with: same identity, same cacheable head."""
    head = [facts.base_model_id(model_id), list(tools), list(system)]
    return hashlib.sha256(canonical_json(head).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Head:
    """The part of every request of a turn that precedes the conversation, and the checkpoints it may carry.

    `system` and `tools` are the request's ``system`` blocks and
    ``toolConfig.tools`` entries without checkpoints. `plans` maps a strategy
    name to the checkpoint fields the platform sends for it (the runtime's
    checkpoint plan, so the catalog's policy holds); `actual` is the strategy
    the turn ran with (None: caching off); `oracle_fields` are the fields the
    oracle may use (the catalog's); `identity` defaults to `prefix_identity`.
    """

    model_id: str
    system: tuple[dict, ...] = ()
    tools: tuple[dict, ...] = ()
    plans: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    actual: str | None = None
    oracle_fields: tuple[str, ...] = ()
    max_checkpoints: int = facts.MAX_CHECKPOINTS
    version: int | None = None
    identity: str = ""

    def __post_init__(self) -> None:
        if not self.identity:
            object.__setattr__(self, "identity", prefix_identity(self.model_id, self.system, self.tools))


@dataclass(frozen=True)
class Turn:
    """One stored turn (an invocation): its head, its times and where each of its model calls stood.

    `calls[k]` is how many messages of the conversation call k sent (the
    conversation up to the k-th assistant reply of the turn); `billed[k]` is
    the input Bedrock billed for it, when known.
    """

    key: Any
    head: Head
    started: float
    finished: float
    calls: tuple[int, ...]
    billed: tuple[int, ...] | None = None


@dataclass
class Conversation:
    key: Any
    messages: list[dict]  # the whole conversation as sent (formatted, no checkpoints)
    turns: list[Turn]


@dataclass(frozen=True)
class Setup:
    """A caching set-up: a strategy (a key of `Head.plans`, ACTUAL, or None for no caching) and a TTL."""

    name: str
    strategy: str | None
    ttl: str = FIVE_MINUTES
    automatic_on: str = USER


@dataclass(slots=True)
class TurnResult:
    key: Any
    # (input, cache read, cache write, of which 1-hour write) per model call
    calls: list[tuple[int, int, int, int]]
    reason: MissReason | None = None
    # Whether the turn sent any checkpoint, and one on the shared prefix (system or tools).
    sent: bool = False
    shared: bool = False

    def totals(self) -> tuple[int, int, int, int]:
        inp = read = write = write_1h = 0
        for a, b, c, d in self.calls:
            inp, read, write, write_1h = inp + a, read + b, write + c, write_1h + d
        return inp, read, write, write_1h


@dataclass
class SetupResult:
    setup: Setup
    turns: list[TurnResult]
    available: bool = True
    why_unavailable: str = ""


@dataclass
class _Timeline:
    model: facts.ModelFacts | None
    prefix: Prefix
    n_tools: int
    n_system: int
    ends: list[int]  # ends[m]: block position after the first m messages
    last_assistant: list[int]  # position after the last assistant message among the first m (0: none)
    blocks: list[int]  # content blocks of each message
    message_ending: dict[int, int]  # block position -> the message that ends there
    # Checkpoints made so far, by (field, position, ttl): set-ups share them.
    made: dict[tuple[str, int, str], Checkpoint] = field(default_factory=dict)


@dataclass
class _Call:
    time: float
    turn: int
    index: int
    timeline: _Timeline
    messages: int

    @property
    def end(self) -> int:
        return self.timeline.ends[self.messages]


def _count_blocks(blocks) -> int:
    return sum(1 for block in blocks or [] if "cachePoint" not in block)


def _timeline(head: Head, messages: list[dict], length: int) -> _Timeline:
    model = facts.resolve_model(head.model_id)
    kept = messages[:length]
    request: dict = {"system": list(head.system), "messages": kept}
    if head.tools:
        request["toolConfig"] = {"tools": list(head.tools)}
    claude = bool(model and model.counts_like_claude)
    prefix = build_prefix(request, model.model_id if model else head.model_id, claude=claude)
    n_tools, n_system = _count_blocks(head.tools), _count_blocks(head.system)
    ends, last_assistant, blocks, ending = [n_tools + n_system], [0], [], {}
    for index, message in enumerate(kept):
        blocks.append(_count_blocks(message.get("content")))
        ends.append(ends[-1] + blocks[-1])
        ending[ends[-1]] = index
        last_assistant.append(ends[-1] if message.get("role") == "assistant" else last_assistant[-1])
    return _Timeline(model, prefix, n_tools, n_system, ends, last_assistant, blocks, ending)


def calibrate(tokens: list[int], anchors: Iterable[tuple[int, int]]) -> list[int]:
    """`tokens` (cumulative, per block position) stretched so that tokens[position] == billed at each anchor.

    Between anchors the blocks keep their proportions; anchors that would make
    the count go down are dropped (a trimmed or otherwise odd history).
    """
    kept: list[tuple[int, int]] = []
    for position, billed in sorted(set(anchors)):
        if kept and (position == kept[-1][0] or billed < kept[-1][1]):
            continue
        kept.append((position, billed))
    if not kept:
        return tokens
    out = list(tokens)
    start, start_billed = 0, 0
    for position, billed in kept:
        estimated = tokens[position] - tokens[start]
        for p in range(start + 1, position + 1):
            if estimated:
                out[p] = start_billed + round((tokens[p] - tokens[start]) * (billed - start_billed) / estimated)
            else:
                out[p] = billed if p == position else start_billed
        start, start_billed = position, billed
    shift = start_billed - tokens[start]
    for p in range(start + 1, len(tokens)):
        out[p] = tokens[p] + shift
    return out


class Replay:
    """The prepared traffic of one agent (conversations, their timelines, the calls in time order)."""

    def __init__(self, conversations: Iterable[Conversation], *, calibrated: bool = True) -> None:
        self.turns: list[Turn] = []
        self.previous: list[int | None] = []  # the conversation's previous turn, by turn index
        self.calls: list[_Call] = []
        for conversation in conversations:
            self._prepare(conversation, calibrated)
        self.calls.sort(key=lambda call: call.time)
        # Turns in start order, each with the agent's previous one (the last user of the shared prefix).
        self.turn_order = sorted(range(len(self.turns)), key=lambda i: self.turns[i].started)

    def _prepare(self, conversation: Conversation, calibrated: bool) -> None:
        by_head: dict[str, list[int]] = {}
        first = len(self.turns)
        for offset, turn in enumerate(conversation.turns):
            by_head.setdefault(turn.head.identity, []).append(first + offset)
            self.previous.append(first + offset - 1 if offset else None)
            self.turns.append(turn)
        for indexes in by_head.values():
            turns = [self.turns[i] for i in indexes]
            length = max((max(t.calls) for t in turns if t.calls), default=0)
            timeline = _timeline(turns[0].head, conversation.messages, length)
            if calibrated:
                anchors = [
                    (timeline.ends[m], billed)
                    for t in turns
                    if t.billed and len(t.billed) == len(t.calls)
                    for m, billed in zip(t.calls, t.billed, strict=True)
                ]
                timeline.prefix.tokens = calibrate(timeline.prefix.tokens, anchors)
            for i, turn in zip(indexes, turns, strict=True):
                for k, messages in enumerate(turn.calls):
                    time = call_time(turn.started, turn.finished, k, len(turn.calls))
                    self.calls.append(_Call(time, i, k, timeline, messages))

    @property
    def invocations(self) -> int:
        return len(self.turns)

    def billed_tokens(self) -> int:
        return sum(call.timeline.prefix.tokens[call.end] for call in self.calls)

    # --- Running a set-up ----------------------------------------------------------------------

    def fields(self, head: Head, setup: Setup) -> tuple[str, ...]:
        if setup.strategy is None:
            return ()
        strategy = head.actual if setup.strategy == ACTUAL else setup.strategy
        return tuple(head.plans.get(strategy, ())) if strategy else ()

    def unavailable(self, setup: Setup) -> str:
        """Why the set-up cannot run on this traffic ('' when it can): a 1-hour TTL on a model without one."""
        if setup.ttl != ONE_HOUR:
            return ""
        for turn in self.turns:
            model = facts.resolve_model(turn.head.model_id)
            if self.fields(turn.head, setup) and model and model.supports_caching and not model.supports_1h_ttl:
                return f"{model.display_name} takes no 1-hour cache TTL"
        return ""

    def run(self, setup: Setup) -> SetupResult:
        why = self.unavailable(setup)
        if why:
            return SetupResult(setup, [], available=False, why_unavailable=why)
        placements = {}
        for call in self.calls:
            head = self.turns[call.turn].head
            placements[id(call)] = self.placement(call, self.fields(head, setup), setup)
        return self.run_placements(setup, placements)

    def placement(self, call: _Call, fields: tuple[str, ...], setup: Setup) -> list[Checkpoint]:
        """The checkpoints a strategy's fields give one call, in prefix order (tools, system, messages)."""
        line = call.timeline
        if not fields or line.model is None or not line.model.supports_caching:
            return []
        points = []
        if facts.TOOLS in fields and line.n_tools:
            points.append(checkpoint(line, facts.TOOLS, line.n_tools, setup.ttl, line.n_tools))
        if facts.SYSTEM in fields and line.n_system:
            points.append(checkpoint(line, facts.SYSTEM, line.n_tools + line.n_system, setup.ttl, line.n_system))
        if facts.MESSAGES in fields:
            at = call.end if setup.automatic_on == USER else line.last_assistant[call.messages]
            if at > line.ends[0]:
                points.append(message_checkpoint(line, at, setup.ttl))
        return points

    def run_placements(
        self, setup: Setup, placements: Mapping[int, list[Checkpoint]], on_call: Callable | None = None
    ) -> SetupResult:
        """Replay every call with the checkpoints `placements` gives it (by `id(call)`), in time order."""
        engine = PromptCacheEngine()
        results = [TurnResult(turn.key, [None] * len(turn.calls)) for turn in self.turns]
        for call in self.calls:
            points = placements.get(id(call)) or []
            line = call.timeline
            tokens = line.prefix.tokens[call.end]
            if points:
                # The timeline is the request's prefix, longer than the request: only positions up to its last
                # checkpoint are read, so the checkpoints alone make it this request's.
                line.prefix.checkpoints = points
                usage = engine.apply_prefix(line.model, line.prefix, now=call.time)
                read, write, write_1h = usage.read, usage.write, usage.write_by_ttl.get(ONE_HOUR, 0)
            else:
                read = write = write_1h = 0
            result = results[call.turn]
            result.calls[call.index] = (tokens - read - write, read, write, write_1h)
            if points:
                result.sent = True
                result.shared = result.shared or points[0].field != facts.MESSAGES
            if on_call is not None:
                on_call(call, points, read, write)
        self._classify(setup, results)
        return SetupResult(setup, results)

    def _classify(self, setup: Setup, results: list[TurnResult]) -> None:
        ttl_seconds = facts.TTL_SECONDS.get(setup.ttl, facts.DEFAULT_TTL_SECONDS)
        uses: list[TurnUse | None] = [None] * len(self.turns)
        for i, turn in enumerate(self.turns):
            result = results[i]
            if result.sent:
                uses[i] = TurnUse(
                    started=turn.started,
                    finished=turn.finished,
                    calls=tuple([(call[1], call[2]) for call in result.calls]),
                    prefix=turn.head.identity,
                    version=turn.head.version,
                    shared=result.shared,
                    ttl_seconds=ttl_seconds,
                )
        last = None
        for i in self.turn_order:
            use = uses[i]
            if use is not None:
                previous = self.previous[i]
                previous_use = uses[previous] if previous is not None else None
                results[i].reason = classify_turn(use, previous=previous_use, agent_previous=last)
                last = use


def checkpoint(line: _Timeline, field_name: str, position: int, ttl: str, index: int, where: str = "") -> Checkpoint:
    key = (field_name, position, ttl)
    made = line.made.get(key)
    if made is None:
        made = line.made[key] = Checkpoint(
            field_name, position, line.prefix.tokens[position], ttl, where or field_name, index
        )
    return made


def message_checkpoint(line: _Timeline, position: int, ttl: str) -> Checkpoint:
    """A checkpoint at the end of the message that ends at block `position`."""
    made = line.made.get((facts.MESSAGES, position, ttl))
    if made is not None:
        return made
    message = line.message_ending[position]
    where = f"messages.{message}.content.{line.blocks[message]}"
    return checkpoint(line, facts.MESSAGES, position, ttl, line.blocks[message], where)


# The set-ups the advice compares: no caching and each strategy with each TTL.
STRATEGIES = ("explicit", "automatic", "combined")
SETUPS = (
    Setup("none", None),
    *(Setup(f"{strategy}-{ttl}", strategy, ttl) for strategy in STRATEGIES for ttl in (FIVE_MINUTES, ONE_HOUR)),
)
