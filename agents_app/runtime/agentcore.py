"""The AgentCore side of the runtime: how a config reaches the container, and how a turn comes back.

No Django here. Three things both ends must agree on live in this module:

- AGENT_CONFIG_JSON in the runtime's environment. AgentCore caps one
  environment variable at 5,000 characters and a runtime at 50 variables, and
  a cache-worthy system prompt is longer than that. A config that fits is one
  variable, `AGENT_CONFIG_JSON`; a longer one is cut into
  `AGENT_CONFIG_JSON_1` .. `AGENT_CONFIG_JSON_<n>` with `AGENT_CONFIG_JSON_PARTS=<n>`.
  `config_environment` builds that map; `config_from_environment` joins it.
- The request: `{"prompt": "...", "messages": [...]}`, `messages` being the
  stored conversation (the platform's database owns sessions; the container
  keeps nothing between invocations).
- The answer, a stream of server-sent events, one JSON object each:
    {"type": "text", "text": "..."}                       zero or more, as the model streams
    {"type": "message", "response", "messages", "stop_reason", "plan"}
    {"type": "usage", "config_version", input/output/cache token counts,
     "cache_hit", "caching_enabled", "model_calls", "warnings",
     "time_to_first_token_ms", "latency_ms"}             always last
  or {"type": "error", "error_type", "message", "retryable"} instead of the last two.

`invoke_agent_runtime` is the worker's half: boto3 `bedrock-agentcore`
`invoke_agent_runtime`, the stream parsed back into the `RunResult` a local run gives.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from .errors import is_retryable
from .run import USAGE_FIELDS, RunResult

CONFIG_ENV = "AGENT_CONFIG_JSON"
PARTS_ENV = f"{CONFIG_ENV}_PARTS"
# AgentCore's limits (bedrock-agentcore-control EnvironmentVariableValue max 5000, EnvironmentVariablesMap max 50).
ENV_VALUE_MAX_CHARS = 5000
ENV_MAX_VARIABLES = 50

TEXT, MESSAGE, USAGE, ERROR = "text", "message", "usage", "error"


class ConfigTooLarge(ValueError):
    """The config does not fit in the environment variables AgentCore allows."""


# --- AGENT_CONFIG_JSON in the environment ---------------------------------------------------------


def config_environment(config_json: str) -> dict[str, str]:
    """The environment variables that carry `config_json` to the container."""
    if len(config_json) <= ENV_VALUE_MAX_CHARS:
        return {CONFIG_ENV: config_json}
    parts = [config_json[i : i + ENV_VALUE_MAX_CHARS] for i in range(0, len(config_json), ENV_VALUE_MAX_CHARS)]
    if len(parts) + 1 > ENV_MAX_VARIABLES:
        raise ConfigTooLarge(
            f"AGENT_CONFIG_JSON is {len(config_json)} characters; AgentCore's environment holds at most "
            f"{(ENV_MAX_VARIABLES - 1) * ENV_VALUE_MAX_CHARS}."
        )
    env = {f"{CONFIG_ENV}_{n}": part for n, part in enumerate(parts, start=1)}
    env[PARTS_ENV] = str(len(parts))
    return env


def config_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The AGENT_CONFIG_JSON string from the environment (whole or in parts); KeyError when absent."""
    environ = os.environ if environ is None else environ
    if PARTS_ENV in environ:
        return "".join(environ[f"{CONFIG_ENV}_{n}"] for n in range(1, int(environ[PARTS_ENV]) + 1))
    return environ[CONFIG_ENV]


# --- Events ---------------------------------------------------------------------------------------


def text_event(text: str) -> dict[str, Any]:
    return {"type": TEXT, "text": text}


def message_event(result: RunResult) -> dict[str, Any]:
    return {
        "type": MESSAGE,
        "response": result.response,
        "messages": result.messages,
        "stop_reason": result.stop_reason,
        "plan": result.plan,
    }


def usage_event(result: RunResult, *, config_version: int | None) -> dict[str, Any]:
    return {
        "type": USAGE,
        "config_version": config_version,
        **result.usage,
        "cache_hit": result.cache_hit,
        "caching_enabled": result.caching_enabled,
        "model_calls": result.model_calls,
        "warnings": result.warnings,
        "time_to_first_token_ms": result.time_to_first_token_ms,
        "latency_ms": result.latency_ms,
    }


