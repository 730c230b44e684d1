"""One Bedrock Runtime client per process, shared by every thread that runs a turn.

boto3 clients are thread-safe and sessions are not, so the process keeps one
client per region, endpoint and botocore config, and no thread or turn builds
a session of its own. A client costs milliseconds of CPU and megabytes to
build; dozens of pool threads each building their own was most of a fresh
worker's start-up cost. The connection pool of a shared client must hold a
connection per concurrent call (`max_pool_connections`), or urllib3 opens and
discards connections beyond it.

The endpoint is read from the environment (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
the local emulator in development) and is part of the key, so a process that
points elsewhere gets a new client rather than a stale one.

Every Converse and ConverseStream call of the shared client carries the
current turn's `requestMetadata` (`context.py`), added in botocore's
`before-parameter-build` event: Strands 1.62 has only a per-model option for
it (`additional_args`), and models are shared by every turn.

botocore retries throttled and 5xx calls by itself (the config's `retries`),
out of the caller's sight. The shared client reports each retry it starts to
whoever runs the call inside `retries_recorded()`: a context variable, which
asyncio copies into the thread Strands streams from.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config as BotocoreConfig

from .context import request_metadata

DEFAULT_REGION = "us-east-1"
# Strands' defaults for a client it builds itself: its user agent and a 120 s read timeout.
STRANDS_USER_AGENT = "strands-agents"
DEFAULT_READ_TIMEOUT = 120
# Old clients are dropped beyond this many keys (tests point at a new emulator port each time).
MAX_CLIENTS = 8

_lock = threading.Lock()
_clients: OrderedDict[tuple, tuple[Any, BotocoreConfig | None]] = OrderedDict()


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def endpoint_url() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME") or os.environ.get("AWS_ENDPOINT_URL") or None


def client_config(config: BotocoreConfig | None) -> BotocoreConfig:
    """`config` with Strands' user agent added, as `BedrockModel` would build it."""
    if config is None:
        return BotocoreConfig(user_agent_extra=STRANDS_USER_AGENT, read_timeout=DEFAULT_READ_TIMEOUT)
    extra = getattr(config, "user_agent_extra", None)
    return config.merge(
        BotocoreConfig(user_agent_extra=f"{extra} {STRANDS_USER_AGENT}" if extra else STRANDS_USER_AGENT)
    )


def bedrock_client(config: BotocoreConfig | None = None):
    """The process's `bedrock-runtime` client for the current region and endpoint and this botocore `config`.

    Callers pass one long-lived config object (a module constant): configs are told apart by identity.
    """
    key = (region(), endpoint_url(), id(config))
    cached = _clients.get(key)
    if cached is not None and cached[1] is config:
        return cached[0]
    with _lock:
        cached = _clients.get(key)
        if cached is None or cached[1] is not config:
            client = boto3.session.Session(region_name=key[0]).client("bedrock-runtime", config=client_config(config))
            client.meta.events.register("needs-retry.bedrock-runtime", _attempt_finished)
            client.meta.events.register("request-created.bedrock-runtime", _attempt_starting)
            for operation in ("Converse", "ConverseStream"):
                client.meta.events.register(f"before-parameter-build.bedrock-runtime.{operation}", _add_metadata)
            # The config is kept with its client so its id cannot be reused while the entry lives.
            _clients[key] = cached = (client, config)
            while len(_clients) > MAX_CLIENTS:
                _clients.popitem(last=False)
        return cached[0]


def _add_metadata(params: dict, **kwargs) -> None:
    """Before botocore validates a call's parameters: the turn's ids, unless the caller gave metadata itself."""
    if "requestMetadata" not in params:
        metadata = request_metadata()
        if metadata:
            params["requestMetadata"] = metadata


class SharedClientSession:
    """What `BedrockModel.__init__` asks of a boto3 session (its region and a client), answered with a shared client.

    Strands builds its client from the session it is given; handing it this instead makes every model use the
    process's client without Strands building (and discarding) one of its own.
    """

    def __init__(self, client):
        self._client = client
        self.region_name = client.meta.region_name

    def client(self, *args, **kwargs):
        return self._client


# --- retries made inside botocore --------------------------------------------------------------


@dataclass
class _Recording:
    retries: list[dict[str, Any]] = field(default_factory=list)
    last_failure: dict[str, Any] | None = None


_recording: ContextVar[_Recording | None] = ContextVar("bedrock_retries", default=None)


@contextmanager
def retries_recorded() -> Iterator[list[dict[str, Any]]]:
    """A list that fills with one entry per failed attempt botocore tries again while the block runs.

    Each entry: `error` (Bedrock's error code, or the exception's name for a connection failure),
    `status` (HTTP status or None), `at` (ISO time of the failure). Calls run one after another
    within a turn, so the failure before a retry is always the same call's.
    """
    recording = _Recording()
    token = _recording.set(recording)
    try:
        yield recording.retries
    finally:
        _recording.reset(token)


def _attempt_finished(response=None, caught_exception=None, **kwargs) -> None:
    """`needs-retry`, after every attempt: remember a failure until botocore does or does not retry it."""
    recording = _recording.get()
    if recording is None:
        return
    if caught_exception is not None:
        failure = {"error": type(caught_exception).__name__, "status": None}
    elif response is not None and response[0].status_code >= 400:
        failure = {"error": (response[1].get("Error") or {}).get("Code") or "", "status": response[0].status_code}
    else:
        recording.last_failure = None
        return
    recording.last_failure = {**failure, "at": datetime.now(UTC).isoformat()}


def _attempt_starting(request=None, **kwargs) -> None:
    """`request-created`, before every attempt: an attempt after the first is botocore retrying the last failure."""
    recording = _recording.get()
    if recording is None or recording.last_failure is None:
        return
    attempt = ((getattr(request, "context", None) or {}).get("retries") or {}).get("attempt", 1)
    if attempt > 1:
        recording.retries.append(recording.last_failure)
    recording.last_failure = None
