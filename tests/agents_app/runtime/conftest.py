"""Runtime tests need no database: the runtime never touches one."""

import pytest

from .factories import long_prompt


@pytest.fixture(scope="session")
def big_system_prompt() -> str:
    return long_prompt()
