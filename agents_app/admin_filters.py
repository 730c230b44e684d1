"""List filters of the agents admin. Each lists only what the user's own rows use: no other tenant's, no unused."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q

from agents_app.models import FamilyCachingDefault


def family_default_on():
    """True where the agent's tenant has turned caching on for the agent's model family."""
    return Exists(
        FamilyCachingDefault.objects.filter(
            tenant=OuterRef("tenant"), family=OuterRef("model__family"), prompt_caching_enabled=True
        )
    )


# What an agent asks for: its own setting, else its tenant's default for the family (see selectors.caching_state).
REQUESTED = Q(prompt_caching_enabled=True) | Q(prompt_caching_enabled__isnull=True, family_default_on=True)
CAN_CACHE = Q(model__supports_prompt_caching=True)


class CachingStateFilter(admin.SimpleListFilter):
    """By effective caching (what the runtime does), the same rule as `selectors.caching_state`."""

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
        if value == "agent":
            return queryset.filter(prompt_caching_enabled__isnull=False)
        if value == "family":
            return queryset.filter(prompt_caching_enabled__isnull=True)
        if value not in ("on", "off", "unsupported"):
            return queryset
        queryset = queryset.alias(family_default_on=family_default_on())
        if value == "on":
            return queryset.filter(REQUESTED & CAN_CACHE)
        if value == "off":
            return queryset.exclude(REQUESTED & CAN_CACHE)
        return queryset.filter(REQUESTED & ~CAN_CACHE)
