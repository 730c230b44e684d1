"""JSON request bodies, read within limits: the API's parser and the admin's import file alike.

Python's JSON decoder recurses once per level of nesting, and so does every
walk over the result afterwards (validation, copies, the encoder that stores
it): a small body of deeply nested arrays would exhaust the interpreter's
recursion limit and answer 500. Bodies are therefore scanned for their depth
before they are decoded, and refused with a 400 naming the top-level field that
nests too deep. A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is a 413.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from rest_framework import exceptions, parsers

from agent_platform.errors import ApplicationError, RequestTooLarge

# Far more than an agent document needs (its deepest part, an integration's settings, sits at 4).
MAX_JSON_DEPTH = 32

# A JSON string (escapes included), or a bracket. Brackets inside strings are not nesting.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_depth_check(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """An ApplicationError when `text` nests arrays or objects deeper than `max_depth`, naming the top-level
    field whose value does (`non_field_errors` when the body itself is the array)."""
    depth, key, field, object_body = 0, None, "non_field_errors", False
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            if depth == 1:
                key = token  # in an object body, the last string before a nested value is that value's key
            continue
        if token in "[{":
            depth += 1
            if depth == 1:
                object_body = token == "{"
            elif depth == 2 and object_body and key is not None:
                field = _decoded(key)
            if depth > max_depth:
                raise ApplicationError(f"JSON nested deeper than {max_depth} levels.", field)
        else:
            depth -= 1
            if depth == 1:
                field = "non_field_errors"


def _decoded(key: str) -> str:
    try:
        return json.loads(key)
    except ValueError:
        return "non_field_errors"


def json_loads(text: str, *, max_depth: int = MAX_JSON_DEPTH):
    """`json.loads` for input from outside: too deep is an ApplicationError naming the field, before decoding."""
    json_depth_check(text, max_depth=max_depth)
    return json.loads(text)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the size and depth limits."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads(raw.decode(encoding))
        except ApplicationError as exc:
            raise exceptions.ParseError(exc.errors) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
