"""Which cache checkpoints a request carries, decided from the catalog's capability data alone.

The plan is pure data: `build_agent` turns it into Strands options, and the
admin can show it ("this agent sends a system and a messages checkpoint").
Strands is never asked to decide: `CacheConfig(strategy="auto")` guesses from
the model id, and a hand-placed checkpoint reaches Bedrock unfiltered, so
every checkpoint is gated here on `model_capabilities`.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from bedrock.facts import MESSAGES, SYSTEM, TOOLS

from .config import AUTOMATIC, COMBINED, EXPLICIT, AgentConfig

# Checkpoints each strategy asks for. explicit: the shared prefix (system prompt
# and tool definitions), written on the first call. automatic: one moving
# checkpoint on the newest (user) message, so turn 1 already writes it and
# turn 2 reads it. combined: all three.
STRATEGY_FIELDS = {
    EXPLICIT: (SYSTEM, TOOLS),
    AUTOMATIC: (MESSAGES,),
    COMBINED: (SYSTEM, TOOLS, MESSAGES),
}
# Which checkpoint is kept first when the catalog allows fewer than a strategy
# asks for: the system prompt is the prefix every user of the agent shares.
PRIORITY = (SYSTEM, TOOLS, MESSAGES)


def uncached_warning(model_id: str) -> str:
    return f"Prompt caching is enabled but {model_id} cannot cache; running uncached."


def estimate_tokens(text: str) -> int:
    """A rough token count (characters / 4), good enough to say "probably below the minimum"."""
    return math.ceil(len(text) / 4)


def checkpoint_plan(config: AgentConfig, has_tools: bool) -> dict[str, Any]:
    """Describe the checkpoints a request for `config` will carry.

    Returns a JSON-friendly dict:
      requested        the agent's prompt_caching_enabled
      model_can_cache  the catalog's supports_prompt_caching
      caching_enabled  at least one checkpoint will be sent (the effective setting)
      strategy         explicit | automatic | combined
      system, tools, messages   whether that checkpoint is sent
      checkpoints      how many are sent (never more than max_checkpoints)
      max_checkpoints  the catalog's limit
      skipped          {field: reason} for checkpoints the strategy wanted but will not get
      warnings         what the invocation should record (caching requested but not possible)
      notes            advice for the admin (a prefix probably below the model's minimum)
    """
    caps = config.model_capabilities
    has_tools = has_tools and caps.supports_tool_use
    plan: dict[str, Any] = {
        "requested": config.prompt_caching_enabled,
        "model_can_cache": caps.supports_prompt_caching,
        "caching_enabled": False,
        "strategy": config.cache_strategy,
        SYSTEM: False,
        TOOLS: False,
        MESSAGES: False,
        "checkpoints": 0,
        "max_checkpoints": caps.cache_max_checkpoints,
        "skipped": {},
        "warnings": [],
        "notes": [],
    }
    if not config.prompt_caching_enabled:
        return plan
    if not caps.supports_prompt_caching:
        plan["warnings"].append(uncached_warning(config.model_id))
        return plan

    wanted = STRATEGY_FIELDS[config.cache_strategy]
    for field in PRIORITY:
        if field not in wanted:
            continue
        if field == TOOLS and not has_tools:
            continue
        if field not in caps.cache_fields:
            plan["skipped"][field] = f"{config.model_id} takes no checkpoint in {field}"
        elif plan["checkpoints"] >= caps.cache_max_checkpoints:
            plan["skipped"][field] = f"over the model's limit of {caps.cache_max_checkpoints} checkpoints"
        else:
            plan[field] = True
            plan["checkpoints"] += 1

    plan["caching_enabled"] = plan["checkpoints"] > 0
    if not plan["caching_enabled"]:
        plan["warnings"].append(
            f"Prompt caching is enabled but the {config.cache_strategy} strategy has no checkpoint "
            f"{config.model_id} accepts; running uncached."
        )

    if plan[SYSTEM] and caps.cache_min_tokens:
        estimate = estimate_tokens(config.system_prompt)
        if estimate < caps.cache_min_tokens:
            plan["notes"].append(
                f"The system prompt is about {estimate:,} tokens; {config.model_id} caches nothing below "
                f"{caps.cache_min_tokens:,} tokens, so the system checkpoint saves nothing until the prompt "
                "(with the tool definitions) reaches that size."
            )
    return plan


def strip_cache_points(messages: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A deep copy of a Strands conversation without any `cachePoint` block.

    The stored conversation must never hold checkpoints: fed back turn after
    turn they pile up, and Bedrock rejects a request with more than four.
    A message left empty is dropped, as Strands drops it from the request.
    """
    cleaned: list[dict[str, Any]] = []
    for message in messages or []:
        content = [copy.deepcopy(block) for block in message.get("content", []) if "cachePoint" not in block]
        if content:
            rest = {key: copy.deepcopy(value) for key, value in message.items() if key != "content"}
            cleaned.append({**rest, "content": content})
    return cleaned


def count_cache_points(request_part: Any) -> int:
    """How many `cachePoint` blocks a message list (or any nested request part) holds."""
    if isinstance(request_part, dict):
        return int("cachePoint" in request_part) + sum(count_cache_points(v) for v in request_part.values())
    if isinstance(request_part, list):
        return sum(count_cache_points(item) for item in request_part)
    return 0