def error_event(exc: BaseException) -> dict[str, Any]:
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    return {
        "type": ERROR,
        "error_type": code or type(exc).__name__,
        "message": str(exc),
        "retryable": is_retryable(exc),
    }


def sse_events(lines: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream (`data: {...}` lines; others are ignored)."""
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode("utf-8")
        if line.startswith("data:"):
            yield json.loads(line[5:].strip())


class AgentRuntimeError(ClientError):
    """A turn the container reported as failed. A `ClientError`, so `is_retryable` reads it like Bedrock's own:
    its code is the container's error type and its HTTP status 503 (retryable) or 400 (not)."""

    def __init__(self, error_type: str, message: str, *, retryable: bool):
        status = 503 if retryable else 400
        super().__init__(
            {"Error": {"Code": error_type, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "InvokeAgentRuntime",
        )
        self.retryable = retryable


def result_from_events(events: Iterable[dict[str, Any]]) -> tuple[RunResult, int | None]:
    """A `RunResult` (and the config version the container ran) from a turn's events; raises `AgentRuntimeError`."""
    message: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    texts: list[str] = []
    for event in events:
        kind = event.get("type")
        if kind == TEXT:
            texts.append(event.get("text", ""))
        elif kind == MESSAGE:
            message = event
        elif kind == USAGE:
            usage = event
        elif kind == ERROR or "error" in event:  # ours, or the SDK's own `{"error": ..., "error_type": ...}`
            raise AgentRuntimeError(
                event.get("error_type") or "AgentRuntimeError",
                event.get("message") or event.get("error") or "the agent runtime failed",
                retryable=bool(event.get("retryable", True)),
            )
    if usage is None:
        # The stream ended early (a dropped connection, a killed container): worth another try.
        raise AgentRuntimeError("IncompleteStream", "the agent runtime's stream ended without usage", retryable=True)
    message = message or {}
    result = RunResult(
        response=message.get("response", "".join(texts)),
        messages=message.get("messages", []),
        **{name: usage.get(name, 0) for name in USAGE_FIELDS},
        model_calls=usage.get("model_calls", []),
        cache_hit=usage.get("cache_hit"),
        caching_enabled=bool(usage.get("caching_enabled")),
        warnings=list(usage.get("warnings", [])),
        time_to_first_token_ms=usage.get("time_to_first_token_ms"),
        latency_ms=usage.get("latency_ms") or 0,
        stop_reason=message.get("stop_reason"),
        plan=message.get("plan") or {},
    )
    return result, usage.get("config_version")


# --- The worker's side ----------------------------------------------------------------------------


def runtime_session_id(*parts: Any) -> str:
    """A stable AgentCore session id (33-256 characters) for one conversation."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return f"session-{digest}"


def invoke_agent_runtime(
    *,
    runtime_arn: str,
    prompt: str,
    messages: list[dict[str, Any]] | None = None,
    session_id: str,
    qualifier: str | None = None,
    client: Any = None,
) -> tuple[RunResult, int | None]:
    """Run one turn in an AgentCore runtime; returns the result and the config version that ran.

    `client` is a boto3 `bedrock-agentcore` client (built by the caller, which
    knows the region, endpoint and timeouts). botocore's own errors propagate.
    """
    kwargs: dict[str, Any] = {
        "agentRuntimeArn": runtime_arn,
        "runtimeSessionId": session_id,
        "contentType": "application/json",
        "accept": "text/event-stream",
        "payload": json.dumps({"prompt": prompt, "messages": messages or []}).encode(),
    }
    if qualifier:
        kwargs["qualifier"] = qualifier
    response = client.invoke_agent_runtime(**kwargs)
    body = response["response"]
    try:
        if "text/event-stream" in (response.get("contentType") or ""):
            return result_from_events(sse_events(body.iter_lines()))
        # A plain JSON answer is an error the runtime reported without streaming.
        data = json.loads(body.read() or b"{}")
        return result_from_events([data if isinstance(data, dict) else {"error": str(data)}])
    finally:
        body.close()
