"""Deterministic model replies: the same request always gets the same answer.

Tool-use rule (so that Strands' agent loop runs for real):

- The *turn* starts at the newest user message that holds text; the tools
  *named* in that text (a tool's exact name as a whole word, case-insensitive,
  in the order of ``toolConfig.tools``) are the tools the model wants.
- Each model call in the turn calls the next wanted tool that has no
  ``toolUse`` in the turn yet: a short text block, then a ``toolUse`` whose
  input is generated from the tool's JSON schema (stopReason ``tool_use``).
- When every wanted tool has been called, the model answers in text that
  quotes each tool result of the turn (stopReason ``end_turn``).
- ``toolChoice`` ``{"tool": {"name": X}}`` always calls X; ``{"any": {}}``
  always calls a tool (the next wanted one, else the first offered).
- Parallel calls: when the text holds the word ``parallel``, every mention of
  a tool's name is one call, and the first call of the turn asks for all of
  them at once (a short text block, then one ``toolUse`` per mention, each
  with the words after its own mention); Strands runs them and sends the
  results back in one message. Twelve mentions make a 25-block tool loop.

Generated tool input: ``default``/``const``/first ``enum`` value when the
schema has one; strings take the words after the tool's name in the user text
(else the property name); integers and numbers the first number in the user
text (else the minimum, else 1); booleans true; arrays one item; objects all
their properties.

Text answers are built from the request hash, ``maxTokens`` cuts them
(stopReason ``max_tokens``) and a stop sequence ends them (``stop_sequence``).
With ``outputConfig.textFormat`` of type ``json_schema`` (native structured
output) the text is JSON generated from that schema by the same rules.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

from bedrock.errors import validation
from bedrock.tokenizer import canonical_json, count_text, first_tokens

_WORDS = [
    "cache",
    "prefix",
    "token",
    "latency",
    "request",
    "model",
    "answer",
    "context",
    "prompt",
    "system",
    "history",
    "tool",
    "result",
    "turn",
    "checkpoint",
    "write",
    "read",
    "cost",
    "price",
    "budget",
    "agent",
    "session",
    "stream",
    "event",
    "usage",
    "metric",
    "region",
    "profile",
    "window",
    "batch",
    "retry",
    "limit",
    "quota",
    "schema",
    "input",
    "output",
    "value",
    "record",
    "detail",
    "summary",
    "plan",
    "step",
]


@dataclass
class Reply:
    content: list[dict[str, Any]]
    stop_reason: str
    output_tokens: int


def _tool_specs(request: dict) -> list[dict]:
    tools = (request.get("toolConfig") or {}).get("tools") or []
    return [tool["toolSpec"] for tool in tools if "toolSpec" in tool]


def _turn(messages: list[dict]) -> tuple[str, list[dict]]:
    """The newest user text and the messages after it (this turn's tool calls and results)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.get("role") != "user":
            continue
        texts = [block["text"] for block in message.get("content") or [] if isinstance(block.get("text"), str)]
        if texts:
            return " ".join(texts), messages[index + 1 :]
    return "", messages


def _named(text: str, name: str) -> re.Match | None:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE)


def _tool_results(turn: list[dict]) -> list[tuple[str, str]]:
    """(tool name, result text) for each tool result in the turn."""
    names = {}
    results = []
    for message in turn:
        for block in message.get("content") or []:
            if "toolUse" in block:
                names[block["toolUse"].get("toolUseId")] = block["toolUse"].get("name", "tool")
            elif "toolResult" in block:
                result = block["toolResult"]
                parts = []
                for item in result.get("content") or []:
                    parts.append(item["text"] if "text" in item else canonical_json(item.get("json", item)))
                results.append((names.get(result.get("toolUseId"), "tool"), " ".join(parts)))
    return results


_PARALLEL = re.compile(r"\bparallel\b", re.IGNORECASE)


def _mentions(text: str, specs: list[dict]) -> list[tuple[int, str]]:
    """(position, tool name) of every mention of an offered tool in `text`, in the order of the text."""
    found = []
    for spec in specs:
        name = spec["name"]
        found.extend((m.start(), name) for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.I))
    return sorted(found)


def parallel_calls(request: dict) -> list[tuple[str, str]]:
    """(tool name, the text from its mention on) of each call the first reply of a parallel turn asks for;
    empty when the turn is not parallel or has called its tools already."""
    specs = _tool_specs(request)
    text, turn = _turn(request.get("messages") or [])
    if not specs or not _PARALLEL.search(text) or (request.get("toolConfig") or {}).get("toolChoice", {}).get("tool"):
        return []
    if any("toolUse" in block for message in turn for block in message.get("content") or []):
        return []
    return [(name, text[start:]) for start, name in _mentions(text, specs)]


def choose_tool(request: dict) -> str | None:
    """The tool this call uses under the rule above, or None for a text answer."""
    specs = _tool_specs(request)
    if not specs:
        return None
    text, turn = _turn(request.get("messages") or [])
    called = {block["toolUse"].get("name") for m in turn for block in m.get("content") or [] if "toolUse" in block}
    if _PARALLEL.search(text) and called:
        return None  # a parallel turn asked for all its calls at once
    wanted = [spec["name"] for spec in specs if _named(text, spec["name"])]
    pending = [name for name in wanted if name not in called]
    choice = (request.get("toolConfig") or {}).get("toolChoice") or {}
    if "tool" in choice:
        return choice["tool"].get("name")
    if "any" in choice:
        return pending[0] if pending else specs[0]["name"]
    return pending[0] if pending else None


