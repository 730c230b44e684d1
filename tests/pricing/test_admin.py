"""Price overrides in the admin: tenant admins change their own, members only look, other tenants see none."""

from decimal import Decimal

import pytest
from django.urls import reverse

from agent_platform.models import Role
from pricing.models import PriceOverride
from tests.admin.conftest import login, page
from tests.conftest import CLAUDE

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:pricing_priceoverride_changelist")


@pytest.fixture
def override(tenant, catalog):
    return PriceOverride.objects.create(tenant=tenant, model=catalog[CLAUDE], input_per_mtok=Decimal("2.5"))


def test_the_list_shows_the_override_beside_the_list_prices(client, tenant, override):
    html = page(login(client, tenant, Role.ADMIN).get(CHANGELIST))

    assert "2.500000" in html
    assert "3.3 / " in html  # the us. profile's list input price, from genai-prices


def test_a_tenant_admin_adds_an_override(client, tenant, catalog):
    login(client, tenant, Role.ADMIN)

    response = client.post(
        reverse("admin:pricing_priceoverride_add"),
        {"tenant": tenant.pk, "model": catalog[CLAUDE].pk, "cache_read_per_mtok": "0.25"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert PriceOverride.objects.get(tenant=tenant).cache_read_per_mtok == Decimal("0.25")


def test_a_member_sees_but_cannot_change(client, tenant, override):
    login(client, tenant, Role.MEMBER, "mia")

    assert client.get(CHANGELIST).status_code == 200
    url = reverse("admin:pricing_priceoverride_change", args=[override.pk])
    client.post(url, {"tenant": tenant.pk, "model": override.model_id, "input_per_mtok": "1"})
    override.refresh_from_db()
    assert override.input_per_mtok == Decimal("2.5")


def test_another_tenant_sees_none(client, other_tenant, override):
    html = page(login(client, other_tenant, Role.ADMIN, "otto").get(CHANGELIST))

    assert "2.500000" not in html
    assert "0 price overrides" in html
