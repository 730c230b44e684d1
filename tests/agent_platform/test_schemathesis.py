"""Property-based checks of the API against its own OpenAPI schema: no 5xx, only documented statuses.

Bounded (a few examples per operation) so it fits in `make test`.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from agent_platform.wsgi import application
from tests.conftest import key_client

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture
def auth(agent, tenant):
    client = key_client(tenant)
    return {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_with_a_valid_key(case, auth):
    case.call_and_validate(headers=auth, checks=CHECKS)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_without_a_key(case):
    response = case.call_and_validate(checks=CHECKS)
    assert response.status_code in (401, 403, 404, 405)
