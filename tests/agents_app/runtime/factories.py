"""Configs for the runtime tests, built from `bedrock.facts` the way the catalog seeds its rows.

No database: the runtime never touches one, so neither do its tests.
"""

from __future__ import annotations

from agents_app.runtime import AgentConfig
from bedrock import facts

CLAUDE = "us.anthropic.claude-sonnet-4-6"
NOVA = "us.amazon.nova-pro-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"

# Sonnet 4.6 prices per million tokens: input, cache read, cache write.
SONNET_PRICES = {"input": 3.00, "read": 0.30, "write": 3.75}

PARAGRAPH = (
    "You are the support agent of a company that rents bicycles in twelve cities. Answer questions about "
    "bookings, prices, opening hours, lost property and repairs. Be brief and polite, quote the policy "
    "section you rely on, and never promise a refund the policy does not allow. "
)


def long_prompt(tokens: int = 2_500) -> str:
    """A system prompt of at least `tokens` emulator tokens (a token is a word or a punctuation mark)."""
    from bedrock.tokenizer import count_text

    parts = []
    section = 1
    while count_text(" ".join(parts)) < tokens:
        parts.append(f"Section {section}. {PARAGRAPH}")
        section += 1
    return " ".join(parts)


def capabilities(model_id: str, *, catalog_caching: bool | None = None) -> dict:
    """The catalog entry's policy data for a model, as the seed migration ships it (or with caching toggled)."""
    model = facts.resolve_model(model_id)
    family = facts.FAMILIES[model.family]
    supports = family.caches_by_default if catalog_caching is None else catalog_caching
    return {
        "supports_prompt_caching": supports and model.supports_caching,
        "cache_min_tokens": model.cache_min_tokens,
        "cache_max_checkpoints": model.max_checkpoints,
        "cache_fields": list(model.cache_fields),
        "supports_tool_use": model.supports_tool_use,
    }


def config_dict(
    model_id: str = CLAUDE, *, catalog_caching: bool | None = None, caps: dict | None = None, **fields
) -> dict:
    data = {
        "agent_id": "7",
        "version": 1,
        "system_prompt": "You are helpful.",
        "model_id": model_id,
        "max_tokens": 1024,
        "integrations": [],
        "prompt_caching_enabled": True,
        "cache_strategy": "combined",
        "model_capabilities": capabilities(model_id, catalog_caching=catalog_caching),
    }
    data["model_capabilities"].update(caps or {})
    data.update(fields)
    return data


def make_config(
    model_id: str = CLAUDE, *, catalog_caching: bool | None = None, caps: dict | None = None, **fields
) -> AgentConfig:
    """A validated config; `caps` overrides catalog capability fields."""
    return AgentConfig.from_json(config_dict(model_id, catalog_caching=catalog_caching, caps=caps, **fields))
