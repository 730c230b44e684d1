"""The AgentCore container entrypoint: `python -m agents_app.runtime.agentcore_app` serves port 8080.

AgentCore sends `POST /invocations` with `{"prompt": ..., "messages": [...]}`;
the answer streams back as server-sent events (see `agentcore` for their
shapes): the model's text as it arrives, then the turn's conversation, then a
usage event with the cache fields. The agent is the one AGENT_CONFIG_JSON in
the container's environment describes, built and run by the same
`build_agent`/`run_agent_async` the Celery workers use. No Django, no
database: credentials come from the runtime's IAM role, never from the config.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp
from starlette.responses import JSONResponse

from .agentcore import config_from_environment, error_event, message_event, text_event, usage_event
from .config import AgentConfig, ConfigError
from .run import run_agent_async

logger = logging.getLogger("agents_app.runtime")

app = BedrockAgentCoreApp()

_parsed: dict[str, AgentConfig] = {}


def current_config() -> AgentConfig:
    """The environment's config, parsed once per distinct value (the environment is fixed per container)."""
    raw = config_from_environment()
    if raw not in _parsed:
        _parsed.clear()
        _parsed[raw] = AgentConfig.from_json(raw)
    return _parsed[raw]


def parse_payload(payload: Any) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(payload, dict):
        raise ValueError("the payload must be a JSON object")
    prompt, messages = payload.get("prompt"), payload.get("messages") or []
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string")
    if not isinstance(messages, list):
        raise ValueError("messages must be a list")
    return prompt, messages


async def stream_turn(config: AgentConfig, prompt: str, messages: list[dict[str, Any]]) -> AsyncIterator[dict]:
    """Run the turn, yielding text as the model streams it, then the message and usage events."""
    chunks: asyncio.Queue[str] = asyncio.Queue()

    def on_event(**event: Any) -> None:
        if isinstance(event.get("data"), str) and event["data"]:
            chunks.put_nowait(event["data"])

    run = asyncio.ensure_future(run_agent_async(config, prompt, messages=messages, callback_handler=on_event))
    try:
        while not run.done():
            getter = asyncio.ensure_future(chunks.get())
            await asyncio.wait({run, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield text_event(getter.result())
            else:
                getter.cancel()
        while not chunks.empty():
            yield text_event(chunks.get_nowait())
        result = run.result()
    except Exception as exc:
        logger.exception("agent_id=<%s>, version=<%s> | the turn failed", config.agent_id, config.version)
        yield error_event(exc)
        return
    finally:
        if not run.done():  # the client went away: stop the model call too
            run.cancel()
    yield message_event(result)
    yield usage_event(result, config_version=config.version)


@app.entrypoint
async def invoke(payload):
    try:
        prompt, messages = parse_payload(payload)
    except ValueError as exc:
        return JSONResponse({"error": str(exc), "error_type": "ValidationException"}, status_code=400)
    try:
        config = current_config()
    except (KeyError, ConfigError) as exc:
        logger.error("AGENT_CONFIG_JSON is missing or invalid: %s", exc)
        message = f"AGENT_CONFIG_JSON is missing or invalid: {exc}"
        return JSONResponse({"error": message, "error_type": "ConfigError"}, status_code=500)
    return stream_turn(config, prompt, messages)


if __name__ == "__main__":
    app.run(port=8080)
