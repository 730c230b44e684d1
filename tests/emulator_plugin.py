"""pytest fixtures for the local Bedrock Runtime emulator (``bedrock.emulator``).

- ``bedrock_emulator``: a server on a free loopback port for the test; the
  handle has ``.url``, ``.clock`` (``.clock.advance(seconds)``), ``.faults``
  (``.faults.configure(throttle_rate=..., seed=..., fail_next=[...])``, or
  assign a dict), ``.latency``, ``.requests`` (what the server received, with
  checkpoints and usage), ``.stats()`` and ``.reset()``; stopped after the test.
- ``bedrock_emulator_env``: the same server, with the environment set so that
  ``boto3.client("bedrock-runtime")`` and Strands' ``BedrockModel`` reach it
  unchanged (endpoint, dummy credentials, us-east-1, no profile or config file).
"""

from __future__ import annotations

import os

import pytest

from bedrock.emulator.server import start


@pytest.fixture
def bedrock_emulator():
    handle = start("127.0.0.1", 0)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def bedrock_emulator_env(bedrock_emulator, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock_emulator.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Nothing from the developer's machine may redirect or re-sign the calls.
    stray = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL")
    for name in stray:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return bedrock_emulator
