"""The emulator's one tokenizer, shared by count-tokens, converse and converse-stream.

Text is counted with Claude's published BPE vocabulary (``data/claude-tokenizer.json``,
run by Hugging Face ``tokenizers``; loaded once, on first use, never downloaded).
That vocabulary predates Claude 3, whose tokenizer (shared by Claude 3 through
Opus 4.6) is not published. Measured against a reconstruction of it, the
published vocabulary is close on English prose but low on code and JSON, and
three rules account for most of the difference, so Claude models count
(``claude=True``) the published vocabulary's tokens plus:

- a line break followed by a space or tab costs one more token (Claude keeps a
  line's indentation apart from the line break before it);
- a run of two or more line breaks costs one token less (one token in Claude);
- a number costs one token per three digits, plus one for a space before it
  (Claude never joins a space and digits);

and the sum is scaled by ``CLAUDE_SCALE`` (1.04), the remaining mean difference.

``tests/bedrock/corpus`` holds the measurements; ``bedrock.facts`` says which
models count which way.

What is counted, per content block, is what Converse hands the model:

- a text block (system or message): its text;
- a tool spec: the tool definition Claude receives, ``{"name", "description",
  "input_schema"}`` as JSON (not Converse's ``toolSpec``/``inputSchema``/``json``
  wrappers);
- a tool use: ``{"id", "name", "input"}`` as JSON;
- a tool result: its tool-use id, then each content item: text as text, ``json``
  as JSON, anything else as the JSON of the item (plus the word ``error`` for a
  failed result);
- any other block (image, document, reasoning, guard content): its JSON, which is
  deterministic but not how Claude counts images or documents;
- ``cachePoint`` blocks count 0. Nothing is added per message or per request
  (Claude's few tokens of message framing are not modelled), so the tokens of a
  request are exactly the sum of its blocks' and every prefix has a token count.

Speed: ASCII text (nearly all prompts) is split into the vocabulary's pre-tokens
here and each distinct pre-token is encoded once; other text goes through the
whole ``tokenizers`` pipeline. Whole texts are remembered too, since every turn of
a conversation resends the system prompt, the tools and the history.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from pathlib import Path
from typing import Any

VOCABULARY_PATH = Path(__file__).resolve().parent / "data" / "claude-tokenizer.json"

# The vocabulary's pre-tokenizer (GPT-2's pattern) written for ASCII text, where \p{L} is
# [A-Za-z], \p{N} is [0-9] and \s is the six ASCII white-space characters.
_WS = "\t\n\v\f\r "
_ASCII_PRETOKEN = re.compile(
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^{_WS}A-Za-z0-9]+|[{_WS}]+(?![^{_WS}])|[{_WS}]+"
)
# The vocabulary's special tokens match before pre-tokenisation; text holding one takes the full path.
_SPECIAL = re.compile(r"<(?:EOT|META|META_START|META_END|SOS)>")
_MAX_PIECES = 500_000

_lock = threading.Lock()
_tokenizer = None
_byte_chars: list[str] = []
_piece_counts: dict[str, int] = {}


def load():
    """The published vocabulary as a ``tokenizers.Tokenizer``, loaded on first use (about 0.2 s)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                # Imported here so that reading bedrock.facts needs nothing but the standard library.
                from tokenizers import Tokenizer

                _byte_chars[:] = _byte_level_chars()
                _tokenizer = Tokenizer.from_file(str(VOCABULARY_PATH))
    return _tokenizer


def _byte_level_chars() -> list[str]:
    """GPT-2's byte-to-character map, in which the vocabulary's byte-level tokens are written."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in kept}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _piece_count(piece: str) -> int:
    count = _piece_counts.get(piece)
    if count is None:
        model = load().model
        count = len(model.tokenize("".join(_byte_chars[b] for b in piece.encode())))
        if len(_piece_counts) >= _MAX_PIECES:
            _piece_counts.clear()
        _piece_counts[piece] = count
    return count


def clear_caches(pre_tokens: bool = False) -> None:
    """Forget every counted text, and with `pre_tokens` every pre-token too (for benchmarks)."""
    _count.cache_clear()
    _count_claude.cache_clear()
    if pre_tokens:
        _piece_counts.clear()


def _fast(text: str) -> bool:
    return text.isascii() and not ("<" in text and _SPECIAL.search(text))


def count_text(text: str, claude: bool = False) -> int:
    """Tokens of `text`: the published vocabulary's count, or with `claude` Claude 3 to Opus 4.6's estimate."""
    if not text:
        return 0
    return _count_claude(text) if claude else _count(text)


# Measured on tests/bedrock/corpus (23 samples, reference.json): after the three rules the published
# vocabulary still counts 4.5 % below Claude on average (prose 2 %, Python 5 %, JSON tool specs 6 %).
CLAUDE_SCALE = 1.04
_DIGITS = re.compile(r"( ?)([0-9]+)")
_LINE_BREAK_RUNS = re.compile(r"\n\n+")


@functools.lru_cache(maxsize=8192)
def _count_claude(text: str) -> int:
    count = _count(text) + text.count("\n ") + text.count("\n\t")
    if "\n\n" in text:
        count -= len(_LINE_BREAK_RUNS.findall(text))
    for space, digits in _DIGITS.findall(text):
        count += len(space) + -(-len(digits) // 3) - _piece_count(space + digits)
    return int(count * CLAUDE_SCALE + 0.5)


@functools.lru_cache(maxsize=8192)
def _count(text: str) -> int:
    if _fast(text):
        parts = _ASCII_PRETOKEN.findall(text)
        try:
            return sum(map(_piece_counts.__getitem__, parts))
        except KeyError:
            return sum(map(_piece_count, parts))
    return len(load().encode(text, add_special_tokens=False).ids)


def pieces(text: str) -> list[tuple[str, int]]:
    """`text` cut where the vocabulary may cut it, with each piece's tokens; the pieces join back into `text`."""
    if not text:
        return []
    if _fast(text):
        return [(piece, _piece_count(piece)) for piece in _ASCII_PRETOKEN.findall(text)]
    out: list[tuple[str, int]] = []
    start = 0
    for _, end in load().encode(text, add_special_tokens=False).offsets:
        if end <= start and out:
            # A character spread over several byte-level tokens: one piece.
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((text[start:end], 1))
            start = max(start, end)
    if start < len(text):
        out.append((text[start:], 0))
    return out


