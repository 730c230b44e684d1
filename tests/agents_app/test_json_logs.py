"""With LOG_FORMAT=json, what the worker logs about an invocation is a JSON line with its ids."""

import io
import json
import logging
import logging.config

import pytest

from agent_platform.logs import ContextFilter, logging_config
from agents_app import tasks
from agents_app.services.invocations import invocation_create
from tests.conftest import CLAUDE, make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """The JSON handler of LOG_FORMAT=json on the root logger, writing to a buffer instead of standard output."""
    config = logging_config("json", "INFO")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.config.DictConfigurator(config).configure_formatter(config["formatters"]["json"]))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_a_retried_call_is_logged_as_json_with_the_invocations_ids(bedrock_emulator_env, tenant, eager, json_lines):
    agent = make_agent(tenant, CLAUDE)
    invocation = invocation_create(agent=agent, prompt="Hello", session_id="s-1")
    bedrock_emulator_env.faults.configure(fail_next=["ThrottlingException"])

    tasks.invocation_run.delay(invocation.pk)

    retried = [line for line in json_lines() if "botocore retried it" in line["message"]]
    assert len(retried) == 1
    assert retried[0]["level"] == "WARNING" and retried[0]["logger"] == "agents_app.services.invocations"
    assert {key: retried[0][key] for key in ("tenant_id", "agent_id", "session_id", "invocation_id")} == {
        "tenant_id": tenant.pk,
        "agent_id": agent.pk,
        "session_id": "s-1",
        "invocation_id": invocation.pk,
    }
    assert "Hello" not in json.dumps(json_lines())  # prompts stay out of the logs


def test_outside_an_invocation_records_carry_no_ids(json_lines):
    logging.getLogger("agents_app").warning("not about an invocation")
    (line,) = [line for line in json_lines() if line["message"] == "not about an invocation"]
    assert "invocation_id" not in line and "tenant_id" not in line
