"""A tenant's own prices: overrides of the list prices `genai-prices` ships."""

from django.db import models

from agent_platform.models import Tenant

PRICE = {"max_digits": 12, "decimal_places": 6, "null": True, "blank": True}


class PriceOverride(models.Model):
    """A tenant's own prices for one catalog model, in USD per million tokens.

    Empty fields keep the price `genai-prices` ships (a negotiated discount on
    input only, say).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="price_overrides")
    model = models.ForeignKey("agents_app.FoundationModel", on_delete=models.CASCADE, related_name="price_overrides")
    input_per_mtok = models.DecimalField(**PRICE)
    output_per_mtok = models.DecimalField(**PRICE)
    cache_read_per_mtok = models.DecimalField(**PRICE)
    cache_write_per_mtok = models.DecimalField(**PRICE)
    cache_write_1h_per_mtok = models.DecimalField(**PRICE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The model moved here from the caching app; its table kept the name (and rows) it had there.
        db_table = "caching_priceoverride"
        constraints = [models.UniqueConstraint(fields=["tenant", "model"], name="unique_price_override")]

    def __str__(self):
        return f"{self.tenant}: {self.model.model_id}"
