"""Helpers shared by the emulator tests."""

from __future__ import annotations

import boto3
from botocore.config import Config

from bedrock.tokenizer import count_text

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


def prompt_of(tokens: int, salt: str = "") -> str:
    """Exactly `tokens` tokens by the emulator's tokenizer; `salt` (one word) makes a different text."""
    parts = [salt] if salt else []
    while len(parts) < tokens:
        parts.append("." if len(parts) % 12 == 11 else _VOCABULARY[len(parts) % len(_VOCABULARY)])
    text = " ".join(parts[:tokens])
    assert count_text(text) == tokens
    return text


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
