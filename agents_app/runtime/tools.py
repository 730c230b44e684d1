"""Built-in integrations: small, offline Strands tools an agent can be given by name.

An integration in AGENT_CONFIG_JSON is `{"type": "builtin", "name": "<name>"}`
(`type` may be left out). The names are the keys of `BUILTIN_TOOLS`:

- `current_time`: the current date and time in an IANA time zone (default UTC).
- `calculator`: evaluates an arithmetic expression (+ - * / // % **, parentheses).
- `word_count`: counts the words, characters and lines of a text.

They call no network and keep no state. Their tool specs (name, description,
input schema) are part of the cached request prefix, so editing a docstring
here changes every agent's prefix and costs one cache write per agent.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from strands import tool
from strands.tools.decorator import DecoratedFunctionTool

from .config import Integration


def _utc_now() -> datetime:
    return datetime.now(UTC)


# The clock current_time reads; tests may replace it.
now: Callable[[], datetime] = _utc_now


@tool
def current_time(timezone: str = "UTC") -> str:
    """Return the current date and time in ISO 8601 format.

    Args:
        timezone: An IANA time zone name such as "UTC" or "Europe/Paris".
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"Error: unknown time zone {timezone!r}."
    return now().astimezone(zone).isoformat(timespec="seconds")


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_EXPRESSION_CHARS = 500
_MAX_EXPONENT = 1_000


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    raise ValueError("only numbers, + - * / // % ** and parentheses are allowed")


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression and return the result.

    Args:
        expression: An expression using numbers, + - * / // % ** and parentheses, e.g. "(2 + 3) * 4".
    """
    if len(expression) > _MAX_EXPRESSION_CHARS:
        return f"Error: expression longer than {_MAX_EXPRESSION_CHARS} characters."
    try:
        result = _evaluate(ast.parse(expression.strip(), mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as exc:
        return f"Error: {exc}"
    return str(result)


@tool
def word_count(text: str) -> dict:
    """Count the words, characters and lines in a text.

    Args:
        text: The text to count.
    """
    return {"words": len(text.split()), "characters": len(text), "lines": len(text.splitlines())}


BUILTIN_TOOLS: dict[str, DecoratedFunctionTool] = {
    "current_time": current_time,
    "calculator": calculator,
    "word_count": word_count,
}


def tools_for(integrations: Iterable[Integration]) -> list[DecoratedFunctionTool]:
    """The Strands tools for validated integrations (see `AgentConfig.integrations`), in config order."""
    return [BUILTIN_TOOLS[integration.name] for integration in integrations]
