"""Run one turn of an agent and report what it cost in tokens.

Usage, as Bedrock reports it and as this module keeps it:
- `input_tokens` is Bedrock's `inputTokens`: input neither read from nor
  written to the cache. Total input = input + cache read + cache write.
- The totals are Strands' accumulated usage for the invocation. `model_calls`
  breaks them down per model call of a tool loop (one entry per `metadata`
  event of the stream); they add up to the totals and are never added on top.
- `cache_write_1h_tokens` is the part of the cache writes with a 1-hour TTL,
  from `usage.cacheDetails`. Strands' accumulator drops `cacheDetails`, so it
  is summed from the streamed `metadata` events.

Execution: `run_agent` runs the turn on an event loop that belongs to the
calling thread and lives as long as it, so a worker thread pays for a loop
(and the executor thread Strands streams from) once, not once per turn as
`asyncio.run` would, and no turn waits for a stalled executor thread to shut
down. `timeout` bounds the whole turn in code, whatever the worker's pool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.config import Config as BotocoreConfig
from strands.event_loop._retry import ModelRetryStrategy
from strands.models import bedrock as strands_bedrock

from .build import build_agent
from .checkpoints import strip_cache_points
from .config import AgentConfig
from .errors import ModelCallTimeout

logger = logging.getLogger("agents_app.runtime")

# While a model call streams, Strands wakes every 50 ms to look at the agent's cancel signal. This package
# cancels a turn through asyncio (`run_agent_async`'s `timeout`) and sets the signal only afterwards, for the
# thread still reading, which checks it at each chunk without any poll. So the poll buys nothing here and
# costs a timer wake-up 20 times a second for each call in flight. Strands 1.62 has no option for it.
CANCEL_POLL_SECONDS = 1.0
strands_bedrock._CANCEL_POLL_INTERVAL = CANCEL_POLL_SECONDS

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")


@dataclass
class RunResult:
    response: str
    # The whole conversation after the turn, without any cachePoint block: store this as is.
    messages: list[dict[str, Any]]
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    # One dict per model call: the USAGE_FIELDS, `latency_ms` (Bedrock's, or None) and `stop_reason`.
    model_calls: list[dict[str, Any]] = field(default_factory=list)
    # None when caching was not in effect; else whether anything was read from the cache.
    cache_hit: bool | None = None
    caching_enabled: bool = False
    warnings: list[str] = field(default_factory=list)
    time_to_first_token_ms: int | None = None
    latency_ms: int = 0
    stop_reason: str | None = None
    # The checkpoint plan the request was built with (see `checkpoint_plan`).
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def usage(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in USAGE_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def call_usage(metadata: dict[str, Any]) -> dict[str, Any]:
    """One model call's usage from a ConverseStream `metadata` event."""
    usage = metadata.get("usage") or {}
    details = usage.get("cacheDetails") or []
    return {
        "input_tokens": usage.get("inputTokens", 0),
        "output_tokens": usage.get("outputTokens", 0),
        "cache_read_tokens": usage.get("cacheReadInputTokens", 0),
        "cache_write_tokens": usage.get("cacheWriteInputTokens", 0),
        "cache_write_1h_tokens": sum(d.get("inputTokens", 0) for d in details if d.get("ttl") == "1h"),
        "latency_ms": (metadata.get("metrics") or {}).get("latencyMs"),
    }


def response_text(message: dict[str, Any] | None) -> str:
    return "".join(block["text"] for block in (message or {}).get("content", []) if "text" in block)


