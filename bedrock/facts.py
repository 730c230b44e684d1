"""What Amazon Bedrock does, as data: models, their limits and their prompt-cache rules.

These are facts about AWS, not platform policy. The prompt-cache engine and
the local Bedrock emulator follow them exactly; the agent runtime takes the
request field names and the checkpoint limit from here; the catalog migration
seeds `FoundationModel` rows from them, and a platform admin may then change
the *policy* (for instance whether Nova agents get checkpoints) in admin
without touching these facts.

Sources, each fact next to its own below:

- [BR-CACHE] Amazon Bedrock user guide, "Prompt caching for faster model
  inference" (docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html):
  supported models, minimum tokens per checkpoint, at most four checkpoints,
  cacheable fields, Nova's 32K cache limit and no tools checkpoint, TTLs.
- [BR-1H] AWS "What's new", 2026-01-26: 1-hour prompt-cache TTL generally
  available on Bedrock for Claude Sonnet 4.5, Haiku 4.5 and Opus 4.5.
- [BR-API] Bedrock Runtime API reference and botocore's bedrock-runtime model
  (2023-09-30): ``CachePointBlock.ttl`` ("5m" | "1h"); ``TokenUsage`` carries
  ``cacheReadInputTokens``, ``cacheWriteInputTokens`` and ``cacheDetails``,
  "sorted by TTL duration (1h before 5m)"; the same ``TokenUsage`` is the
  ``usage`` of the non-streaming Converse response and of ConverseStream's
  ``metadata`` event, so both report the cache figures.
- [BR-META] botocore's bedrock-runtime model, ``RequestMetadata`` of Converse and
  ConverseStream: 1 to 16 pairs, keys of 1-256 and values of 0-256 characters
  matching ``[a-zA-Z0-9\\s:_@$#=/+,-.]``; Bedrock answers anything else with
  "1 validation error detected: Value at 'requestMetadata' failed to satisfy
  constraint: ..." (the user guide's "Per-request metadata tagging").
- [BR-PROFILE] botocore's bedrock model (2023-04-20): ``CreateInferenceProfile``
  (``POST /inference-profiles``, name of 1-64 characters ``([0-9a-zA-Z][ _-]?)+``,
  ``modelSource.copyFrom`` a foundation-model or inference-profile ARN, up to
  200 tags), ``GetInferenceProfile``, ``ListInferenceProfiles``; application
  profiles are ``arn:aws:bedrock:REGION:ACCOUNT:application-inference-profile/ID``.
- [ANT-CACHE] Anthropic's prompt-caching and token-counting docs
  (platform.claude.com/docs): the same minimums for the Claude API; Claude
  Opus 4.7 and later use a newer tokenizer, so Claude 3 through Opus 4.6 share one.

Where sources disagree, the Bedrock value wins and the comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass

# Request fields that may hold a `cachePoint` block, in prefix order.
TOOLS = "tools"
SYSTEM = "system"
MESSAGES = "messages"
CACHE_FIELD_ORDER = (TOOLS, SYSTEM, MESSAGES)

MAX_CHECKPOINTS = 4  # [BR-CACHE]
DEFAULT_TTL_SECONDS = 5 * 60  # [BR-CACHE]: reset by every read
TTL_SECONDS = {"5m": 5 * 60, "1h": 60 * 60}  # [BR-API]
# [BR-API]: usage.cacheDetails lists written tokens by TTL, longest TTL first.
CACHE_DETAILS_ORDER = ("1h", "5m")

# Cross-region inference-profile prefixes: `us.anthropic.claude-...` resolves
# to the base model `anthropic.claude-...`.
INFERENCE_PROFILE_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")

# [BR-META] requestMetadata's limits. The pattern's `,-.` is a range: comma, hyphen and dot.
REQUEST_METADATA_MAX_PAIRS = 16
REQUEST_METADATA_KEY_MAX = 256
REQUEST_METADATA_VALUE_MAX = 256
REQUEST_METADATA_CHARACTERS = r"[a-zA-Z0-9\s:_@$#=/+,-.]"

# [BR-PROFILE] application inference profiles.
INFERENCE_PROFILE_NAME_MAX = 64
INFERENCE_PROFILE_NAME_PATTERN = r"([0-9a-zA-Z][ _-]?)+"
APPLICATION_PROFILE_ARN = (
    r"arn:aws(?:|-us-gov|-cn):bedrock:[0-9a-z-]{0,20}:[0-9]{12}:application-inference-profile/[a-zA-Z0-9-:.]+"
)

UNSUPPORTED_CACHING_MESSAGE = (
    "You invoked an unsupported model or your request did not allow prompt caching. "
    "See the documentation for more information."
)

# How the emulator counts a model's tokens (bedrock.tokenizer). CLAUDE_TOKENS: Claude 3 through Opus 4.6
# share one tokenizer [ANT-CACHE], estimated from the published vocabulary plus measured rules.
# PUBLISHED_TOKENS: Nova and Llama tokenizers are not public; the published Claude vocabulary stands in
# for them as it is, with an unknown bias (no measurements to scale it by).
CLAUDE_TOKENS = "claude"
PUBLISHED_TOKENS = "published"

# Model families. `caches_by_default` is the catalog's shipped policy
# (Claude caches, Nova does not, until a superuser says otherwise), not a Bedrock fact.
ANTHROPIC_CLAUDE = "anthropic-claude"
AMAZON_NOVA = "amazon-nova"
META_LLAMA = "meta-llama"


@dataclass(frozen=True)
class FamilyFacts:
    slug: str
    name: str
    provider: str
    caches_by_default: bool


FAMILIES: dict[str, FamilyFacts] = {
    f.slug: f
    for f in (
        FamilyFacts(ANTHROPIC_CLAUDE, "Anthropic Claude", "Anthropic", caches_by_default=True),
        FamilyFacts(AMAZON_NOVA, "Amazon Nova", "Amazon", caches_by_default=False),
        FamilyFacts(META_LLAMA, "Meta Llama", "Meta", caches_by_default=False),
    )
}


@dataclass(frozen=True)
class ModelFacts:
    """One Bedrock foundation model, by its base model id."""

    model_id: str
    display_name: str
    family: str
    max_output_tokens: int
    # None: Bedrock rejects any request that carries a checkpoint.
    cache_min_tokens: int | None = None
    cache_fields: tuple[str, ...] = ()
    max_checkpoints: int = MAX_CHECKPOINTS
    supports_1h_ttl: bool = False
    # Nova caches at most 32K tokens of prefix.
    max_cached_tokens: int | None = None
    # Claude's simplified caching looks back about 20 content blocks for an
    # earlier cached prefix when a request has one checkpoint in messages.
    lookback_blocks: int = 0
    supports_tool_use: bool = True
    tokens: str = PUBLISHED_TOKENS

    @property
    def supports_caching(self) -> bool:
        return self.cache_min_tokens is not None

    @property
    def counts_like_claude(self) -> bool:
        return self.tokens == CLAUDE_TOKENS


def _claude(model_id, name, max_output, min_tokens, *, one_hour=False):
    return ModelFacts(
        model_id=model_id,
        display_name=name,
        family=ANTHROPIC_CLAUDE,
        max_output_tokens=max_output,
        cache_min_tokens=min_tokens,
        cache_fields=(TOOLS, SYSTEM, MESSAGES),
        supports_1h_ttl=one_hour,
        # [BR-CACHE]: "simplified" caching looks back about 20 content blocks.
        lookback_blocks=20,
        tokens=CLAUDE_TOKENS,
    )


def _nova(model_id, name, max_output):
    return ModelFacts(
        model_id=model_id,
        display_name=name,
        family=AMAZON_NOVA,
        max_output_tokens=max_output,
        # [BR-CACHE]: 1,000 tokens per checkpoint, at most 32K tokens cached (read as 32,000), checkpoints
        # in system and messages only (a tools checkpoint is a ValidationException).
        cache_min_tokens=1_000,
        cache_fields=(SYSTEM, MESSAGES),
        max_cached_tokens=32_000,
    )


def _llama(model_id, name, max_output):
    return ModelFacts(model_id=model_id, display_name=name, family=META_LLAMA, max_output_tokens=max_output)


# Minimum tokens per checkpoint [BR-CACHE], with [ANT-CACHE] agreeing: 4,096 for Opus 4.6, Opus 4.5 and
# Haiku 4.5 (some third-party pages still give 1,024 for Opus 4.5 and Haiku 4.5, an earlier value);
# 2,048 for Sonnet 4.6 and 3.5 Haiku (Strands' docs say "1,024 tokens for Claude Sonnet" for every
# Sonnet, which does not hold for 4.6); 1,024 for Sonnet 4.5, Sonnet 4, Opus 4.1, Opus 4, 3.7 Sonnet.
# 1-hour TTL: Sonnet 4.5, Haiku 4.5 and Opus 4.5 [BR-1H]. Opus 4.6 and Sonnet 4.6 came later with the
# same caching features and users report 1-hour writes on them, but no AWS page lists them by name:
# treated as taking it. Older models reject a ttl.
MODELS: dict[str, ModelFacts] = {
    m.model_id: m
    for m in (
        _claude("anthropic.claude-opus-4-6-v1", "Claude Opus 4.6", 128_000, 4_096, one_hour=True),
        _claude("anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6", 64_000, 2_048, one_hour=True),
        _claude("anthropic.claude-opus-4-5-20251101-v1:0", "Claude Opus 4.5", 64_000, 4_096, one_hour=True),
        _claude("anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5", 64_000, 4_096, one_hour=True),
        _claude("anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5", 64_000, 1_024, one_hour=True),
        _claude("anthropic.claude-opus-4-1-20250805-v1:0", "Claude Opus 4.1", 32_000, 1_024),
        _claude("anthropic.claude-opus-4-20250514-v1:0", "Claude Opus 4", 32_000, 1_024),
        _claude("anthropic.claude-sonnet-4-20250514-v1:0", "Claude Sonnet 4", 64_000, 1_024),
        _claude("anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet", 64_000, 1_024),
        _claude("anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku", 8_192, 2_048),
        _nova("amazon.nova-micro-v1:0", "Nova Micro", 10_000),
        _nova("amazon.nova-lite-v1:0", "Nova Lite", 10_000),
        _nova("amazon.nova-pro-v1:0", "Nova Pro", 10_000),
        _nova("amazon.nova-premier-v1:0", "Nova Premier", 32_000),
        _nova("amazon.nova-2-lite-v1:0", "Nova 2 Lite", 65_536),
        _llama("meta.llama3-3-70b-instruct-v1:0", "Llama 3.3 70B Instruct", 8_192),
        _llama("meta.llama4-maverick-17b-instruct-v1:0", "Llama 4 Maverick 17B Instruct", 8_192),
    )
}

# The model ids the catalog ships (inference-profile ids where AWS requires
# or recommends them). Each resolves to one entry of MODELS.
CATALOG_MODEL_IDS = (
    "us.anthropic.claude-sonnet-4-6",
    "global.anthropic.claude-sonnet-4-6",
    "us.anthropic.claude-opus-4-6-v1",
    "us.anthropic.claude-opus-4-5-20251101-v1:0",
    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "us.amazon.nova-micro-v1:0",
    "us.amazon.nova-lite-v1:0",
    "us.amazon.nova-pro-v1:0",
    "us.amazon.nova-premier-v1:0",
    "us.amazon.nova-2-lite-v1:0",
    "us.meta.llama3-3-70b-instruct-v1:0",
    "us.meta.llama4-maverick-17b-instruct-v1:0",
)


def base_model_id(model_id: str) -> str:
    """Strip a cross-region inference-profile prefix: `us.amazon.nova-pro-v1:0` → `amazon.nova-pro-v1:0`."""
    prefix, _, rest = model_id.partition(".")
    if rest and prefix in INFERENCE_PROFILE_PREFIXES:
        return rest
    return model_id


def resolve_model(model_id: str) -> ModelFacts | None:
    """The facts for a model id or inference-profile id, or None when Bedrock would not know it."""
    return MODELS.get(base_model_id(model_id))
