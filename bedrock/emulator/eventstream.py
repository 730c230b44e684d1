"""Encoder for the AWS binary event-stream framing (``application/vnd.amazon.eventstream``).

One message is: total length (u32), headers length (u32), CRC32 of those 8
bytes, the headers, the payload, and a CRC32 of everything before it. Every
header the emulator sends is a string (type 7): 1-byte name length, name,
type byte, 2-byte value length, value. botocore's ``EventStreamBuffer``
decodes exactly this.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode()
        raw_value = value.encode()
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    raw_headers = _headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack("!I", zlib.crc32(body))


def encode_event(event_type: str, payload: dict[str, Any]) -> bytes:
    """An event such as ``messageStart`` with its JSON payload."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())


def encode_exception(exception_type: str, message: str) -> bytes:
    """An in-stream exception; `exception_type` is the stream member name, e.g. ``throttlingException``."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps({"message": message}).encode())
