"""Demo data for `seed_demo`: a tenant with agents on Claude and Nova."""

from django.db import transaction

from agent_platform.models import Role, Tenant, TenantAPIKey
from agent_platform.services import api_key_create, member_ensure
from agents_app.models import Agent, FoundationModel
from agents_app.services import agents as agent_services

DEMO_SLUG = "demo"
DEMO_USERNAME = "admin"
DEMO_PASSWORD = "demo-admin-password"
DEMO_KEY_NAME = "seed_demo"

_POLICY_SECTIONS = [
    ("Tone", "Answer politely, briefly and precisely. Use the customer's words where you can."),
    ("Refunds", "Refunds are possible within 30 days of purchase with a receipt; store credit after that."),
    ("Shipping", "Standard shipping takes 3 to 5 working days; express takes 1 to 2; tracking is sent by email."),
    ("Accounts", "Never ask for a password. Send a reset link to the address on file when asked."),
    ("Escalation", "Hand the case to a human when the customer asks for one twice, or mentions legal action."),
    ("Warranty", "Hardware carries a two year warranty; batteries one year; accidental damage is not covered."),
    ("Privacy", "Do not repeat personal data back in full; mask all but the last four digits of numbers."),
    ("Orders", "An order can be changed until it is packed; after that, offer a return on delivery."),
]


def support_system_prompt() -> str:
    """A system prompt long enough (over 2,048 tokens) for Claude Sonnet 4.6 to cache it."""
    lines = ["You are the support assistant of Example Outfitters. Follow the policy below exactly."]
    for round_number in range(1, 10):
        for title, rule in _POLICY_SECTIONS:
            lines.append(f"Policy {round_number}.{title}: {rule} Example {round_number}: apply the rule, then confirm.")
    return "\n".join(lines)


DEMO_AGENTS = [
    {
        "name": "Support assistant",
        "description": "Answers customer questions from a long policy; caching on, combined strategy.",
        "model_id": "us.anthropic.claude-sonnet-4-6",
        "prompt_caching_enabled": True,
        "cache_strategy": "combined",
        "integrations": [{"name": "current_time"}],
    },
    {
        "name": "Release notes writer",
        "description": "Short prompt on Claude Haiku 4.5; below the 4,096-token minimum, so caching has no effect yet.",
        "model_id": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "prompt_caching_enabled": True,
        "cache_strategy": "explicit",
        "system_prompt": "You write concise release notes from a list of changes.",
    },
    {
        "name": "Docs summarizer",
        "description": "Runs on Amazon Nova Pro, which the catalog ships without caching.",
        "model_id": "us.amazon.nova-pro-v1:0",
        "prompt_caching_enabled": None,
        "cache_strategy": "combined",
        "system_prompt": "You summarize documentation pages in three bullet points.",
    },
]


@transaction.atomic
def seed_demo() -> tuple[Tenant, str]:
    """Create (or refresh) the demo tenant; returns it with a fresh API key, the previous demo key revoked."""
    tenant, _ = Tenant.objects.get_or_create(slug=DEMO_SLUG, defaults={"name": "Demo"})
    membership = member_ensure(tenant=tenant, username=DEMO_USERNAME, password=DEMO_PASSWORD, role=Role.ADMIN)
    user = membership.user
    if not user.is_superuser:
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    for spec in DEMO_AGENTS:
        spec = dict(spec)
        model = FoundationModel.objects.get(model_id=spec.pop("model_id"))
        spec.setdefault("system_prompt", support_system_prompt())
        if not Agent.objects.filter(tenant=tenant, name=spec["name"]).exists():
            agent_services.agent_create(tenant=tenant, model=model, **spec)
    TenantAPIKey.objects.filter(tenant=tenant, name=DEMO_KEY_NAME, revoked=False).update(revoked=True)
    _, key = api_key_create(tenant=tenant, name=DEMO_KEY_NAME, role=Role.ADMIN)
    return tenant, key
