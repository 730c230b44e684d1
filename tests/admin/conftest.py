"""Admin page tests: staff users of each role in `tenant`, one of `other_tenant`, and helpers to read the pages."""

from __future__ import annotations

import re

import pytest

from agent_platform.models import Role
from agent_platform.services import member_ensure
from tests.conftest import admin_login

PASSWORD = "pw-123-secret"


@pytest.fixture(autouse=True)
def _reporting_clock(clock_at_noon):
    """The dashboard and the caching page read "today" from the clock, as the seeded data did: both at noon UTC."""


def login(client, tenant, role, username="alice"):
    member_ensure(tenant=tenant, username=username, password=PASSWORD, role=role)
    assert admin_login(client, username, PASSWORD)
    return client


@pytest.fixture
def member(client, tenant):
    return login(client, tenant, Role.MEMBER, "mia")


@pytest.fixture
def viewer(client, tenant):
    return login(client, tenant, Role.VIEWER, "vic")


@pytest.fixture
def outsider(client, other_tenant):
    """A staff member of the other tenant only."""
    return login(client, other_tenant, Role.ADMIN, "otto")


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def stat_values(html: str) -> dict[str, str]:
    """The `data-stat="name" data-value="raw"` figures of a page (the raw values behind what is shown)."""
    return dict(re.findall(r'data-stat="([a-z_]+)" data-value="([^"]*)"', html))
