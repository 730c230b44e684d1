"""Writes for tenancy: tenants, members and API keys."""

from django.contrib.auth import get_user_model
from django.db import transaction

from agent_platform.errors import ApplicationError
from agent_platform.models import Membership, Role, Tenant, TenantAPIKey


def tenant_create(*, slug: str, name: str = "") -> Tenant:
    tenant, created = Tenant.objects.get_or_create(slug=slug, defaults={"name": name or slug.replace("-", " ").title()})
    if not created:
        raise ApplicationError(f"Tenant {slug!r} already exists.", "slug")
    return tenant


def api_key_create(*, tenant: Tenant, name: str, role: str = Role.MEMBER) -> tuple[TenantAPIKey, str]:
    """A new key; the plain key is returned once and only its hash is stored."""
    if role not in Role.values:
        raise ApplicationError(f"role must be one of {', '.join(Role.values)}.", "role")
    return TenantAPIKey.objects.create_key(tenant=tenant, name=name, role=role)


@transaction.atomic
def member_ensure(*, tenant: Tenant, username: str, password: str, role: str, email: str = "") -> Membership:
    """A staff user with a role in the tenant, created when missing (idempotent, for set-up commands)."""
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": True, "email": email}
    )
    if created:
        user.set_password(password)
        user.save()
    membership, _ = Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
    return membership
