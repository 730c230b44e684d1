"""An agent's stored history as the replay takes it: conversations, their turns' requests, times and prices.

Each succeeded invocation of the period becomes a `bedrock.replay.Turn`:

- its session's stored conversation, formatted as Strands sends it
  (`agents_app.runtime.requests`), gives the requests of its model calls: the
  session's k-th succeeded invocation is the conversation's k-th turn, checked
  against the turn's prompt;
- the config it ran with (its deployment's AGENT_CONFIG_JSON; before the first
  deployment, the agent's settings) gives the head and the checkpoints each
  strategy would send;
- its stored per-call usage gives the billed input of each call, which
  calibrates the replay's token counts (`bedrock.replay.calibrate`);
- its stored prices snapshot prices every set-up's tokens.

An invocation whose turn cannot be found in the conversation (a conversation
trimmed by the SDK, a prompt that does not match) is counted as skipped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from agent_platform.models import Tenant
from agents_app import selectors as agent_selectors
from agents_app.models import Agent, AgentSession, Deployment, Invocation
from agents_app.runtime.config import AgentConfig, ConfigError
from agents_app.runtime.requests import (
    actual_strategy,
    config_identity,
    conversation_request,
    oracle_fields,
    request_head,
    strategy_fields,
    turn_calls,
    turn_prompt,
)
from bedrock.oracle import Rates
from bedrock.replay import Conversation, Head, Turn
from caching.periods import Period
from pricing.prices import PRICE_FIELDS, Prices
from pricing.selectors import model_prices

INVOCATION_FIELDS = (
    "pk",
    "session_id",
    "prompt",
    "queued_at",
    "started_at",
    "finished_at",
    "deployment_version",
    "model_calls",
    "prices",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "cost_with_cache",
)
SESSIONS_PER_QUERY = 200


@dataclass
class Stored:
    """What an invocation billed: input, cache read, cache write (1-hour part) and its input cost."""

    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    cost_with_cache: Decimal


@dataclass
class History:
    conversations: list[Conversation] = field(default_factory=list)
    prices: dict[int, Prices] = field(default_factory=dict)  # by invocation id
    stored: dict[int, Stored] = field(default_factory=dict)  # by invocation id
    invocations: int = 0  # succeeded invocations of the period
    skipped: int = 0  # of which not replayed
    sessions: int = 0
    through_id: int = 0
    first_at: float | None = None
    last_at: float | None = None

    @property
    def replayed(self) -> int:
        return self.invocations - self.skipped

    def rates(self) -> dict[int, Rates]:
        def rate(p: Prices) -> Rates:
            return Rates(float(p.input), float(p.cache_read), float(p.cache_write), float(p.cache_write_1h))

        by_key = {}
        return {pk: by_key.setdefault(id(p), rate(p)) for pk, p in self.prices.items()}


def period_invocations(*, agent: Agent, period: Period):
    return Invocation.objects.filter(
        agent=agent, status=Invocation.Status.SUCCEEDED, queued_at__gte=period.start, queued_at__lt=period.end
    )


class _Configs:
    """The agent's configs by deployment version, parsed once, with their replay heads."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.raw = dict(Deployment.objects.filter(agent=agent).values_list("version", "config"))
        self._parsed: dict[int | None, AgentConfig | None] = {}
        self._heads: dict[int | None, Head] = {}

    def config(self, version: int | None) -> AgentConfig | None:
        if version not in self._parsed:
            raw = self.raw.get(version) if version is not None else None
            try:
                self._parsed[version] = AgentConfig.from_json(raw or agent_selectors.agent_config(self.agent))
            except ConfigError:
                self._parsed[version] = None
        return self._parsed[version]

    def head(self, version: int | None) -> Head | None:
        config = self.config(version)
        if config is None:
            return None
        if version not in self._heads:
            system, tools = request_head(config)
            self._heads[version] = Head(
                model_id=config.model_id,
                system=system,
                tools=tools,
                plans=strategy_fields(config),
                actual=actual_strategy(config),
                oracle_fields=oracle_fields(config),
                max_checkpoints=config.model_capabilities.cache_max_checkpoints,
                version=config.version if config.version is not None else version,
                identity=config_identity(config),
            )
        return self._heads[version]