def example_input(schema: dict, text: str, tool_name: str) -> Any:
    """JSON input for a tool, generated from its input schema and the user's words."""
    match = _named(text, tool_name)
    after = text[match.end() :] if match else text
    hint = " ".join(after.strip(" :,.;-").split()[:8]) or " ".join(text.split()[:8])
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text)
    return _value(schema, schema.get("$defs") or schema.get("definitions") or {}, hint, numbers, "value", 0)


def _value(schema: Any, defs: dict, hint: str, numbers: list[str], name: str, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "$ref" in schema:
        target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return _value({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs, hint, numbers, name, depth)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if not (isinstance(o, dict) and o.get("type") == "null")]
        if options:
            return _value(options[0], defs, hint, numbers, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {key: _value(sub, defs, hint, numbers, key, depth + 1) for key, sub in props.items()}
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        return [_value(schema.get("items") or {}, defs, hint, numbers, name, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        value = float(numbers[0]) if numbers else float(schema.get("minimum", 1))
        if "minimum" in schema:
            value = max(value, schema["minimum"])
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    formats = {"date": "2025-01-01", "date-time": "2025-01-01T00:00:00Z", "email": "user@example.com"}
    value = formats.get(schema.get("format"), hint or name)
    if "maxLength" in schema:
        value = value[: schema["maxLength"]]
    if len(value) < schema.get("minLength", 0):
        value = value.ljust(schema["minLength"], "x")
    return value


def _answer_text(request_hash: str, text: str, turn: list[dict]) -> str:
    rng = random.Random(int(request_hash[:16], 16))  # int seeds give the same sequence on every Python 3
    words = [rng.choice(_WORDS) for _ in range(12 + rng.randrange(24))]
    results = _tool_results(turn)
    if results:
        quoted = "; ".join(f"the {name} tool returned {first_tokens(result, 40)!r}" for name, result in results)
        opening = f"Based on the tool results: {quoted}."
    else:
        asked = first_tokens(text, 12) or "nothing in particular"
        opening = f"Emulated answer {request_hash[:8]} to {asked!r}."
    return f"{opening} Notes: {' '.join(words)}."


def _output_schema(request: dict) -> dict | None:
    text_format = (request.get("outputConfig") or {}).get("textFormat") or {}
    if text_format.get("type") != "json_schema":
        return None
    raw = ((text_format.get("structure") or {}).get("jsonSchema") or {}).get("schema") or "{}"
    try:
        return json.loads(raw)
    except ValueError as error:
        raise validation(f"outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON: {error}") from error


def _cut_at_stop_sequence(text: str, stops: list[str]) -> tuple[str, bool]:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _parallel_reply(request: dict, request_hash: str, calls: list[tuple[str, str]], claude: bool) -> Reply:
    specs = {spec["name"]: spec for spec in _tool_specs(request)}
    lead = f"I will use {len(calls)} tools at once."
    content: list[dict[str, Any]] = [{"text": lead}]
    tokens = count_text(lead, claude)
    for number, (name, words) in enumerate(calls):
        schema = (specs[name].get("inputSchema") or {}).get("json") or {}
        tool_input = example_input(schema, words, name)
        content.append(
            {"toolUse": {"toolUseId": f"tooluse_{request_hash[:18]}_{number:03d}", "name": name, "input": tool_input}}
        )
        tokens += count_text(name, claude) + count_text(canonical_json(tool_input), claude)
    return Reply(content, "tool_use", tokens)


def generate(request: dict, request_hash: str, max_tokens: int, claude: bool = False) -> Reply:
    """The reply for a request; `request_hash` is the prefix hash of the whole request.

    `claude`: count output tokens as Claude does (``bedrock.tokenizer``).
    """
    text, turn = _turn(request.get("messages") or [])
    stops = (request.get("inferenceConfig") or {}).get("stopSequences") or []
    calls = parallel_calls(request)
    if len(calls) > 1:
        return _parallel_reply(request, request_hash, calls, claude)
    tool_name = choose_tool(request)
    if tool_name is not None:
        spec = next((s for s in _tool_specs(request) if s["name"] == tool_name), {"inputSchema": {"json": {}}})
        tool_input = example_input((spec.get("inputSchema") or {}).get("json") or {}, text, tool_name)
        lead = f"I will use the {tool_name} tool."
        tool_use = {"toolUseId": f"tooluse_{request_hash[:22]}", "name": tool_name, "input": tool_input}
        tokens = (
            count_text(lead, claude) + count_text(tool_name, claude) + count_text(canonical_json(tool_input), claude)
        )
        if tokens <= max_tokens:
            return Reply([{"text": lead}, {"toolUse": tool_use}], "tool_use", tokens)
        cut = first_tokens(lead, max_tokens, claude)
        return Reply([{"text": cut}] if cut else [], "max_tokens", count_text(cut, claude))

    schema = _output_schema(request)
    answer = canonical_json(example_input(schema, text, "")) if schema else _answer_text(request_hash, text, turn)
    stop_reason = "end_turn"
    if count_text(answer, claude) > max_tokens:
        answer, stop_reason = first_tokens(answer, max_tokens, claude), "max_tokens"
    answer, stopped = _cut_at_stop_sequence(answer, stops)
    if stopped:
        stop_reason = "stop_sequence"
    return Reply([{"text": answer}] if answer else [], stop_reason, count_text(answer, claude))
