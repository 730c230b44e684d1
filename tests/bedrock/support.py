"""Helpers shared by the emulator tests."""

from __future__ import annotations

import boto3
from botocore.config import Config

from bedrock.tokenizer import CLAUDE_SCALE, count_text

SONNET_46 = "us.anthropic.claude-sonnet-4-6"
OPUS_46 = "us.anthropic.claude-opus-4-6-v1"
SONNET_4 = "us.anthropic.claude-sonnet-4-20250514-v1:0"
NOVA_PRO = "us.amazon.nova-pro-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"

_VOCABULARY = [
    "policy",
    "customer",
    "refund",
    "order",
    "shipping",
    "invoice",
    "answer",
    "politely",
    "cite",
    "sources",
    "always",
    "never",
]


def prompt_of(tokens: int, salt: str = "", claude: bool = True) -> str:
    """Exactly `tokens` tokens as a Claude model counts them (`claude=False`: as Nova and Llama do).

    Every word of the vocabulary above is one token of the published vocabulary, so the text has a
    known published count; a Claude count is that times ``CLAUDE_SCALE``, rounded, which reaches
    about 24 of every 25 integers (a ValueError says when `tokens` is not one of them).
    `salt` (one word) makes a different text.
    """
    near = round(tokens / CLAUDE_SCALE)
    raw = (
        tokens
        if not claude
        else next((n for n in range(near - 2, near + 3) if int(n * CLAUDE_SCALE + 0.5) == tokens), None)
    )
    if raw is None:
        raise ValueError(f"no text counts exactly {tokens} Claude tokens; pick a neighbour")
    # Each word, and " .", is one token; the salt may be more.
    parts = [salt] if salt else []
    for index in range(len(parts), raw - count_text(salt) + len(parts)):
        parts.append("." if index % 12 == 11 else _VOCABULARY[index % len(_VOCABULARY)])
    text = " ".join(parts)
    assert count_text(text, claude) == tokens, (tokens, count_text(text, claude))
    return text


def tokens_of(text: str, claude: bool = True) -> int:
    """Tokens of one text block as the emulator counts it for a Claude model (`claude=False`: Nova, Llama)."""
    return count_text(text, claude)


def client(url: str, retries: dict | None = None):
    """A bedrock-runtime client for the emulator; botocore retries off unless `retries` is given."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries=retries or {"total_max_attempts": 1, "mode": "standard"}),
    )


def cp(ttl: str | None = None) -> dict:
    return {"cachePoint": {"type": "default", **({"ttl": ttl} if ttl else {})}}


def user(text: str, *extra: dict) -> dict:
    return {"role": "user", "content": [{"text": text}, *extra]}


def assistant(text: str, *extra: dict) -> dict:
    return {"role": "assistant", "content": [{"text": text}, *extra]}


def stream_usage(response) -> tuple[list[dict], dict]:
    """All events of a converse_stream response, and the usage from its metadata event."""
    events = list(response["stream"])
    return events, events[-1]["metadata"]["usage"]


def total_input(usage: dict) -> int:
    return usage["inputTokens"] + usage.get("cacheReadInputTokens", 0) + usage.get("cacheWriteInputTokens", 0)
