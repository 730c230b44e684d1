"""Bedrock's prompt cache for Converse requests, in-process: the rules without HTTP and without a model.

``PromptCacheEngine.apply(model_id, request)`` does to one Converse request
what Bedrock does before the model sees it: resolve the model, check the
conversation and its checkpoints (raising ``BedrockError`` where Bedrock
refuses the request), then read and write the prompt cache and split the
input tokens into plain input, cache reads and cache writes by TTL. The
emulator's server calls it for every Converse and ConverseStream call; a
replay of stored conversations calls it directly, passing each request's own
time as ``now`` so entries expire as they did::

    engine = PromptCacheEngine()
    turn = engine.apply("us.anthropic.claude-sonnet-4-6", request, now=0.0)
    turn.usage(output_tokens=120)  # Converse's usage block: inputTokens, cacheReadInputTokens, ...

One engine is one cache: requests through the same engine share entries, as
requests to one AWS account and region do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bedrock import facts
from bedrock.cache import CacheUsage, Clock, PromptCache
from bedrock.errors import validation
from bedrock.prefix import Prefix, build_prefix, check_checkpoints
from bedrock.tokenizer import count_request

INVALID_MODEL_MESSAGE = "The provided model identifier is invalid."


@dataclass(frozen=True)
class RequestUsage:
    """What the cache made of one request: its model, its prefix and the split of its input tokens."""

    model: facts.ModelFacts
    prefix: Prefix
    cache: CacheUsage

    @property
    def input_tokens(self) -> int:
        """Input tokens neither read from nor written to the cache."""
        return self.prefix.total_tokens - self.cache.read - self.cache.write

    def usage(self, output_tokens: int = 0) -> dict:
        """Converse's ``usage`` for this request, given the tokens the model answered with."""
        usage = {
            "inputTokens": self.input_tokens,
            "outputTokens": output_tokens,
            # Bedrock's totalTokens includes the cache tokens.
            "totalTokens": self.prefix.total_tokens + output_tokens,
        }
        if self.model.supports_caching:
            usage["cacheReadInputTokens"] = self.cache.read
            usage["cacheWriteInputTokens"] = self.cache.write
            if self.cache.write:
                usage["cacheDetails"] = self.cache.details()
        return usage


