"""List filters of the agents admin."""

from __future__ import annotations

from django.contrib import admin


class CachingStateFilter(admin.SimpleListFilter):
    """By caching state: the fields `Agent.objects.with_caching_state()` annotates (`AgentAdmin.get_queryset`)."""

    title = "caching"
    parameter_name = "caching"

    def lookups(self, request, model_admin):
        return [
            ("on", "On (effective)"),
            ("off", "Off"),
            ("unsupported", "Asked for, but the model cannot cache"),
            ("agent", "Set on the agent"),
            ("family", "Follows the family default"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "on":
            return queryset.filter(caching_effective=True)
        if value == "off":
            return queryset.filter(caching_effective=False)
        if value == "unsupported":
            return queryset.filter(caching_requested=True, caching_effective=False)
        if value == "agent":
            return queryset.filter(prompt_caching_enabled__isnull=False)
        if value == "family":
            return queryset.filter(prompt_caching_enabled__isnull=True)
        return queryset
