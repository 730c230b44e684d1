"""The OpenAPI schema and its docs page, served locally."""

import pytest

pytestmark = pytest.mark.django_db


def test_schema_lists_the_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in ["/api/models/", "/api/agents/", "/api/agents/{agent_id}/", "/api/agents/import/"]:
        assert path in schema["paths"], path
    assert "ApiKeyAuth" in schema["components"]["securitySchemes"]


def test_docs_page_uses_no_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