def _prices(row: dict, fallback: Prices, cache: dict) -> Prices:
    snapshot = row["prices"] or {}
    key = tuple(snapshot.get(name) for name in PRICE_FIELDS)
    if key not in cache:
        if all(key):
            cache[key] = Prices(*(Decimal(value) for value in key), source=snapshot.get("source", ""))
        else:
            cache[key] = fallback
    return cache[key]


def _billed(row: dict, calls: int) -> tuple[int, ...] | None:
    model_calls = row["model_calls"] or []
    if len(model_calls) != calls:
        return None
    try:
        return tuple(c["input_tokens"] + c["cache_read_tokens"] + c["cache_write_tokens"] for c in model_calls)
    except (KeyError, TypeError):  # usage not recorded per call: nothing to calibrate with
        return None


def agent_history(*, tenant: Tenant, agent: Agent, period: Period) -> History:
    """The agent's succeeded invocations of the period, ready to replay (another tenant's agent is refused)."""
    agent_selectors.agent_check(tenant=tenant, agent=agent)
    history = History()
    rows = list(period_invocations(agent=agent, period=period).order_by("session_id", "pk").values(*INVOCATION_FIELDS))
    history.invocations = len(rows)
    if not rows:
        return history
    history.through_id = max(row["pk"] for row in rows)
    by_session: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_session[row["session_id"]].append(row)
    history.sessions = len(by_session)
    # Every succeeded turn of those sessions, in any period: the k-th is the conversation's k-th turn.
    order: dict[int, list[int]] = defaultdict(list)
    succeeded = Invocation.objects.filter(session_id__in=list(by_session), status=Invocation.Status.SUCCEEDED)
    for session_id, pk in succeeded.order_by("session_id", "pk").values_list("session_id", "pk"):
        order[session_id].append(pk)

    configs = _Configs(agent)
    fallback = model_prices(tenant=tenant, model=agent.model)
    price_cache: dict = {}
    session_ids = list(by_session)
    for start in range(0, len(session_ids), SESSIONS_PER_QUERY):
        chunk = session_ids[start : start + SESSIONS_PER_QUERY]
        for session_id, messages in AgentSession.objects.filter(pk__in=chunk).values_list("pk", "messages"):
            conversation = _conversation(session_id, messages, by_session[session_id], order[session_id], configs)
            if conversation is not None:
                history.conversations.append(conversation)
            for row in by_session[session_id]:
                history.prices[row["pk"]] = _prices(row, fallback, price_cache)
                history.stored[row["pk"]] = Stored(
                    row["input_tokens"],
                    row["cache_read_tokens"],
                    row["cache_write_tokens"],
                    row["cache_write_1h_tokens"],
                    row["cost_with_cache"],
                )
    replayed = {turn.key for conversation in history.conversations for turn in conversation.turns}
    history.skipped = history.invocations - len(replayed)
    starts = [turn.started for conversation in history.conversations for turn in conversation.turns]
    if starts:
        history.first_at, history.last_at = min(starts), max(starts)
    return history


def _conversation(session_id, messages, rows, order, configs: _Configs) -> Conversation | None:
    latest = configs.config(rows[-1]["deployment_version"])
    if latest is None or not messages:
        return None
    formatted = conversation_request(latest, messages)["messages"]
    turns = turn_calls(formatted)
    # A conversation the SDK trimmed lost its oldest turns: match the newest turns with the newest invocations.
    shift = len(turns) - len(order)
    position = {pk: index + shift for index, pk in enumerate(order)}
    replayed = []
    for row in rows:
        index = position.get(row["pk"], -1)
        head = configs.head(row["deployment_version"])
        if index < 0 or index >= len(turns) or not turns[index] or head is None:
            continue
        if turn_prompt(formatted, turns[index]) != row["prompt"]:
            continue
        calls = turns[index]
        started = (row["started_at"] or row["queued_at"]).timestamp()
        finished = max((row["finished_at"] or row["started_at"] or row["queued_at"]).timestamp(), started)
        replayed.append(Turn(row["pk"], head, started, finished, tuple(calls), _billed(row, len(calls))))
    return Conversation(session_id, formatted, replayed) if replayed else None
