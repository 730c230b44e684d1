"""Latency model and fault injection; both off by default.

Latency: time to first token = ``base_ms`` + ``uncached_ms_per_1k`` per 1,000
tokens the model must process (input and cache writes) + ``cached_ms_per_1k``
per 1,000 tokens read from the cache; output then streams at
``output_tokens_per_s``. A spec string is ``off``, ``realistic`` or
``key=value,...`` (``realistic,output_tokens_per_s=200`` overrides one key).

Faults: each model request draws from one seeded generator, in arrival order:
throttling (``ThrottlingException``, 429) at ``throttle_rate``, a 5xx
(``InternalServerException`` 500 or ``ServiceUnavailableException`` 503, half
each) at ``error_rate``, and an extra ``slow_seconds`` delay at ``slow_rate``.
``fail_next`` queues exact errors for the next requests, e.g.
``["AccessDeniedException", {"error": "ThrottlingException", "in_stream": true}]``;
an in-stream error is sent as an exception event after ``messageStart``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields

from bedrock.errors import STATUS, STREAM_EXCEPTIONS, BedrockError

REALISTIC = {"base_ms": 250.0, "uncached_ms_per_1k": 200.0, "cached_ms_per_1k": 20.0, "output_tokens_per_s": 80.0}


@dataclass
class Latency:
    base_ms: float = 0.0
    uncached_ms_per_1k: float = 0.0
    cached_ms_per_1k: float = 0.0
    output_tokens_per_s: float = 0.0

    @property
    def enabled(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def first_token_seconds(self, uncached_tokens: int, cached_tokens: int) -> float:
        ms = self.base_ms + (self.uncached_ms_per_1k * uncached_tokens + self.cached_ms_per_1k * cached_tokens) / 1000
        return max(ms, 0.0) / 1000

    def output_seconds(self, tokens: int) -> float:
        return tokens / self.output_tokens_per_s if self.output_tokens_per_s > 0 else 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def parse_latency(spec: str | dict | None) -> Latency:
    if isinstance(spec, dict):
        return Latency(**{k: float(v) for k, v in spec.items()})
    values: dict[str, float] = {}
    for part in (spec or "off").split(","):
        part = part.strip()
        if not part or part == "off":
            continue
        if part == "realistic":
            values.update(REALISTIC)
            continue
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in Latency.__dataclass_fields__:
            raise ValueError(f"bad latency setting {part!r}; keys: {', '.join(Latency.__dataclass_fields__)}")
        values[key.strip()] = float(value)
    return Latency(**values)


@dataclass
class Decision:
    error: BedrockError | None = None
    in_stream: bool = False
    delay_seconds: float = 0.0


@dataclass
class Faults:
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    seed: int | None = None
    fail_next: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        for item in self.fail_next:
            _queued_error(item)

    def configure(self, **settings) -> Faults:
        """Change settings in place; a new `seed` restarts the generator."""
        unknown = set(settings) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        for item in settings.get("fail_next") or []:
            _queued_error(item)
        with self._lock:
            for key, value in settings.items():
                setattr(self, key, list(value) if key == "fail_next" else value)
            if "seed" in settings:
                self._rng = random.Random(self.seed)
        return self

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def draw(self) -> Decision:
        with self._lock:
            if self.fail_next:
                error, in_stream = _queued_error(self.fail_next.pop(0))
                return Decision(error=error, in_stream=in_stream)
            if not (self.throttle_rate or self.error_rate or self.slow_rate):
                return Decision()
            # Four draws per request whatever the outcome, so one setting does not shift the others' sequence.
            throttle, error, slow, pick = (self._rng.random() for _ in range(4))
        decision = Decision(delay_seconds=self.slow_seconds if slow < self.slow_rate else 0.0)
        if throttle < self.throttle_rate:
            decision.error = BedrockError("ThrottlingException")
        elif error < self.error_rate:
            decision.error = BedrockError("InternalServerException" if pick < 0.5 else "ServiceUnavailableException")
        return decision


def _queued_error(item) -> tuple[BedrockError, bool]:
    if isinstance(item, str):
        item = {"error": item}
    name = item.get("error")
    if name not in STATUS:
        raise ValueError(f"unknown Bedrock error type {name!r}; one of {', '.join(STATUS)}")
    in_stream = bool(item.get("in_stream"))
    if in_stream and name not in STREAM_EXCEPTIONS:
        raise ValueError(f"{name} cannot be sent inside a stream; one of {', '.join(sorted(STREAM_EXCEPTIONS))}")
    return BedrockError(name, item.get("message")), in_stream
