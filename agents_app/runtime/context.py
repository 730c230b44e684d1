"""Which invocation a turn belongs to, for everything the turn sends out: Bedrock's `requestMetadata` and spans.

The caller (a worker's task) opens `invocation_scope()` around a turn and
fills it with `invocation_bind(...)` once it knows the ids; a context
variable carries them, and asyncio copies it into the thread Strands streams
from, so the shared client's hook (`clients.py`) reads the ids of the very
turn whose call it sends. Outside a scope nothing is added.

`requestMetadata` is sent on every Converse and ConverseStream call so that
Bedrock's model invocation logs join the service's rows. Bedrock refuses the
whole call when a pair breaks its limits (`bedrock.facts`, [BR-META]), so
values are made to fit here: characters outside the allowed set become `_`
and values are cut at 256 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from bedrock import facts

# The ids, in the order they are sent; these keys are what invocation logs are filtered by.
ID_KEYS = ("tenant_id", "agent_id", "session_id", "invocation_id")
_OUTSIDE = re.compile(f"(?!{facts.REQUEST_METADATA_CHARACTERS}).", re.DOTALL)

_ids: ContextVar[dict[str, str] | None] = ContextVar("invocation_ids", default=None)


@contextmanager
def invocation_scope(**ids) -> Iterator[dict[str, str]]:
    """A fresh set of ids for the block (starting with `ids`), dropped when it ends."""
    scope = {key: str(value) for key, value in ids.items() if value is not None}
    token = _ids.set(scope)
    try:
        yield scope
    finally:
        _ids.reset(token)


def invocation_bind(**ids) -> None:
    """Add ids to the current scope (nothing outside one)."""
    scope = _ids.get()
    if scope is not None:
        scope.update({key: str(value) for key, value in ids.items() if value is not None})


def invocation_ids() -> dict[str, str]:
    return dict(_ids.get() or {})


def metadata_value(value: str) -> str:
    return _OUTSIDE.sub("_", value)[: facts.REQUEST_METADATA_VALUE_MAX]


def request_metadata() -> dict[str, str] | None:
    """The current turn's `requestMetadata`, within Bedrock's limits; None outside a scope or with no ids."""
    ids = _ids.get()
    if not ids:
        return None
    known = [key for key in ID_KEYS if key in ids]
    return {key: metadata_value(ids[key]) for key in known[: facts.REQUEST_METADATA_MAX_PAIRS]} or None


def trace_attributes() -> dict[str, str]:
    """The ids as span attributes for Strands' spans (`Agent(trace_attributes=...)`)."""
    ids = _ids.get() or {}
    return {f"agent_platform.{key.removesuffix('_id')}.id": ids[key] for key in ID_KEYS if key in ids}
