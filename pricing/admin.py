from django.contrib import admin

from agent_platform.tenancy import TenantSettingsAdmin
from pricing.models import PriceOverride
from pricing.prices import list_prices


@admin.register(PriceOverride)
class PriceOverrideAdmin(TenantSettingsAdmin):
    list_display = [
        "tenant",
        "model",
        "input_per_mtok",
        "output_per_mtok",
        "cache_read_per_mtok",
        "cache_write_per_mtok",
        "list_prices",
    ]
    list_select_related = ["tenant", "model"]
    list_filter = ["model__family"]

    @admin.display(description="List prices (USD / MTok in, out, read, write)")
    def list_prices(self, override):
        p = list_prices(override.model.model_id)
        return f"{p.input} / {p.output} / {p.cache_read} / {p.cache_write}"
