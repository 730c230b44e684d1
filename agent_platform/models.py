"""Tenancy: who owns what. Every row a tenant owns points at its `Tenant`."""

import secrets

from django.conf import settings
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager


def new_rollups_version() -> int:
    return secrets.randbits(62)


class Tenant(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Random rather than counted: a version is never given twice, not even after a restore from a backup.
    rollups_version = models.PositiveBigIntegerField(
        default=new_rollups_version,
        editable=False,
        help_text="New whenever the tenant's cache-stats rollups are written: what a process read from them is "
        "kept under it (caching.settled).",
    )
    rollups_rewrite_version = models.PositiveBigIntegerField(
        default=new_rollups_version,
        editable=False,
        help_text="New whenever a rollup write changes or drops rollup rows, not when it only adds an hour never "
        "rolled up before: while it stays, what a process kept is extended by the new hours (caching.settled).",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="unique_membership")]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.role})"


class TenantAPIKeyManager(BaseAPIKeyManager):
    def get_usable_keys(self) -> models.QuerySet:
        # With its tenant: every request authenticated by a key reads it next.
        return super().get_usable_keys().select_related("tenant")


class TenantAPIKey(AbstractAPIKey):
    """An API key of one tenant, stored hashed; the key itself is shown once, when created."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    objects = TenantAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
