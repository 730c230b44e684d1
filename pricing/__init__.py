"""Money: prices per model (genai-prices with a tenant's overrides) and what an invocation cost.

Below the agents layer and above tenancy. `prices` and `costs` import no
Django, so scripts can use them without settings.
"""
