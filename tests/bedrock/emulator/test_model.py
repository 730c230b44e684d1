"""The deterministic model: answers, maxTokens, stop sequences and the tool-use rule."""

import json

from bedrock.emulator.model import choose_tool, example_input, generate
from bedrock.tokenizer import count_text
from tests.bedrock.support import assistant, user

WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Weather for a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            }
        },
    }
}
CLOCK = {"toolSpec": {"name": "clock", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
TOOLS = {"tools": [WEATHER, CLOCK]}


def test_same_request_same_answer_different_request_different_answer():
    request = {"messages": [user("Tell me about caching")]}
    first = generate(request, "ab" * 32, 1000)
    assert first == generate(request, "ab" * 32, 1000)
    assert first.stop_reason == "end_turn"
    assert first.output_tokens == count_text(first.content[0]["text"])
    assert "Tell me about caching" in first.content[0]["text"]
    assert generate(request, "cd" * 32, 1000).content != first.content


def test_max_tokens_cuts_the_answer():
    reply = generate({"messages": [user("hello")]}, "ab" * 32, 5)
    assert reply.stop_reason == "max_tokens"
    assert reply.output_tokens == 5


def test_stop_sequence_ends_the_answer():
    request = {"messages": [user("hello")], "inferenceConfig": {"stopSequences": ["Notes"]}}
    reply = generate(request, "ab" * 32, 1000)
    assert reply.stop_reason == "stop_sequence"
    assert "Notes" not in reply.content[0]["text"]


def test_no_tool_named_no_tool_called():
    assert choose_tool({"toolConfig": TOOLS, "messages": [user("what is up?")]}) is None
    assert choose_tool({"messages": [user("use get_weather")]}) is None  # no tools offered


def test_named_tool_is_called_with_input_from_its_schema():
    request = {"toolConfig": TOOLS, "messages": [user("Please call GET_WEATHER for Paris over 3 days")]}
    assert choose_tool(request) == "get_weather"
    reply = generate(request, "ef" * 32, 1000)
    assert reply.stop_reason == "tool_use"
    text, call = reply.content
    assert "get_weather" in text["text"]
    tool_use = call["toolUse"]
    assert tool_use["name"] == "get_weather"
    assert tool_use["toolUseId"].startswith("tooluse_")
    assert tool_use["input"] == {"city": "for Paris over 3 days", "days": 3, "unit": "celsius"}


def test_each_named_tool_once_then_an_answer_quoting_the_results():
    call = {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny, 21 degrees"}]}}
    messages = [user("use get_weather and clock"), assistant("calling", call), {"role": "user", "content": [result]}]
    request = {"toolConfig": TOOLS, "messages": messages}
    assert choose_tool(request) == "clock"

    call2 = {"toolUse": {"toolUseId": "t2", "name": "clock", "input": {}}}
    result2 = {"toolResult": {"toolUseId": "t2", "content": [{"json": {"time": "12:00"}}]}}
    done = {**request, "messages": [*messages, assistant("again", call2), {"role": "user", "content": [result2]}]}
    assert choose_tool(done) is None
    reply = generate(done, "ab" * 32, 1000)
    assert reply.stop_reason == "end_turn"
    assert "sunny, 21 degrees" in reply.content[0]["text"]
    assert "12:00" in reply.content[0]["text"]


def test_a_new_user_turn_may_call_the_tool_again():
    call = {"toolUse": {"toolUseId": "t1", "name": "clock", "input": {}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [{"text": "noon"}]}}
    messages = [user("clock?"), assistant("", call), {"role": "user", "content": [result]}, assistant("It is noon")]
    assert choose_tool({"toolConfig": TOOLS, "messages": [*messages, user("clock again please")]}) == "clock"


def test_tool_choice_forces_a_call():
    request = {"toolConfig": {**TOOLS, "toolChoice": {"tool": {"name": "clock"}}}, "messages": [user("hi")]}
    assert choose_tool(request) == "clock"
    request = {"toolConfig": {**TOOLS, "toolChoice": {"any": {}}}, "messages": [user("hi")]}
    assert choose_tool(request) == "get_weather"


def test_schema_values_follow_refs_defaults_and_types():
    schema = {
        "type": "object",
        "properties": {
            "item": {"$ref": "#/$defs/Item"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "flag": {"type": "boolean"},
            "ratio": {"anyOf": [{"type": "null"}, {"type": "number"}]},
            "mode": {"type": "string", "default": "fast"},
            "when": {"type": "string", "format": "date"},
        },
        "$defs": {"Item": {"type": "object", "properties": {"sku": {"type": "string", "maxLength": 3}}}},
    }
    value = example_input(schema, "order 12 via lookup widgets", "lookup")
    assert value == {
        "item": {"sku": "wid"},
        "tags": ["widgets", "widgets"],
        "flag": True,
        "ratio": 12.0,
        "mode": "fast",
        "when": "2025-01-01",
    }


def test_native_structured_output_answers_json_from_the_schema():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    text_format = {"type": "json_schema", "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "P"}}}
    request = {"messages": [user("John is 31")], "outputConfig": {"textFormat": text_format}}
    reply = generate(request, "ab" * 32, 1000)
    assert json.loads(reply.content[0]["text"]) == {"name": "John is 31", "age": 31}


def test_a_parallel_turn_asks_for_every_mention_at_once_then_answers():
    request = {"toolConfig": TOOLS, "messages": [user("In parallel: get_weather Paris, clock, get_weather Rome")]}

    reply = generate(request, "ab" * 32, 1000)

    assert reply.stop_reason == "tool_use"
    uses = [block["toolUse"] for block in reply.content if "toolUse" in block]
    assert [(u["name"], u["input"].get("city")) for u in uses] == [
        ("get_weather", "Paris, clock, get_weather Rome"),
        ("clock", None),
        ("get_weather", "Rome"),
    ]
    assert len({u["toolUseId"] for u in uses}) == 3
    results = [{"toolResult": {"toolUseId": u["toolUseId"], "content": [{"text": "ok"}]}} for u in uses]
    done = {**request, "messages": [*request["messages"], assistant("", *[{"toolUse": u} for u in uses])]}
    done["messages"].append({"role": "user", "content": results})
    assert choose_tool(done) is None
    assert generate(done, "cd" * 32, 1000).stop_reason == "end_turn"
    # Without the word, one call per tool and reply, as before.
    assert choose_tool({"toolConfig": TOOLS, "messages": [user("get_weather Paris, clock")]}) == "get_weather"
