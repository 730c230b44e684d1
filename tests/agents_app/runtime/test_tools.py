from datetime import UTC, datetime

import pytest

from agents_app.runtime import tools


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", "14"),
        ("(2 + 3) * 4", "20"),
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("-3 ** 2", "-9"),
        ("2 ** 10", "1024"),
        ("10 % 4", "2"),
        ("1 / 0", "Error: division by zero"),
        ("2 ** 100000", "Error: exponent too large"),
        ("__import__('os').system('true')", "Error: only numbers, + - * / // % ** and parentheses are allowed"),
        ("x + 1", "Error: only numbers, + - * / // % ** and parentheses are allowed"),
    ],
)
def test_calculator(expression, expected):
    assert tools.calculator(expression=expression) == expected


def test_calculator_rejects_syntax_errors_and_long_input():
    assert tools.calculator(expression="2 +").startswith("Error:")
    assert tools.calculator(expression="1+" * 300 + "1").startswith("Error: expression longer than")


def test_word_count():
    assert tools.word_count(text="one two  three\nfour") == {"words": 4, "characters": 19, "lines": 2}


def test_current_time(monkeypatch):
    monkeypatch.setattr(tools, "now", lambda: datetime(2026, 3, 5, 12, 0, tzinfo=UTC))
    assert tools.current_time() == "2026-03-05T12:00:00+00:00"
    assert tools.current_time(timezone="Europe/Paris") == "2026-03-05T13:00:00+01:00"
    assert tools.current_time(timezone="Mars/Olympus") == "Error: unknown time zone 'Mars/Olympus'."


def test_builtins_are_strands_tools_with_specs():
    assert sorted(tools.BUILTIN_TOOLS) == ["calculator", "current_time", "word_count"]
    for name, tool in tools.BUILTIN_TOOLS.items():
        assert tool.tool_name == name
        assert tool.tool_spec["inputSchema"]["json"]["type"] == "object"