async def run_agent_async(
    config: AgentConfig,
    prompt: str | list[dict[str, Any]],
    *,
    messages: list[dict[str, Any]] | None = None,
    tools: list[Any] | None = None,
    callback_handler: Any = None,
    boto_client_config: BotocoreConfig | None = None,
    retry_strategy: ModelRetryStrategy | None = None,
    timeout: float | None = None,
) -> RunResult:
    """Run one turn on top of `messages` (the stored conversation) and return the outcome.

    Streams through `Agent.stream_async`: time to first token is the first
    content delta of the first model call, measured from the start of the turn.
    botocore and Strands exceptions propagate; see `is_retryable`. A turn still
    running after `timeout` seconds is cancelled and raises `ModelCallTimeout`.
    """
    if isinstance(prompt, list):
        prompt = [block for block in prompt if "cachePoint" not in block]
    built = build_agent(
        config,
        messages=messages,
        tools=tools,
        callback_handler=callback_handler,
        boto_client_config=boto_client_config,
        retry_strategy=retry_strategy,
    )
    calls: list[dict[str, Any]] = []
    stop_reason: str | None = None
    result = None
    first_token_at: float | None = None

    started = time.perf_counter()
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            async for event in built.agent.stream_async(prompt):
                chunk = event.get("event")
                if chunk:
                    if first_token_at is None and "contentBlockDelta" in chunk:
                        first_token_at = time.perf_counter()
                    if "messageStop" in chunk:
                        stop_reason = chunk["messageStop"].get("stopReason")
                    if "metadata" in chunk:
                        calls.append({**call_usage(chunk["metadata"]), "stop_reason": stop_reason})
                if "result" in event:
                    result = event["result"]
    except TimeoutError:
        if not deadline.expired():
            raise
        # The thread Strands streams from outlives the cancelled coroutine: the agent's cancel signal
        # (cleared when the stream ended) makes it close the response at the next chunk, and botocore's
        # read timeout bounds a silent one.
        built.agent.cancel()
        raise ModelCallTimeout(timeout, len(calls)) from None
    finished = time.perf_counter()

    accumulated = result.metrics.accumulated_usage if result is not None else {}
    totals = {
        "input_tokens": accumulated.get("inputTokens", 0),
        "output_tokens": accumulated.get("outputTokens", 0),
        "cache_read_tokens": accumulated.get("cacheReadInputTokens", 0),
        "cache_write_tokens": accumulated.get("cacheWriteInputTokens", 0),
        "cache_write_1h_tokens": sum(call["cache_write_1h_tokens"] for call in calls),
    }
    per_call = {name: sum(call[name] for call in calls) for name in USAGE_FIELDS}
    if per_call != totals:
        logger.warning(
            "agent_id=<%s> | per-call usage %s differs from the totals %s", config.agent_id, per_call, totals
        )

    caching = built.caching_enabled
    return RunResult(
        response=response_text(result.message if result is not None else None),
        messages=strip_cache_points(built.agent.messages),
        **totals,
        model_calls=calls,
        cache_hit=(totals["cache_read_tokens"] > 0) if caching else None,
        caching_enabled=caching,
        warnings=list(built.warnings),
        time_to_first_token_ms=round((first_token_at - started) * 1000) if first_token_at is not None else None,
        latency_ms=round((finished - started) * 1000),
        stop_reason=str(result.stop_reason) if result is not None else stop_reason,
        plan=built.plan,
    )


_threads = threading.local()


def thread_loop() -> asyncio.AbstractEventLoop:
    """The calling thread's own event loop, made on first use and kept for the thread's life."""
    loop = getattr(_threads, "loop", None)
    if loop is None or loop.is_closed():
        loop = _threads.loop = asyncio.new_event_loop()
    return loop


def run_agent(
    config: AgentConfig,
    prompt: str | list[dict[str, Any]],
    *,
    messages: list[dict[str, Any]] | None = None,
    tools: list[Any] | None = None,
    callback_handler: Any = None,
    boto_client_config: BotocoreConfig | None = None,
    retry_strategy: ModelRetryStrategy | None = None,
    timeout: float | None = None,
) -> RunResult:
    """`run_agent_async` for synchronous callers (Celery tasks), on the thread's loop. Not inside a running loop."""
    return thread_loop().run_until_complete(
        run_agent_async(
            config,
            prompt,
            messages=messages,
            tools=tools,
            callback_handler=callback_handler,
            boto_client_config=boto_client_config,
            retry_strategy=retry_strategy,
            timeout=timeout,
        )
    )
