"""The emulator as a separate process (`python -m bedrock.emulator`), driven over its control endpoints."""

import argparse
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bedrock.emulator.server import add_arguments
from tests.bedrock.support import SONNET_46, client, cp, prompt_of, user

ROOT = Path(__file__).resolve().parents[3]


def call(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def emulator_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "bedrock.emulator", "--port", "0", "--throttle-rate", "0", "--seed", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Bedrock emulator listening on http://127.0.0.1:"), line
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_subprocess_is_driven_through_control_endpoints(emulator_process):
    url = emulator_process
    assert call(url, "/_emulator/health") == {"status": "ok"}
    bedrock = client(url)
    request = {"modelId": SONNET_46, "system": [{"text": prompt_of(2500)}, cp()], "messages": [user("hi")]}
    assert bedrock.converse(**request)["usage"]["cacheWriteInputTokens"] == 2500

    assert call(url, "/_emulator/clock", {"advance": 301})["offset_seconds"] == 301
    assert bedrock.converse(**request)["usage"]["cacheWriteInputTokens"] == 2500  # expired, written again

    faults = call(url, "/_emulator/faults", {"fail_next": ["ThrottlingException"]})
    assert faults["fail_next"] == ["ThrottlingException"]
    with pytest.raises(bedrock.exceptions.ThrottlingException):
        bedrock.converse(**request)

    stats = call(url, "/_emulator/stats")
    assert stats["requests"]["converse"] == 3
    assert stats["errors"] == {"ThrottlingException": 1}
    assert stats["tokens"]["cacheWrite"] == 5000
    assert stats["faults"]["seed"] == 1
    assert [r["usage"]["cacheWriteInputTokens"] for r in call(url, "/_emulator/requests")] == [2500, 2500]

    assert call(url, "/_emulator/latency", {"spec": "base_ms=1"})["base_ms"] == 1.0
    assert call(url, "/_emulator/reset", {}) == {"status": "reset"}
    stats = call(url, "/_emulator/stats")
    assert (stats["requests"], stats["cache_entries"], stats["clock_offset_seconds"]) == ({}, 0, 0.0)
    assert stats["latency"]["base_ms"] == 0.0


def test_options_come_from_flags_then_environment():
    parser = argparse.ArgumentParser()
    add_arguments(parser, environ={"BEDROCK_EMULATOR_PORT": "9001", "BEDROCK_EMULATOR_SEED": "4"})
    options = parser.parse_args(["--throttle-rate", "0.1", "--latency", "realistic"])
    assert (options.host, options.port, options.seed, options.throttle_rate) == ("127.0.0.1", 9001, 4, 0.1)
    assert options.latency == "realistic"
