from django.apps import AppConfig


class PricingConfig(AppConfig):
    name = "pricing"
    label = "pricing"
    verbose_name = "Prices"
