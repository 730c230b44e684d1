"""The replay and the oracle in-process: the engine's usage per request, calibration, set-ups, the oracle's floor."""

import random

import pytest

from bedrock import PromptCacheEngine
from bedrock.oracle import Rates, replay_oracle
from bedrock.replay import ACTUAL, SETUPS, Conversation, Head, Replay, Setup, Turn, calibrate
from tests.bedrock.support import SONNET_4, SONNET_46, prompt_of

PLANS = {"explicit": ("system",), "automatic": ("messages",), "combined": ("system", "messages")}
SYSTEM = ({"text": prompt_of(2_500, "system")},)
HEAD = Head(SONNET_46, SYSTEM, (), PLANS, actual="combined", oracle_fields=("system", "messages"))


def text(tokens: int, salt: str) -> str:
    """About `tokens` tokens (the replay needs no exact sizes here)."""
    return salt + " policy" * tokens


CLAUDE_RATES = Rates()


def cost(result, rates: Rates = CLAUDE_RATES) -> float:
    inp, read, write, write_1h = (sum(t.totals()[i] for t in result.turns) for i in range(4))
    return inp * rates.input + read * rates.read + (write - write_1h) * rates.write + write_1h * rates.write_1h


def traffic(seed: int, sessions: int = 6, turns: int = 8, head: Head = HEAD) -> list[Conversation]:
    """Random sessions: prompts and replies of varied size, gaps from seconds to hours."""
    rng = random.Random(seed)
    conversations = []
    for s in range(sessions):
        messages, done, at = [], [], rng.uniform(0, 7200)
        for t in range(turns):
            messages.append({"role": "user", "content": [{"text": text(rng.randint(20, 400), f"q{s}x{t}")}]})
            done.append(Turn((s, t), head, at, at + 4, (len(messages),)))
            messages.append({"role": "assistant", "content": [{"text": text(rng.randint(50, 900), f"a{s}x{t}")}]})
            at += rng.choice([20, 90, 200, 400, 1200, 2400, 5000])
        conversations.append(Conversation(s, messages, done))
    return conversations


def test_each_request_gets_the_engines_usage_as_if_sent_whole():
    conversations = traffic(1, sessions=2, turns=4)
    replayed = Replay(conversations).run(Setup("combined-5m", "combined"))

    engine = PromptCacheEngine()
    calls = sorted((turn.started, c, turn) for c in conversations for turn in c.turns)
    for started, conversation, turn in calls:
        count = turn.calls[0]
        messages = [dict(m, content=list(m["content"])) for m in conversation.messages[:count]]
        messages[-1]["content"].append({"cachePoint": {"type": "default"}})
        request = {"system": [*SYSTEM, {"cachePoint": {"type": "default"}}], "messages": messages}
        usage = engine.apply(SONNET_46, request, now=started).usage()
        found = next(t for t in replayed.turns if t.key == turn.key).calls[0]
        assert found == (usage["inputTokens"], usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"], 0)


@pytest.mark.parametrize("seed", range(8))
def test_the_oracle_is_never_above_any_setup(seed):
    replay = Replay(traffic(seed))
    oracle = cost(replay_oracle(replay))

    for setup in (*SETUPS, Setup("actual", ACTUAL)):
        assert oracle <= cost(replay.run(setup)) + 1e-9, setup.name


def test_calibration_makes_each_request_hold_what_was_billed():
    tokens = [0, 100, 150, 400, 450, 700]
    # Billed totals at the ends of two requests (positions 3 and 5), 10 % above the estimate.
    stretched = calibrate(tokens, [(3, 440), (5, 770)])
    assert stretched[3] == 440 and stretched[5] == 770
    assert stretched[1] == 110 and stretched[4] == 495  # in proportion between the anchors
    assert calibrate(tokens, [(3, 440), (5, 300)]) == calibrate(tokens, [(3, 440)])  # a count that goes down is dropped


def test_calibrated_replay_reproduces_billed_totals():
    conversation = traffic(3, sessions=1, turns=3)[0]
    estimate = Replay([conversation]).run(Setup("none", None))
    billed = {t.key: round(sum(t.totals()[:3]) * 1.07) for t in estimate.turns}
    turns = [Turn(t.key, t.head, t.started, t.finished, t.calls, (billed[t.key],)) for t in conversation.turns]

    result = Replay([Conversation("c", conversation.messages, turns)]).run(Setup("combined-5m", "combined"))

    assert {t.key: sum(t.totals()[:3]) for t in result.turns} == billed


def test_a_one_hour_setup_on_a_model_without_it_is_unavailable():
    head = Head(SONNET_4, SYSTEM, (), PLANS, actual="combined", oracle_fields=("system", "messages"))
    replay = Replay(traffic(2, sessions=1, turns=2, head=head))

    result = replay.run(Setup("combined-1h", "combined", "1h"))

    assert not result.available and "no 1-hour cache TTL" in result.why_unavailable
    assert replay.run(Setup("combined-5m", "combined")).available
    assert sum(t.totals()[3] for t in replay_oracle(replay).turns) == 0  # the oracle writes no 1-hour entry


def test_a_catalog_without_caching_sends_no_checkpoint():
    head = Head(SONNET_46, SYSTEM, (), {"explicit": (), "automatic": (), "combined": ()}, actual=None)
    replay = Replay(traffic(4, sessions=2, turns=3, head=head))

    for setup in (*SETUPS, Setup("actual", ACTUAL)):
        result = replay.run(setup)
        assert all(t.totals()[1:] == (0, 0, 0) and t.reason is None for t in result.turns)
    assert all(t.totals()[1:] == (0, 0, 0) for t in replay_oracle(replay).turns)


def test_reasons_follow_the_engines_state():
    # One conversation: turn 2 after 10 minutes (expired under 5m, read under 1h).
    messages, turns = [], []
    for number, at in enumerate((0, 30, 630)):
        messages.append({"role": "user", "content": [{"text": prompt_of(300, f"q{number}")}]})
        turns.append(Turn(number, HEAD, at, at + 2, (len(messages),)))
        messages.append({"role": "assistant", "content": [{"text": prompt_of(300, f"a{number}")}]})
    replay = Replay([Conversation("c", messages, turns)])

    five = [t.reason.reason for t in replay.run(Setup("combined-5m", "combined")).turns]
    hour = [t.reason.reason for t in replay.run(Setup("combined-1h", "combined", "1h")).turns]

    assert five == ["first_use", "growth", "ttl_expired"]
    assert hour == ["first_use", "growth", "growth"]
    expired = replay.run(Setup("combined-5m", "combined")).turns[2].reason
    assert expired.detail["gap_seconds"] == pytest.approx(600.0)
