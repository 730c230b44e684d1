"""The pre-deploy prompt check: what in front of a cache checkpoint changes per request or per deploy.

Everything before a checkpoint is the cached prefix (tools, then the system
prompt, then the conversation), matched byte for byte: one changed character
and the next request writes the whole prefix again instead of reading it. So
when an agent that caches is created or changed (API, admin, import: all go
through `agents_app.services.agents.agent_check`), its system prompt is scanned
for content that defeats the cache, each finding naming its span:

- timestamps (ISO 8601 date-times, clock times with seconds, epoch seconds);
- dates (2026-03-05, 03/05/2026, March 5, 2026, 5 March 2026);
- UUIDs and long hexadecimal ids;
- per-user names ("the customer's name is Ann Lee", "you are talking to Ann");
- tools in another order than the deployed ones (the same tools, a new prefix).

When a change rewrites the prefix of an agent with recent traffic, the check
also says what it costs: every session active in the last hour writes its
cached prefix again on its next turn, at the cache-write price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from agents_app.models import Agent, FamilyCachingDefault, Invocation
from pricing.costs import MILLION, usd
from pricing.selectors import model_prices

# How far back "the next sessions" are counted.
RECENT = timedelta(hours=1)
MAX_FINDINGS = 5

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_NAME = r"([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)"
# Earlier patterns win where two overlap (a date-time holds a date).
PATTERNS: tuple[tuple[str, str, re.Pattern], ...] = (
    (
        "uuid",
        "a UUID",
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ),
    (
        "timestamp",
        "a timestamp",
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?![\w:])"),
    ),
    ("timestamp", "a timestamp", re.compile(r"\b(?:[01]?\d|2[0-3]):[0-5]\d:[0-5]\d\b")),
    ("timestamp", "an epoch timestamp", re.compile(r"\b1[5-9]\d{8}(?:\d{3})?\b")),
    ("date", "a date", re.compile(r"\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b")),
    ("date", "a date", re.compile(r"\b\d{1,2}/\d{1,2}/(?:19|20)?\d{2}\b")),
    ("date", "a date", re.compile(rf"\b{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?,? (?:19|20)\d{{2}}\b")),
    ("date", "a date", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)? {_MONTH} (?:19|20)\d{{2}}\b")),
    ("hex_id", "a long hexadecimal id", re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{16,}\b")),
    (
        "user_name",
        "a user's name",
        re.compile(
            rf"\b(?:user|customer|client|caller|patient|member)(?:'s)? (?:name )?(?:is|:) {_NAME}"
            rf"|\b(?:talking|speaking|chatting) (?:to|with) {_NAME}"
            rf"|\b(?:assisting|helping|serving) {_NAME}"
            rf"|^(?:Dear|Hi|Hello),? {_NAME}\b",
            re.MULTILINE,
        ),
    ),
)
# Capitalised words the name patterns would otherwise take for a person.
NOT_NAMES = {"The", "A", "An", "You", "Your", "Our", "Customers", "Users", "Everyone", "People", "Them", "All", "Each"}

WHY = {
    "timestamp": "it is a moment in time, so it is bound to be changed per deploy (or filled in per request)",
    "date": "a date is bound to be updated per deploy (or filled in per request)",
    "uuid": "an id like this usually changes per request or per deploy",
    "hex_id": "an id like this usually changes per request or per deploy",
    "user_name": "a prompt written for one user is a prefix of its own for every user, shared with no one",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    label: str
    span: str
    start: int
    end: int
    line: int

    def notice(self) -> str:
        return (
            f'The system prompt holds {self.label}, "{self.span}" (line {self.line}, characters '
            f"{self.start}-{self.end}), in front of the cache checkpoint: {WHY[self.kind]}, and every change "
            "invalidates the cached prefix."
        )


def prompt_findings(text: str) -> list[Finding]:
    """What in `text` defeats a prompt cache, in the order of the text."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for kind, label, pattern in PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if kind == "user_name":
                name = next(group for group in match.groups() if group)
                if name.split()[0] in NOT_NAMES:
                    continue
            if any(start < other_end and other_start < end for other_start, other_end in taken):
                continue
            taken.append((start, end))
            found.append(Finding(kind, label, match.group(0), start, end, text.count("\n", 0, start) + 1))
    return sorted(found, key=lambda finding: finding.start)


def _names(integrations) -> list[str]:
    return [item.get("name", "") if isinstance(item, dict) else str(item) for item in integrations or []]


def tool_order_notice(before, after) -> str:
    """A notice when the tools are the same as before in another order ('' otherwise)."""
    old, new = _names(before), _names(after)
    if old == new or sorted(old) != sorted(new):
        return ""
    return (
        f"The tools are the same as before in another order ({', '.join(old)} now {', '.join(new)}): the tool "
        "definitions come first in the cached prefix, so the new order alone invalidates it."
    )


def _caching_requested(agent: Agent) -> bool:
    if agent.prompt_caching_enabled is not None:
        return agent.prompt_caching_enabled
    if not agent.model.supports_prompt_caching:  # the rule of Agent.objects.with_caching_state()
        return False
    default = FamilyCachingDefault.objects.filter(tenant_id=agent.tenant_id, family_id=agent.model.family_id)
    return bool(default.values_list("prompt_caching_enabled", flat=True).first())


def invalidation_cost_notice(agent: Agent) -> str:
    """What rewriting the cached prefix costs, from the sessions active in the last hour ('' without any)."""
    since = timezone.now() - RECENT
    recent = (
        Invocation.objects.filter(
            agent_id=agent.pk, status=Invocation.Status.SUCCEEDED, caching_enabled=True, finished_at__gte=since
        )
        .order_by("session_id", "-finished_at")
        .values_list("session_id", "model_calls", "cache_read_tokens", "cache_write_tokens")
    )
    cached: dict[int, int] = {}
    for session_id, calls, read, write in recent:
        if session_id not in cached:  # the session's latest turn: what its next turn would read
            last = calls[-1] if calls else {"cache_read_tokens": read, "cache_write_tokens": write}
            cached[session_id] = last["cache_read_tokens"] + last["cache_write_tokens"]
    tokens = sum(cached.values())
    if not tokens:
        return ""
    prices = model_prices(tenant=agent.tenant, model=agent.model)
    cost = Decimal(tokens) * prices.cache_write / MILLION
    return (
        f"This change invalidates the cached prefix; the next sessions pay about {usd(cost)} in cache writes "
        f"({len(cached)} session(s) active in the last hour write about {tokens:,} cached tokens again)."
    )


def prompt_check_notices(agent: Agent) -> list[str]:
    """The check's notices for an agent about to be saved (nothing when it does not cache)."""
    if not agent.model.supports_prompt_caching or not _caching_requested(agent):
        return []
    notices = [finding.notice() for finding in prompt_findings(agent.system_prompt)[:MAX_FINDINGS]]
    before = Agent.objects.filter(pk=agent.pk).values("system_prompt", "integrations", "model_id").first()
    if before is None:
        return notices
    if order := tool_order_notice(before["integrations"], agent.integrations):
        notices.append(order)
    changed = (before["system_prompt"], _names(before["integrations"]), before["model_id"]) != (
        agent.system_prompt,
        _names(agent.integrations),
        agent.model_id,
    )
    if changed and (cost := invalidation_cost_notice(agent)):
        notices.append(cost)
    return notices
