"""What the emulator does with one Bedrock Runtime call, without HTTP: validate, cache, answer, count.

The checks and the prompt cache are the engine's (``bedrock.engine``); this
module adds the model's reply, stats and the request log. ``EmulatorState`` is
everything the server keeps between requests; the HTTP layer (``server.py``)
only parses, draws faults, sleeps for latency and encodes. Benchmarks call
``converse`` directly to measure the emulator's own handling time.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import unquote

from bedrock import facts
from bedrock.cache import CacheUsage, Clock, PromptCache
from bedrock.emulator.faults import Faults, Latency
from bedrock.emulator.model import Reply, generate
from bedrock.emulator.profiles import InferenceProfiles
from bedrock.engine import PromptCacheEngine, require_model
from bedrock.engine import count_tokens as count_converse_tokens
from bedrock.errors import validation
from bedrock.tokenizer import canonical_json, count_text, split_tokens

DEFAULT_MAX_TOKENS = 4096
LOG_SIZE = 200


@dataclass
class Stats:
    requests: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=lambda: dict.fromkeys(("input", "output", "cacheRead", "cacheWrite"), 0))
    handled: int = 0
    handling_seconds: float = 0.0
    handling_max_seconds: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def count(self, operation: str, error: str | None = None) -> None:
        with self._lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1

    def record(self, usage: dict, seconds: float) -> None:
        with self._lock:
            self.tokens["input"] += usage["inputTokens"]
            self.tokens["output"] += usage["outputTokens"]
            self.tokens["cacheRead"] += usage.get("cacheReadInputTokens", 0)
            self.tokens["cacheWrite"] += usage.get("cacheWriteInputTokens", 0)
            self.handled += 1
            self.handling_seconds += seconds
            self.handling_max_seconds = max(self.handling_max_seconds, seconds)

    def to_dict(self) -> dict:
        with self._lock:
            mean = self.handling_seconds / self.handled if self.handled else 0.0
            return {
                "requests": dict(self.requests),
                "errors": dict(self.errors),
                "tokens": dict(self.tokens),
                "handling_ms": {
                    "count": self.handled,
                    "mean": round(mean * 1000, 3),
                    "max": round(self.handling_max_seconds * 1000, 3),
                },
            }


@dataclass
class EmulatorState:
    clock: Clock = field(default_factory=Clock)
    faults: Faults = field(default_factory=Faults)
    latency: Latency = field(default_factory=Latency)
    stats: Stats = field(default_factory=Stats)
    log: deque = field(default_factory=lambda: deque(maxlen=LOG_SIZE))
    # Application inference profiles (the control-plane stand-in); kept by `reset`, like any account resource.
    profiles: InferenceProfiles = field(default_factory=InferenceProfiles)
    engine: PromptCacheEngine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = PromptCacheEngine(self.clock)
        self._initial = (self.faults.to_dict(), self.latency.to_dict())

    @property
    def cache(self) -> PromptCache:
        return self.engine.cache

    def reset(self) -> None:
        """Empty the cache, stats and log; clock, faults and latency back to how the server started."""
        self.cache.clear()
        self.clock.reset()
        self.stats = Stats()
        self.log.clear()
        faults, latency = self._initial
        self.faults.configure(**{**faults, "fail_next": list(faults["fail_next"])})
        self.latency = Latency(**latency)

    def snapshot(self) -> dict:
        return {
            **self.stats.to_dict(),
            "cache_entries": len(self.cache),
            "clock_offset_seconds": self.clock.offset,
            "faults": self.faults.to_dict(),
            "latency": self.latency.to_dict(),
        }


@dataclass
class Outcome:
    model: facts.ModelFacts
    reply: Reply
    cache: CacheUsage
    usage: dict
    handling_seconds: float


def cache_listing(state: EmulatorState, model_id: str | None = None) -> dict:
    """``GET /_emulator/cache``: the live entries (all, or one model's), with the clock they are measured on."""
    entries = state.cache.entries()
    if model_id:
        wanted = require_model(unquote(model_id)).model_id
        entries = [entry for entry in entries if entry["model_id"] == wanted]
    return {"count": len(entries), "clock_offset_seconds": state.clock.offset, "entries": entries}


def resolve(model_id: str) -> facts.ModelFacts:
    """Model facts for a path's (URL-encoded) model id, inference-profile id or ARN."""
    return require_model(unquote(model_id))


def converse(state: EmulatorState, model_id: str, request: dict) -> Outcome:
    """One Converse/ConverseStream call: the engine's checks and cache, then the reply and the usage."""
    started = time.perf_counter()
    model_id = unquote(model_id)
    turn = state.engine.apply(state.profiles.resolve(model_id), request)
    model = turn.model
    max_tokens = (request.get("inferenceConfig") or {}).get("maxTokens")
    budget = max_tokens or min(DEFAULT_MAX_TOKENS, model.max_output_tokens)
    reply = generate(request, turn.prefix.request_hash, budget, claude=model.counts_like_claude)
    usage = turn.usage(reply.output_tokens)
    elapsed = time.perf_counter() - started
    state.stats.record(usage, elapsed)
    state.log.append(
        {
            "modelId": model_id,
            "checkpoints": [
                {"field": p.field, "ttl": p.ttl, "tokens": p.tokens, "where": p.where} for p in turn.prefix.checkpoints
            ],
            "usage": usage,
            "stopReason": reply.stop_reason,
            # What Bedrock's invocation logs would record with the call, for the service's rows to join on.
            "requestMetadata": request.get("requestMetadata"),
            "request": request,
        }
    )
    return Outcome(model, reply, turn.cache, usage, elapsed)


def count_tokens(model_id: str, body: dict) -> dict:
    """CountTokens: the same count as Converse's, so input + cache read + cache write always equals it."""
    model = resolve(model_id)
    given = body.get("input") or {}
    if "converse" in given:
        return {"inputTokens": count_converse_tokens(model.model_id, given["converse"] or {})}
    if "invokeModel" in given:
        raw = given["invokeModel"].get("body") or ""
        text = base64.b64decode(raw).decode("utf-8", "replace") if isinstance(raw, str) else canonical_json(raw)
        return {"inputTokens": count_text(text, model.counts_like_claude)}
    raise validation("The input field must contain either converse or invokeModel.")


def converse_response(outcome: Outcome, latency_ms: int) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": outcome.reply.content}},
        "stopReason": outcome.reply.stop_reason,
        "usage": outcome.usage,
        "metrics": {"latencyMs": latency_ms},
    }