class PromptCacheEngine:
    """One prompt cache and the rules a Converse request goes through on its way into it."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.cache = PromptCache(self.clock)

    def apply(self, model_id: str, request: dict, *, now: float | None = None) -> RequestUsage:
        """Check one Converse request as Bedrock does, then read and write the cache for it.

        `now` is the request's time in seconds on this engine's timeline; by default the clock's.
        """
        model = require_model(model_id)
        check_request(request, model)
        prefix = build_prefix(request, model.model_id, claude=model.counts_like_claude)
        check_checkpoints(prefix, model)
        return RequestUsage(model, prefix, self.cache.apply(prefix, model, now=now))

    def apply_prefix(self, model: facts.ModelFacts, prefix: Prefix, *, now: float | None = None) -> CacheUsage:
        """The checkpoint checks and the cache step for a prefix the caller built.

        A replay builds each stored conversation's prefix once and moves the
        checkpoints over it, request by request (``bedrock.replay``); the rules
        applied are the same as ``apply``'s.
        """
        check_checkpoints(prefix, model)
        return self.cache.apply(prefix, model, now=now)


def count_tokens(model_id: str, request: dict) -> int:
    """CountTokens for a Converse request: the input tokens ``apply`` splits into input, read and write."""
    model = require_model(model_id)
    return count_request(request, claude=model.counts_like_claude)


def require_model(model_id: str) -> facts.ModelFacts:
    """Model facts for a model id, inference-profile id or ARN; a ValidationException when Bedrock knows none."""
    if model_id.startswith("arn:"):
        model_id = model_id.rsplit("/", 1)[-1]
    model = facts.resolve_model(model_id)
    if model is None:
        raise validation(INVALID_MODEL_MESSAGE)
    return model


def check_request(request: dict, model: facts.ModelFacts) -> None:
    """The conversation rules Bedrock enforces before a model sees the request, then the output limit."""
    check_request_metadata(request)
    check_messages(request)
    max_tokens = (request.get("inferenceConfig") or {}).get("maxTokens")
    if max_tokens is not None and max_tokens > model.max_output_tokens:
        raise validation(
            f"The maximum tokens you requested exceeds the model limit of {model.max_output_tokens}. "
            f"Try again with a maximum tokens value that is lower than {model.max_output_tokens}."
        )


_METADATA_KEY = re.compile(rf"{facts.REQUEST_METADATA_CHARACTERS}{{1,{facts.REQUEST_METADATA_KEY_MAX}}}")
_METADATA_VALUE = re.compile(rf"{facts.REQUEST_METADATA_CHARACTERS}{{0,{facts.REQUEST_METADATA_VALUE_MAX}}}")
_METADATA_ERROR = "1 validation error detected: Value at 'requestMetadata' failed to satisfy constraint: "


def check_request_metadata(request: dict) -> None:
    """`requestMetadata` within Bedrock's limits [BR-META], refused with Bedrock's message otherwise.

    The map is sensitive in Bedrock's model, so its message names the member, never the values.
    """
    if "requestMetadata" not in request:
        return
    metadata = request["requestMetadata"]
    if not isinstance(metadata, dict):
        raise validation(_METADATA_ERROR + "Member must be a map of strings to strings")
    if len(metadata) > facts.REQUEST_METADATA_MAX_PAIRS:
        raise validation(
            _METADATA_ERROR + f"Member must have length less than or equal to {facts.REQUEST_METADATA_MAX_PAIRS}"
        )
    if not metadata:
        raise validation(_METADATA_ERROR + "Member must have length greater than or equal to 1")
    for key, value in metadata.items():
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            raise validation(
                _METADATA_ERROR + "Map keys must satisfy constraint: ["
                f"Member must have length less than or equal to {facts.REQUEST_METADATA_KEY_MAX}, "
                "Member must have length greater than or equal to 1, "
                f"Member must satisfy regular expression pattern: {_METADATA_KEY.pattern}]"
            )
        if not isinstance(value, str) or not _METADATA_VALUE.fullmatch(value):
            raise validation(
                _METADATA_ERROR + "Map value must satisfy constraint: ["
                f"Member must have length less than or equal to {facts.REQUEST_METADATA_VALUE_MAX}, "
                f"Member must satisfy regular expression pattern: {_METADATA_VALUE.pattern}]"
            )


def check_messages(request: dict) -> None:
    """The conversation rules Bedrock enforces before a model sees the request."""
    messages = request.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        raise validation(
            "A conversation must start with a user message. "
            "Try again with a conversation that starts with a user message."
        )
    has_tools = bool((request.get("toolConfig") or {}).get("tools"))
    for index, message in enumerate(messages):
        content = message.get("content") or []
        if not content:
            raise validation(
                f"The content field in the Message object at messages.{index} is empty. "
                "Add a ContentBlock object to the content field and try again."
            )
        uses = [b["toolUse"].get("toolUseId") for b in content if "toolUse" in b]
        results = [b["toolResult"].get("toolUseId") for b in content if "toolResult" in b]
        if (uses or results) and not has_tools:
            raise validation("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
        if results:
            previous = messages[index - 1].get("content") or [] if index else []
            asked = {b["toolUse"].get("toolUseId") for b in previous if "toolUse" in b}
            unexpected = [r for r in results if r not in asked]
            if unexpected:
                raise validation(
                    f"messages.{index}.content: unexpected toolUseId found in toolResult blocks: {unexpected[0]}. "
                    "Each toolResult block must have a corresponding toolUse block in the previous message."
                )
        if uses and index + 1 < len(messages):
            answered = {
                b["toolResult"].get("toolUseId") for b in messages[index + 1].get("content") or [] if "toolResult" in b
            }
            missing = [u for u in uses if u not in answered]
            if missing:
                raise validation(
                    f"Expected toolResult blocks at messages.{index + 1}.content for the following Ids: "
                    + ", ".join(missing)
                )
