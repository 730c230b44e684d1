"""The emulator's one tokenizer, shared by count-tokens and converse.

A Claude tokenizer is not available offline, so the emulator counts tokens by
a simple, stable rule instead:

- a token is a run of letters, a run of digits, or any other single
  non-whitespace character (``"Hello, world 42!"`` is 5 tokens:
  ``Hello`` ``,`` ``world`` ``42`` ``!``);
- a text block (system text, message text) counts the tokens of its text;
- every other block (a tool spec, a tool use, a tool result, an image, a
  document, reasoning, guard content) counts the tokens of its canonical JSON
  (keys sorted, no spaces, non-ASCII kept), so the braces and quotes of JSON
  count like punctuation, roughly as they do for a real tokenizer;
- ``cachePoint`` blocks count 0, and nothing is added per message or per
  request, so the tokens of a request are exactly the sum of its blocks'.

Real Claude counts differ (about 4 characters per token for English prose;
this rule gives about 5), which is fine: what the emulator must get right is
that the same request always counts the same, and that
``inputTokens + cacheReadInputTokens + cacheWriteInputTokens`` equals what
count-tokens answers for that request.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

_TOKEN_RE = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: the same value always gives the same string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def count_text(text: str) -> int:
    if len(text) > 2000:
        return _count_long(text)
    return len(_TOKEN_RE.findall(text))


@functools.lru_cache(maxsize=256)
def _count_long(text: str) -> int:
    # Every turn of a conversation resends the same long system prompt and tool specs; count each once.
    return len(_TOKEN_RE.findall(text))


def count_block(block: dict[str, Any]) -> int:
    """Tokens of one content block (message, system or tool), by the rule above."""
    if "cachePoint" in block:
        return 0
    if "text" in block and len(block) == 1 and isinstance(block["text"], str):
        return count_text(block["text"])
    return count_text(canonical_json(block))


def count_request(request: dict[str, Any]) -> int:
    """Tokens of a Converse-shaped request: tools, system and messages (inferenceConfig is not input)."""
    total = 0
    for tool in (request.get("toolConfig") or {}).get("tools") or []:
        total += count_block(tool)
    for block in request.get("system") or []:
        total += count_block(block)
    for message in request.get("messages") or []:
        for block in message.get("content") or []:
            total += count_block(block)
    return total


def first_tokens(text: str, limit: int) -> str:
    """The prefix of `text` holding at most `limit` tokens (for cutting output at maxTokens)."""
    if limit <= 0:
        return ""
    for index, match in enumerate(_TOKEN_RE.finditer(text)):
        if index == limit:
            return text[: match.start()].rstrip()
    return text


def split_tokens(text: str, per_chunk: int) -> list[tuple[str, int]]:
    """`text` cut into pieces of `per_chunk` tokens (the last may be shorter), with each piece's token count."""
    cuts = [match.start() for index, match in enumerate(_TOKEN_RE.finditer(text)) if index and index % per_chunk == 0]
    bounds = [0, *cuts, len(text)]
    pieces = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        piece = text[start:end]
        if piece:
            pieces.append((piece, count_text(piece)))
    return pieces
