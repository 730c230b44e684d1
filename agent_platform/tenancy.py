"""Tenant resolution, once per request, for the API and the admin.

API: `Authorization: Api-Key <key>` resolves to one tenant and a role;
`request.tenant` is then the only tenant any view may read or write.
Admin: a staff user sees the tenants of their memberships; superusers see all.
Viewers read; members and admins write; tenant-wide settings need admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from rest_framework import authentication, exceptions, permissions
from rest_framework.throttling import ScopedRateThrottle

from agent_platform.models import Membership, Role, Tenant, TenantAPIKey
from agent_platform.throttling import FixedWindowRateThrottle, window_count, window_hit

WRITE_ROLES = (Role.ADMIN, Role.MEMBER)


# --- API ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPrincipal:
    """Who is calling the API: an API key of one tenant, with its role."""

    tenant: Tenant
    role: str
    key_prefix: str
    key_id: str = ""  # the key's primary key: what invocations record as who asked

    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self):
        return f"api-key:{self.key_prefix}"

    def __str__(self):
        return f"API key {self.key_prefix} ({self.tenant.slug})"


def client_address(request) -> str:
    """The caller's address: REMOTE_ADDR, or behind NUM_PROXIES proxies that append to X-Forwarded-For, the
    address the outermost of them saw (DRF's rule). Failed API keys and admin logins are counted per address."""
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [address.strip() for address in forwarded.split(",")]
        return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


class FailedKeyThrottle(FixedWindowRateThrottle):
    """Failed API keys per client address (`auth_failures` in the throttle rates). Past the limit, every key
    from that address is refused until the window ends, the right one too, so guessing learns nothing."""

    scope = "auth_failures"

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}

    def refused_for(self, request) -> float | None:
        """Seconds until the address may try again, or None when it may now."""
        if self.rate is None:
            return None
        failures, remaining = window_count(self.get_cache_key(request), self.duration)
        return remaining if failures >= self.num_requests else None

    def failed(self, request) -> None:
        if self.rate is not None:
            window_hit(self.get_cache_key(request), self.duration)


class TenantAPIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, key = header.partition(" ")
        if keyword != self.keyword:
            return None
        throttle = FailedKeyThrottle()
        if (wait := throttle.refused_for(request)) is not None:
            raise exceptions.Throttled(wait, detail="Too many failed API keys from your address.")
        key = key.strip()
        try:
            api_key = TenantAPIKey.objects.get_from_key(key)  # checks the hash; revoked keys are not found
        except TenantAPIKey.DoesNotExist:
            throttle.failed(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.") from None
        if api_key.has_expired:
            throttle.failed(request)
            raise exceptions.AuthenticationFailed("This API key has expired.")
        request.tenant = api_key.tenant
        request.tenant_role = api_key.role
        return (
            KeyPrincipal(tenant=api_key.tenant, role=api_key.role, key_prefix=api_key.prefix, key_id=api_key.pk),
            api_key,
        )

    def authenticate_header(self, request):
        return self.keyword


class TenantRolePermission(permissions.BasePermission):
    """Reads for every role; writes for members and admins; `required_role = Role.ADMIN` on a view for more."""

    message = "Your API key's role does not allow this."

    def has_permission(self, request, view):
        principal = request.user
        if not isinstance(principal, KeyPrincipal):
            return False
        required = getattr(view, "required_role", None)
        if required == Role.ADMIN and request.method not in permissions.SAFE_METHODS:
            return principal.role == Role.ADMIN
        return request.method in permissions.SAFE_METHODS or principal.role in WRITE_ROLES


class TenantRateThrottle(ScopedRateThrottle, FixedWindowRateThrottle):
    """Rate limit on writes, per tenant; the view's `throttle_scope` picks the rate in settings. Counted in the
    shared cache, so the limit holds across web processes (`agent_platform.throttling`)."""

    def allow_request(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": tenant.pk}


# --- Admin ---------------------------------------------------------------------------------------
#
# The one mechanism the admin scopes by: `TenantScopedAdmin` (and its two variants) for model admins, and the
# helpers below for the admin's own pages and actions. A role is looked up at most once per request.

ADMIN_ROLES = (Role.ADMIN,)


def user_tenants(user, roles=None) -> QuerySet[Tenant]:
    """The tenants a user may see; with `roles`, those where the user holds one of them. Superusers: all."""
    if user.is_superuser:
        return Tenant.objects.all()
    if roles is None:
        return Tenant.objects.filter(memberships__user=user)
    return Tenant.objects.filter(memberships__user=user, memberships__role__in=roles)


def user_role(user, tenant_id) -> str | None:
    if user.is_superuser:
        return Role.ADMIN
    return Membership.objects.filter(user=user, tenant_id=tenant_id).values_list("role", flat=True).first()


def request_memo(request, key, compute):
    """An answer computed once per request. An admin page asks every registered model admin the same role
    questions (the sidebar and the app list show them all); a role does not change within a request."""
    memo = request.__dict__.setdefault("_tenancy_memo", {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def request_role(request, tenant_id) -> str | None:
    return request_memo(request, ("role", tenant_id), lambda: user_role(request.user, tenant_id))


def request_has_tenants(request, roles=None) -> bool:
    """Whether the user has any tenant (with one of `roles`, when given)."""
    key = ("has_tenants", tuple(roles) if roles else None)
    return request_memo(request, key, lambda: user_tenants(request.user, roles).exists())


def user_sees_tenants(request) -> bool:
    """Whether the user's lists mix several tenants' rows (a superuser, or a member of more than one)."""
    if request.user.is_superuser:
        return True
    return request_memo(request, "sees_tenants", lambda: user_tenants(request.user)[:2].count() > 1)


def writable_rows(request, queryset, roles=WRITE_ROLES, tenant_path="tenant") -> tuple[QuerySet, int]:
    """The selected rows the user may change, and how many were left out: a viewer of one tenant may be a
    member of another, so a bulk action checks every row's tenant, not the user's best role."""
    if request.user.is_superuser:
        return queryset, 0
    allowed = queryset.filter(**{f"{tenant_path}__in": user_tenants(request.user, roles)})
    return allowed, queryset.count() - allowed.count()


def scoped_object(model_admin, request, object_id, *, write: bool = False):
    """An object through the model admin's scoped queryset, or 404; 403 when a write is asked of a viewer."""
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None or not model_admin.has_view_permission(request, obj):
        raise Http404
    if write and not model_admin.has_change_permission(request, obj):
        raise PermissionDenied
    return obj


def chosen_tenant(request) -> tuple[Tenant, list[Tenant]]:
    """The tenant a page shows: `?tenant=<slug>` among the user's tenants, else their first (by name)."""
    tenants = list(user_tenants(request.user).order_by("name"))
    if not tenants:
        raise PermissionDenied
    slug = request.GET.get("tenant")
    if not slug:
        return tenants[0], tenants
    for tenant in tenants:
        if tenant.slug == slug:
            return tenant, tenants
    raise Http404("No such tenant.")


class TenantScopedAdmin(admin.ModelAdmin):
    """The single place the admin scopes a tenant-owned model to the user's tenants.

    `get_queryset` feeds change, delete, history, actions and autocomplete; the
    foreign-key choices are scoped too, since Django uses the related model's
    unscoped manager for them. Permissions come from tenant roles, not Django's
    per-model permissions: viewers see, `write_roles` change. Actions that
    write through a service declare `permissions=["tenant_write"]` and pass
    the selection through `writable_rows`.
    """

    tenant_path = "tenant"
    write_roles = WRITE_ROLES

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.tenant_path}__in": user_tenants(request.user)})

    def object_tenant_id(self, obj):
        for part in self.tenant_path.split("__"):
            obj = getattr(obj, part)
        return obj.pk

    def writable_rows(self, request, queryset) -> tuple[QuerySet, int]:
        return writable_rows(request, queryset, self.write_roles, self.tenant_path)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and request_has_tenants(request)

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return self.has_module_permission(request)
        return request_role(request, self.object_tenant_id(obj)) is not None

    def has_tenant_write_permission(self, request):
        """May write somewhere: the add button, and actions that pass their rows through `writable_rows`."""
        return request.user.is_superuser or request_has_tenants(request, self.write_roles)

    def has_add_permission(self, request):
        return self.has_tenant_write_permission(request)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return self.has_tenant_write_permission(request)
        return request_role(request, self.object_tenant_id(obj)) in self.write_roles

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if related is Tenant:
            kwargs["queryset"] = user_tenants(request.user, self.write_roles)
        elif not request.user.is_superuser and any(f.name == "tenant" for f in related._meta.fields):
            kwargs["queryset"] = related._default_manager.filter(tenant__in=user_tenants(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TenantSettingsAdmin(TenantScopedAdmin):
    """Tenant-wide settings (API keys, family defaults, prices): tenant admins change them, other members look."""

    write_roles = ADMIN_ROLES


class TenantRecordsAdmin(TenantScopedAdmin):
    """Rows the services write (deployments, invocations, rollups, reports): people look at them, and act on
    them only through actions that call a service."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
