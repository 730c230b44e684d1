"""A published worked example through the replay: the three tables of the blog post "How to Save 90% on Agent
Token Costs with Prompt Caching on AWS Bedrock" (four turns on Claude Sonnet 4.6, a 2,509-token system prompt).

The post's three tables come from two runs: explicit and combined share one
conversation, automatic had another. Their figures fix the conversations'
sizes: in the first, the prompts of turns 2-4 count nothing (the combined
turns have no regular tokens) and each reply 1,773 tokens; in the second, the
first two replies count nothing (turn 2 writes exactly turn 1's input). The
tests build those conversations block by block and replay them: explicit with
the system checkpoint alone, combined and automatic with the messages
checkpoint where the Strands release the post measured put it, on the last
assistant message. Strands 1.62 puts it on the newest user message instead,
which changes turn 1 (the first prompt is cached too) and every read after it.
Costs come from the service's own cost function with Sonnet 4.6's list prices.
"""

from decimal import Decimal

import pytest

from bedrock.replay import ASSISTANT, USER, Conversation, Head, Replay, Setup, Turn
from pricing.costs import TokenUsage, invocation_costs
from pricing.prices import Prices
from tests.bedrock.support import SONNET_46, prompt_of

PRICES = Prices(Decimal("3"), Decimal("15"), Decimal("0.30"), Decimal("3.75"), Decimal("6"))
PLANS = {"explicit": ("system",), "automatic": ("messages",), "combined": ("system", "messages")}

# (cache read, cache write, regular input, input cost, saving against no cache) per turn, as the post prints them.
EXPLICIT = [
    (0, 2_509, 325, "0.010384", "-22.1"),
    (2_509, 0, 2_098, "0.007047", "83.4"),
    (2_509, 0, 3_871, "0.012366", "88.1"),
    (2_509, 0, 5_644, "0.017685", "88.1"),
]
AUTOMATIC = [
    (0, 0, 2_834, "0.008502", "0.0"),
    (0, 2_834, 2_098, "0.016923", "-21.7"),
    (2_834, 2_098, 1_037, "0.011814", "67.4"),
    (4_932, 3_135, 1_037, "0.016260", "67.4"),
]
COMBINED = [
    (0, 2_509, 325, "0.010384", "-22.1"),
    (2_509, 2_098, 0, "0.008620", "86.0"),
    (4_607, 1_773, 0, "0.008027", "88.6"),
    (6_380, 1_773, 0, "0.008559", "88.6"),
]


def text(tokens: int, salt: str) -> list[dict]:
    """Content blocks of exactly `tokens` Claude tokens (two blocks where no single text counts that much).

    Zero tokens is an empty text: what the post's figures count for that prompt or reply.
    """
    if tokens == 0:
        return [{"text": ""}]
    try:
        return [{"text": prompt_of(tokens, salt)}]
    except ValueError:
        return [{"text": prompt_of(tokens - 1, salt)}, {"text": prompt_of(1)}]


def conversation(sizes: list[tuple[int, int]], head: Head) -> Conversation:
    """Four turns, one model call each: (prompt tokens, reply tokens) per turn."""
    messages, turns = [], []
    for number, (prompt, reply) in enumerate(sizes, start=1):
        messages.append({"role": "user", "content": text(prompt, f"question{number}")})
        turns.append(Turn(number, head, started=60.0 * number, finished=60.0 * number + 5, calls=(len(messages),)))
        messages.append({"role": "assistant", "content": text(reply, f"answer{number}")})
    return Conversation("worked-example", messages, turns)


@pytest.fixture(scope="module")
def head() -> Head:
    return Head(SONNET_46, system=tuple(text(2_509, "system")), plans=PLANS, oracle_fields=("system", "messages"))


@pytest.fixture(scope="module")
def run_one(head):
    return Replay([conversation([(325, 1_773), (0, 1_773), (0, 1_773), (0, 0)], head)])


@pytest.fixture(scope="module")
def run_two(head):
    return Replay([conversation([(325, 0), (2_098, 0), (1_037, 2_098), (1_037, 0)], head)])


def table(replay: Replay, strategy: str, automatic_on: str = ASSISTANT) -> list[tuple]:
    rows = []
    for turn in replay.run(Setup(strategy, strategy, automatic_on=automatic_on)).turns:
        regular, read, write, write_1h = turn.totals()
        costs = invocation_costs(TokenUsage(regular, 0, read, write, write_1h), PRICES)
        saving = (costs.cost_without_cache - costs.cost_with_cache) / costs.cost_without_cache * 100
        rows.append((read, write, regular, costs.cost_with_cache, saving))
    return rows


@pytest.mark.parametrize(
    ("strategy", "run", "expected"),
    [("explicit", "run_one", EXPLICIT), ("combined", "run_one", COMBINED), ("automatic", "run_two", AUTOMATIC)],
)
def test_the_posts_tables_are_reproduced(request, strategy, run, expected):
    rows = table(request.getfixturevalue(run), strategy)

    assert [row[:3] for row in rows] == [row[:3] for row in expected]
    for (*_, cost, _), (*_, printed_cost, _) in zip(rows, expected, strict=True):
        # The post's cost column does not follow exactly from its token columns (automatic's turn 4
        # prints $0.016260 for tokens that cost $0.016347): within 1 %.
        assert cost == pytest.approx(Decimal(printed_cost), rel=Decimal("0.01"))
    # Its savings column is against the same turn uncached only on turn 1 (later turns it is not).
    assert rows[0][4] == pytest.approx(Decimal(expected[0][4]), abs=Decimal("0.1"))


def test_strands_162_caches_the_newest_user_message_from_turn_one(run_one, run_two):
    combined = table(run_one, "combined", automatic_on=USER)
    automatic = table(run_two, "automatic", automatic_on=USER)

    # Combined: turn 1 already writes its prompt (2,834 = 2,509 + 325) and every later turn reads all of
    # the previous request, so no turn has regular input left.
    assert [row[:3] for row in combined] == [(0, 2_834, 0), (2_834, 1_773, 0), (4_607, 1_773, 0), (6_380, 1_773, 0)]
    # Automatic: nothing is left uncached on turn 1 either; the post's turn 1 wrote nothing.
    assert [row[:3] for row in automatic] == [(0, 2_834, 0), (2_834, 2_098, 0), (4_932, 1_037, 0), (5_969, 3_135, 0)]
    # Over the four turns 1.62's placement costs no more than the older one on either conversation.
    assert sum(row[3] for row in combined) <= sum(row[3] for row in table(run_one, "combined"))
    assert sum(row[3] for row in automatic) <= sum(row[3] for row in table(run_two, "automatic"))
