"""How a catalog model is named wherever one is chosen: its display name, where it runs (the inference profile of
its id: `us.` or `global.` ...), and what it costs, so two entries of one model (`us.` and `global.` Sonnet 4.6,
priced apart) never look alike."""

from __future__ import annotations

from bedrock.facts import INFERENCE_PROFILE_PREFIXES
from pricing.costs import usd
from pricing.prices import Prices

# An inference profile's prefix → where Bedrock may run the request.
PROFILE_SCOPES = {
    "us": "US cross-region",
    "eu": "EU cross-region",
    "apac": "Asia-Pacific cross-region",
    "jp": "Japan cross-region",
    "au": "Australia cross-region",
    "ca": "Canada cross-region",
    "us-gov": "US GovCloud cross-region",
    "global": "global cross-region",
}
assert set(PROFILE_SCOPES) == set(INFERENCE_PROFILE_PREFIXES)


def inference_profile(model_id: str) -> str:
    """The inference-profile prefix of a model id (`us`, `global` ...), or "" for a model called in-region."""
    prefix, _, rest = model_id.partition(".")
    return prefix if rest and prefix in PROFILE_SCOPES else ""


def model_scope(model_id: str) -> str:
    """Where the model runs, for people: `us. US cross-region`, or `in-region`."""
    prefix = inference_profile(model_id)
    return f"{prefix}. {PROFILE_SCOPES[prefix]}" if prefix else "in-region"


def model_short_label(model) -> str:
    """`Claude Sonnet 4.6 (us.)`: enough to tell the catalog's entries of one model apart in a list."""
    prefix = inference_profile(model.model_id)
    return f"{model.display_name} ({prefix}.)" if prefix else model.display_name


def model_label(model, prices: Prices | None = None) -> str:
    """`Claude Sonnet 4.6 · us. US cross-region · $3.30 in / $16.50 out per 1M tokens`."""
    parts = [model.display_name, model_scope(model.model_id)]
    if prices is not None and prices.source != "unknown":
        parts.append(f"{usd(prices.input)} in / {usd(prices.output)} out per 1M tokens")
    return " · ".join(parts)
