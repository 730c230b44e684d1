import json

import botocore.session
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from botocore.parsers import EventStreamJSONParser

from bedrock.emulator.eventstream import encode_event, encode_exception, encode_message


def decode(data: bytes):
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


@pytest.fixture(scope="module")
def stream_shape():
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    return model.operation_model("ConverseStream").output_shape.members["stream"]


def test_event_round_trips_through_botocore_buffer():
    [message] = decode(encode_event("messageStart", {"role": "assistant"}))
    assert message.headers == {
        ":event-type": "messageStart",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(message.payload) == {"role": "assistant"}


def test_several_events_split_at_any_byte_decode_in_order():
    data = b"".join(
        encode_event("contentBlockDelta", {"delta": {"text": f"t{i}"}, "contentBlockIndex": 0}) for i in range(5)
    )
    buffer = EventStreamBuffer()
    messages = []
    for i in range(0, len(data), 7):  # arbitrary chunking, as a socket delivers it
        buffer.add_data(data[i : i + 7])
        messages.extend(buffer)
    assert [json.loads(m.payload)["delta"]["text"] for m in messages] == [f"t{i}" for i in range(5)]


def test_corrupted_message_fails_its_checksum():
    data = bytearray(encode_message({":event-type": "x"}, b"{}"))
    data[-6] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        decode(bytes(data))


def test_botocore_parser_reads_events_and_exceptions(stream_shape):
    parser = EventStreamJSONParser()
    [start] = decode(encode_event("messageStart", {"role": "assistant"}))
    assert parser.parse(start.to_response_dict(), stream_shape) == {"messageStart": {"role": "assistant"}}

    metadata = {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3, "cacheReadInputTokens": 0}}
    [meta] = decode(encode_event("metadata", {**metadata, "metrics": {"latencyMs": 5}}))
    parsed = parser.parse(meta.to_response_dict(), stream_shape)
    assert parsed["metadata"]["usage"]["cacheReadInputTokens"] == 0
    assert parsed["metadata"]["metrics"] == {"latencyMs": 5}

    [error] = decode(encode_exception("throttlingException", "slow down"))
    assert error.headers[":message-type"] == "exception"
    response = error.to_response_dict()
    assert response["status_code"] == 400
    assert parser.parse(response, stream_shape)["Error"] == {"Code": "throttlingException", "Message": "slow down"}
