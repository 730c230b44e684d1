"""The cached-prefix size check: the system prompt and tools, counted by Bedrock's CountTokens."""

import pytest

from agents_app.prompt_size import prompt_size_check
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db


def test_tools_count_towards_the_cached_prefix(tenant, bedrock_emulator_env):
    bare = prompt_size_check(agent=make_agent(tenant, name="Bare"))
    tooled = prompt_size_check(agent=make_agent(tenant, name="Tooled", integrations=[{"name": "calculator"}]))

    assert bare.tokens and tooled.tokens > bare.tokens + 20