def stream_events(outcome: Outcome, tokens_per_delta: int = 8) -> list[tuple[str, dict, int]]:
    """ConverseStream's events before ``metadata``, as (event type, payload, output tokens it carries)."""
    events: list[tuple[str, dict, int]] = [("messageStart", {"role": "assistant"}, 0)]
    for index, block in enumerate(outcome.reply.content):
        if "toolUse" in block:
            tool = block["toolUse"]
            start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
            events.append(("contentBlockStart", {"start": start, "contentBlockIndex": index}, 0))
            raw = canonical_json(tool["input"])
            # Bedrock streams tool input as partial JSON strings; two pieces exercise the client's joining.
            half = len(raw) // 2
            for piece in (raw[:half], raw[half:]):
                if piece:
                    delta = {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": index}
                    events.append(("contentBlockDelta", delta, count_text(piece)))
        else:
            for piece, tokens in split_tokens(block.get("text", ""), tokens_per_delta):
                events.append(("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": index}, tokens))
        events.append(("contentBlockStop", {"contentBlockIndex": index}, 0))
    events.append(("messageStop", {"stopReason": outcome.reply.stop_reason}, 0))
    return events


def metadata_event(outcome: Outcome, latency_ms: int) -> dict:
    return {"usage": outcome.usage, "metrics": {"latencyMs": latency_ms}}
