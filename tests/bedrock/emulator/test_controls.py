"""What a user finds without reading the code: --help, the control index, and the cache listing."""

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bedrock.emulator.server import CONTROL_ENDPOINTS, ENV
from tests.bedrock.support import SONNET_46, client, cp, prompt_of, user

ROOT = Path(__file__).resolve().parents[3]


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize(
    "command", [["-m", "bedrock.emulator"], ["manage.py", "run_bedrock_emulator"]], ids=["module", "manage.py"]
)
def test_help_lists_every_option_its_environment_variable_and_the_control_endpoints(command):
    shown = subprocess.run(
        [sys.executable, *command, "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--host", "--port", "--latency", "--throttle-rate", "--error-rate", "--slow-rate", "--slow-seconds"):
        assert flag in shown
    assert "--seed" in shown
    for variable in ENV.values():
        assert variable in shown
    for method, path, _ in CONTROL_ENDPOINTS:
        assert f"{method:4} {path}" in shown
    assert "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" in shown


def test_the_index_lists_the_control_endpoints_with_a_line_each(bedrock_emulator):
    index = get(bedrock_emulator.url, "/_emulator/")["endpoints"]
    paths = {(e["method"], e["path"]) for e in index}
    for route in ("/_emulator/faults", "/_emulator/latency", "/_emulator/cache", "/_emulator/reset"):
        assert any(path == route for _, path in paths)
    assert all(e["description"] and "\n" not in e["description"] for e in index)
    assert get(bedrock_emulator.url, "/_emulator") == {"endpoints": index}


def test_the_cache_listing_shows_why_a_request_missed(bedrock_emulator):
    url = bedrock_emulator.url
    bedrock = client(url)
    request = {"modelId": SONNET_46, "system": [{"text": prompt_of(2500)}, cp()], "messages": [user("hi")]}
    assert get(url, "/_emulator/cache") == {"count": 0, "clock_offset_seconds": 0.0, "entries": []}

    bedrock.converse(**request)
    [entry] = get(url, "/_emulator/cache")["entries"]
    assert entry["model_id"] == "anthropic.claude-sonnet-4-6"
    assert (entry["checkpoint_field"], entry["prefix_tokens"], entry["ttl"], entry["hits"]) == ("system", 2500, "5m", 0)
    assert 299 < entry["expires_in_seconds"] <= 300

    bedrock_emulator.clock.advance(120)
    assert bedrock.converse(**request)["usage"]["cacheReadInputTokens"] == 2500
    [entry] = get(url, "/_emulator/cache")["entries"]
    assert entry["hits"] == 1 and 299 < entry["expires_in_seconds"] <= 300  # a read restarts the TTL
    assert entry["age_seconds"] >= 120

    # Filtered by model (any id form Bedrock accepts); none for another model.
    assert get(url, "/_emulator/cache?model_id=global.anthropic.claude-sonnet-4-6")["count"] == 1
    assert get(url, "/_emulator/cache?model_id=us.amazon.nova-pro-v1:0")["count"] == 0

    # Six idle minutes later the entry is gone, which is why the next call writes again.
    bedrock_emulator.clock.advance(360)
    assert get(url, "/_emulator/cache")["count"] == 0
    assert bedrock.converse(**request)["usage"]["cacheWriteInputTokens"] == 2500
