"""A Converse request as Bedrock's cache sees it: content blocks in prefix order, and the checkpoints among them.

The prefix order is tools → system → messages. Each content block (a
``cachePoint`` is not one) gets a canonical string, deterministic JSON of the
block with where it stands (field, message index, role); ``inferenceConfig``,
``toolChoice`` and the cache points themselves are not part of it. The prefix
hash after block k chains the hash after block k-1 with block k, starting from
the base model id, so models never share entries and one changed byte before a
checkpoint changes its key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from bedrock import facts
from bedrock.errors import validation
from bedrock.tokenizer import canonical_json, count_block

DEFAULT_TTL = "5m"


@dataclass(frozen=True)
class Checkpoint:
    field: str  # tools, system or messages
    position: int  # content blocks before it, in prefix order
    tokens: int  # tokens before it
    ttl: str  # "5m" or "1h"
    where: str  # for error messages: "messages.2.content.1"
    index: int  # place in its own list (system blocks, a message's content, the tools)


@dataclass
class Prefix:
    # hashes[k] / tokens[k]: the prefix of the first k content blocks.
    hashes: list[str] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.tokens[-1]

    @property
    def request_hash(self) -> str:
        """Hash of everything the model sees (excluding inferenceConfig): same request, same hash."""
        return self.hashes[-1]


def _sections(request: dict) -> list[tuple[str, str, list[dict]]]:
    """(field, label, blocks) in prefix order; label prefixes a block index in error messages."""
    sections = [
        (facts.TOOLS, "toolConfig.tools", (request.get("toolConfig") or {}).get("tools") or []),
        (facts.SYSTEM, "system", request.get("system") or []),
    ]
    for index, message in enumerate(request.get("messages") or []):
        sections.append((facts.MESSAGES, f"messages.{index}.content", message.get("content") or []))
    return sections


def build_prefix(request: dict, model_key: str, *, claude: bool = False) -> Prefix:
    """Flatten the request into block hashes and token sums, recording each checkpoint's place.

    `claude`: count tokens as Claude does (``bedrock.tokenizer``), else by the published vocabulary.
    """
    digest = hashlib.sha256(model_key.encode()).digest()
    prefix = Prefix(hashes=[digest.hex()], tokens=[0])
    roles = [m.get("role", "") for m in request.get("messages") or []]
    message_index = -1
    for field_name, label, blocks in _sections(request):
        if field_name == facts.MESSAGES:
            message_index += 1
        for index, block in enumerate(blocks):
            point = block.get("cachePoint") if isinstance(block, dict) else None
            if point is not None:
                prefix.checkpoints.append(
                    Checkpoint(
                        field=field_name,
                        position=len(prefix.tokens) - 1,
                        tokens=prefix.tokens[-1],
                        ttl=point.get("ttl") or DEFAULT_TTL,
                        where=f"{label}.{index}",
                        index=index,
                    )
                )
                continue
            if field_name == facts.MESSAGES:
                place = [field_name, message_index, roles[message_index], block]
            else:
                place = [field_name, block]
            digest = hashlib.sha256(digest + canonical_json(place).encode()).digest()
            prefix.hashes.append(digest.hex())
            prefix.tokens.append(prefix.tokens[-1] + count_block(block, claude))
    return prefix


def check_checkpoints(prefix: Prefix, model: facts.ModelFacts) -> None:
    """Reject checkpoints the way Bedrock does; a checkpoint below the minimum is fine (it caches nothing)."""
    points = prefix.checkpoints
    if not points:
        return
    if not model.supports_caching:
        raise validation(facts.UNSUPPORTED_CACHING_MESSAGE)
    if len(points) > model.max_checkpoints:
        raise validation(
            f"A maximum of {model.max_checkpoints} cache points may be provided per request. Found {len(points)}."
        )
    previous_seconds = None
    for point in points:
        if point.field not in model.cache_fields:
            raise validation(
                f"{point.where}: this model does not support cache points in {_field_label(point.field)}. "
                f"Cache points are supported in: {', '.join(_field_label(f) for f in model.cache_fields)}."
            )
        if point.ttl not in facts.TTL_SECONDS:
            raise validation(f"{point.where}: invalid cache point ttl {point.ttl!r}; expected one of 5m, 1h.")
        if point.ttl == "1h" and not model.supports_1h_ttl:
            raise validation(f"{point.where}: this model does not support a cache point ttl of 1h.")
        seconds = facts.TTL_SECONDS[point.ttl]
        if previous_seconds is not None and seconds > previous_seconds:
            raise validation(
                f"A cache point with ttl='{point.ttl}' must not come after one with a shorter ttl. "
                "Cache points are processed in the order toolConfig, system, messages."
            )
        previous_seconds = seconds
        # Bedrock refuses a checkpoint with nothing before it, and one that opens a message.
        if point.position == 0 or (point.field == facts.MESSAGES and point.index == 0):
            raise validation(f"{point.where}: there is nothing available to cache before this cache point.")


def _field_label(field_name: str) -> str:
    return "toolConfig" if field_name == facts.TOOLS else field_name