def first_tokens(text: str, limit: int, claude: bool = False) -> str:
    """The longest start of `text` holding at most `limit` tokens (for maxTokens)."""
    cut = _first_tokens(text, limit)
    while claude and cut and count_text(cut, True) > limit:
        cut = _first_tokens(cut, count_text(cut) - 1)
    return cut


def _first_tokens(text: str, limit: int) -> str:
    if limit <= 0:
        return ""
    used = 0
    kept = []
    for piece, tokens in pieces(text):
        if used + tokens > limit:
            if piece.isascii():
                kept.append(_piece_start(piece, limit - used))
            return "".join(kept).rstrip()
        kept.append(piece)
        used += tokens
    return text


def _piece_start(piece: str, tokens: int) -> str:
    """The first `tokens` tokens of an ASCII pre-token, as text."""
    if tokens <= 0:
        return ""
    encoded = load().model.tokenize("".join(_byte_chars[b] for b in piece.encode()))
    byte_of = {char: byte for byte, char in enumerate(_byte_chars)}
    return bytes(byte_of[char] for token in encoded[:tokens] for char in token.value).decode()


def split_tokens(text: str, per_chunk: int) -> list[tuple[str, int]]:
    """`text` cut into chunks of about `per_chunk` tokens (between pre-tokens), with each chunk's tokens."""
    chunks: list[tuple[str, int]] = []
    current: list[str] = []
    tokens = 0
    for piece, count in pieces(text):
        current.append(piece)
        tokens += count
        if tokens >= per_chunk:
            chunks.append(("".join(current), tokens))
            current, tokens = [], 0
    if current:
        chunks.append(("".join(current), tokens))
    return chunks


# -- Converse content blocks ---------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """Deterministic JSON (keys sorted, no spaces): the same value always gives the same string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json(value: Any) -> str:
    # As a JSON encoder writes it for the model: keys in the order given, default separators.
    return json.dumps(value, ensure_ascii=False)


def block_text(block: dict[str, Any]) -> str:
    """What the model reads of one content block, as a string (see the module docstring)."""
    if "text" in block and len(block) == 1 and isinstance(block["text"], str):
        return block["text"]
    if "toolSpec" in block:
        spec = block["toolSpec"]
        tool = {"name": spec.get("name", ""), "description": spec.get("description", "")}
        tool["input_schema"] = (spec.get("inputSchema") or {}).get("json") or {}
        return _json(tool)
    if "toolUse" in block:
        use = block["toolUse"]
        return _json({"id": use.get("toolUseId", ""), "name": use.get("name", ""), "input": use.get("input", {})})
    if "toolResult" in block:
        result = block["toolResult"]
        parts = [result.get("toolUseId", "")]
        for item in result.get("content") or []:
            if isinstance(item.get("text"), str) and len(item) == 1:
                parts.append(item["text"])
            else:
                parts.append(_json(item["json"] if "json" in item and len(item) == 1 else item))
        if result.get("status") == "error":
            parts.append("error")
        return "\n".join(parts)
    return _json(block)


def count_block(block: dict[str, Any], claude: bool = False) -> int:
    """Tokens of one content block (message, system or tool)."""
    if "cachePoint" in block:
        return 0
    return count_text(block_text(block), claude)


def count_request(request: dict[str, Any], claude: bool = False) -> int:
    """Tokens of a Converse-shaped request: tools, system and messages (inferenceConfig is not input)."""
    total = 0
    for tool in (request.get("toolConfig") or {}).get("tools") or []:
        total += count_block(tool, claude)
    for block in request.get("system") or []:
        total += count_block(block, claude)
    for message in request.get("messages") or []:
        for block in message.get("content") or []:
            total += count_block(block, claude)
    return total
