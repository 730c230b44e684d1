from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from agent_platform.models import Membership, Tenant, TenantAPIKey
from agent_platform.tenancy import TenantSettingsAdmin, request_has_tenants, user_tenants

# Keys always belong to a tenant here; the package's tenant-less model stays out of the admin.
admin.site.unregister(APIKey)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class SuperuserEditsAdmin(admin.ModelAdmin):
    """Global data (the catalog, tenants): staff users read it, only superusers change it."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Tenant)
class TenantAdmin(SuperuserEditsAdmin):
    """Superusers manage tenants; a staff user sees their own tenants and nothing else."""

    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=user_tenants(request.user))

    def has_module_permission(self, request):
        return request.user.is_staff and request_has_tenants(request)


@admin.register(TenantAPIKey)
class TenantAPIKeyAdmin(TenantSettingsAdmin, APIKeyModelAdmin):
    """The key is shown once, in a message, when it is created; only its hash is stored."""

    list_display = ["prefix", "name", "tenant", "role", "created", "expiry_date", "revoked"]
    list_filter = ["role", "revoked"]
    fields = ["tenant", "name", "role", "expiry_date", "revoked", "prefix"]
