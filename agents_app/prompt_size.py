"""Is an agent's cached prefix (system prompt and tools) long enough for a cache checkpoint to take effect?

Bedrock ignores a checkpoint placed before the model's minimum tokens per
checkpoint (`FoundationModel.cache_min_tokens`), silently: the request runs
uncached. The prefix is counted with Bedrock's own CountTokens API through
boto3 (the local emulator answers it in development), so the count is the
one Bedrock would bill. The call fails soft: when the endpoint cannot be
reached the check says so and the page goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import boto3
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as EndpointUnreachable
from django.conf import settings
from django.core.cache import cache

from agents_app.runtime.config import ConfigError, parse_integrations

logger = logging.getLogger(__name__)

# An admin page waits at most this long for the count: short, and no retries.
CLIENT_CONFIG = BotocoreConfig(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1, "mode": "standard"})
# The same prefix always counts the same; remember successful counts for a day.
CACHE_SECONDS = 24 * 3600
# CountTokens needs a conversation: the smallest one (its token or two are counted too, which does not matter).
PLACEHOLDER_MESSAGES = [{"role": "user", "content": [{"text": "."}]}]


@dataclass(frozen=True)
class PromptSize:
    tokens: int | None  # the system prompt and tools, as Bedrock counts them; None when not counted
    minimum: int | None  # the model's minimum tokens per checkpoint; None when it does not cache
    model_name: str
    error: str = ""

    @property
    def below_minimum(self) -> bool:
        return self.tokens is not None and self.minimum is not None and self.tokens < self.minimum

    @property
    def message(self) -> str:
        if self.error:
            return f"Could not count the system prompt's tokens ({self.error}); the minimum-size check was skipped."
        if self.below_minimum:
            return (
                f"The system prompt with its tools is {self.tokens:,} tokens, fewer than the {self.minimum:,} "
                f"{self.model_name} needs per cache checkpoint: caching will have no effect until the "
                "conversation grows past that size."
            )
        return ""


def cached_prefix_request(*, system_prompt: str, integrations) -> dict:
    """The Converse-shaped input CountTokens takes: the agent's tools and system prompt, as the runtime sends them."""
    from agents_app.runtime.tools import tools_for  # imports strands: only when a check runs

    try:
        tools = tools_for(parse_integrations(integrations))
    except ConfigError:
        tools = []
    request: dict = {"system": [{"text": system_prompt}], "messages": PLACEHOLDER_MESSAGES}
    if tools:
        request["toolConfig"] = {"tools": [{"toolSpec": tool.tool_spec} for tool in tools]}
    return request


def count_tokens(*, model_id: str, request: dict) -> int:
    """Bedrock's CountTokens for a Converse request (raises botocore errors)."""
    key = "prompt-size:" + hashlib.sha256(json.dumps([model_id, request], sort_keys=True).encode()).hexdigest()
    counted = cache.get(key)
    if counted is None:
        # The endpoint comes from AWS_ENDPOINT_URL_BEDROCK_RUNTIME (the emulator in development), as for the runtime.
        client = boto3.client("bedrock-runtime", region_name=settings.AWS_REGION, config=CLIENT_CONFIG)
        counted = client.count_tokens(modelId=model_id, input={"converse": request})["inputTokens"]
        cache.set(key, counted, CACHE_SECONDS)
    return counted


def prompt_size_check(*, agent) -> PromptSize:
    """Count an agent's cached prefix and compare it with its model's minimum tokens per checkpoint."""
    model = agent.model
    minimum = model.cache_min_tokens if model.supports_prompt_caching else None
    request = cached_prefix_request(system_prompt=agent.system_prompt, integrations=agent.integrations)
    try:
        tokens = count_tokens(model_id=model.model_id, request=request)
    except (BotoCoreError, ClientError) as exc:
        logger.info("count_tokens for %s failed: %s", model.model_id, exc)
        unreachable = isinstance(exc, EndpointUnreachable | ReadTimeoutError)
        reason = "the Bedrock endpoint is unreachable" if unreachable else str(exc)
        return PromptSize(tokens=None, minimum=minimum, model_name=model.display_name, error=reason)
    return PromptSize(tokens=tokens, minimum=minimum, model_name=model.display_name)
