"""Benchmark: the cache advisor's replay of 10,000 stored invocations (100 sessions) under every set-up and the oracle.

    .venv/bin/python bench/advisor_bench.py                     # 100 sessions of 100 turns, 3 rounds
    .venv/bin/python bench/advisor_bench.py --sessions 20 --turns 50 --rounds 1 --no-write

One agent (Claude Sonnet 4.6, combined, two tools, the demo's long support
prompt) with `--sessions` conversations of `--turns` turns each, stored in a
throwaway SQLite database as the service stores them: the Strands conversation
on the session, one succeeded invocation per turn with its times, per-call
usage and prices. Every fifth turn is a tool loop (two model calls). Gaps
between turns: 60 % under 5 minutes, 30 % from 6 to 40 minutes, 10 % from 1
to 3 hours, so every TTL decision matters. The stored usage is what the
emulator's rules give the actual set-up (a replay before timing starts).

Timed, per round: `caching.advice_history.agent_history` (reading the period
from the database, rebuilding each request with Strands' formatting) and
`caching.advice.advice_data` (the replay under the 7 set-ups of
`bedrock.replay.SETUPS` plus the set-up each turn ran with, 8 in all, then the
oracle, and pricing them): what `GET /api/agents/{id}/cache-advice/` does. A
breakdown of the replay alone follows. Results go to the "Cache advisor"
section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import loadavg, machine, write_section  # bench/ is on sys.path when a script runs

SECTION = "## Cache advisor"
WORDS = [
    *("bike", "rental", "booking", "refund", "policy", "station", "helmet", "deposit", "city", "weekend"),
    *("repair", "lock", "route", "price", "member", "card", "invoice", "damage", "hour", "day", "week"),
    *("support", "ticket", "answer", "question", "customer", "return", "pickup"),
]
PROMPT_GAPS = ((0.6, 20, 280), (0.3, 360, 2400), (0.1, 3600, 10800))


def words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def gap(rng: random.Random) -> float:
    roll = rng.random()
    for share, low, high in PROMPT_GAPS:
        if roll < share:
            return rng.uniform(low, high)
        roll -= share
    return rng.uniform(20, 280)


def build(sessions: int, turns: int, seed: int = 7):
    """The agent and its stored history; returns (tenant, agent, period)."""
    from agent_platform.models import Tenant
    from agents_app.demo import support_system_prompt
    from agents_app.models import Agent, AgentSession, FoundationModel, Invocation
    from caching.periods import Period
    from pricing.selectors import model_prices

    rng = random.Random(seed)
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    model = FoundationModel.objects.get(model_id="us.anthropic.claude-sonnet-4-6")
    agent = Agent.objects.create(
        tenant=tenant,
        name="support",
        system_prompt=support_system_prompt(),
        model=model,
        prompt_caching_enabled=True,
        integrations=[{"name": "calculator"}, {"name": "word_count"}],
    )
    prices = model_prices(tenant=tenant, model=model).as_dict()
    start = datetime.now(UTC) - timedelta(days=20)
    rows = []
    for number in range(sessions):
        at = start + timedelta(seconds=rng.uniform(0, 3 * 86400))
        messages = []
        stored = AgentSession.objects.create(tenant=tenant, agent=agent, session_id=f"s{number:04d}")
        for turn in range(turns):
            prompt = f"Turn {turn}: {words(rng, 8, 40)}"
            messages.append({"role": "user", "content": [{"text": prompt}]})
            calls = 1
            if turn % 5 == 4:
                use = {"toolUseId": f"tooluse_{number}_{turn}", "name": "calculator", "input": {"expression": "6 * 7"}}
                messages.append(
                    {"role": "assistant", "content": [{"text": "I will use the calculator."}, {"toolUse": use}]}
                )
                result = {"toolUseId": use["toolUseId"], "status": "success", "content": [{"text": "42"}]}
                messages.append({"role": "user", "content": [{"toolResult": result}]})
                calls = 2
            messages.append({"role": "assistant", "content": [{"text": words(rng, 40, 160)}]})
            took = rng.uniform(2, 12)
            rows.append(
                Invocation(
                    tenant=tenant,
                    agent=agent,
                    session=stored,
                    prompt=prompt,
                    status=Invocation.Status.SUCCEEDED,
                    model_id=model.model_id,
                    caching_enabled=True,
                    started_at=at,
                    finished_at=at + timedelta(seconds=took),
                    model_calls=[{}] * calls,
                    prices=prices,
                )
            )
            at += timedelta(seconds=took + gap(rng))
        stored.messages = messages
        stored.save(update_fields=["messages"])
    Invocation.objects.bulk_create(rows, batch_size=1000)
    Invocation.objects.filter(agent=agent).update(queued_at=models_started_at())
    today = datetime.now(UTC).date()
    return tenant, agent, Period(today - timedelta(days=29), today, "30d")


def models_started_at():
    from django.db.models import F

    return F("started_at")


def store_actual_usage(tenant, agent, period) -> None:
    """Give every invocation the usage the emulator's rules give its actual set-up, per call, and its costs."""
    from agents_app.models import Invocation
    from bedrock.replay import ACTUAL, Replay, Setup
    from caching.advice_history import agent_history
    from pricing.costs import TokenUsage, invocation_costs

    history = agent_history(tenant=tenant, agent=agent, period=period)
    result = Replay(history.conversations).run(Setup("actual", ACTUAL))
    invocations = {i.pk: i for i in Invocation.objects.filter(agent=agent)}
    for turn in result.turns:
        invocation = invocations[turn.key]
        invocation.model_calls = [
            {
                "input_tokens": inp,
                "output_tokens": 100,
                "cache_read_tokens": read,
                "cache_write_tokens": write,
                "cache_write_1h_tokens": write_1h,
            }
            for inp, read, write, write_1h in turn.calls
        ]
        inp, read, write, write_1h = turn.totals()
        usage = TokenUsage(inp, 100 * len(turn.calls), read, write, write_1h)
        for name, value in {**usage.__dict__, **invocation_costs(usage, history.prices[turn.key]).as_dict()}.items():
            setattr(invocation, name, value)
        invocation.cache_hit = read > 0
    fields = ["model_calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]
    fields += ["cache_write_1h_tokens", "cache_hit", "cost_with_cache", "cost_without_cache", "gross_savings"]
    fields += ["write_premium", "net_savings", "output_cost"]
    Invocation.objects.bulk_update(invocations.values(), fields, batch_size=1000)


def one_round(tenant, agent, period) -> dict:
    from bedrock import tokenizer
    from caching.advice import advice_data
    from caching.advice_history import agent_history

    tokenizer.clear_caches()  # every round counts its texts again, as a fresh worker would
    t0 = time.perf_counter()
    history = agent_history(tenant=tenant, agent=agent, period=period)
    t1 = time.perf_counter()
    data = advice_data(history, period=period)
    t2 = time.perf_counter()
    return {"history": t1 - t0, "replay": t2 - t1, "total": t2 - t0, "data": data}


def breakdown(tenant, agent, period) -> dict:
    from bedrock import tokenizer
    from bedrock.oracle import replay_oracle
    from bedrock.replay import SETUPS, Replay
    from caching.advice import ACTUAL_SETUP
    from caching.advice_history import agent_history

    history = agent_history(tenant=tenant, agent=agent, period=period)
    tokenizer.clear_caches()
    t0 = time.perf_counter()
    replay = Replay(history.conversations)
    times = {"prepare (hash and count each conversation once)": time.perf_counter() - t0}
    for setup in (*SETUPS, ACTUAL_SETUP):
        t0 = time.perf_counter()
        replay.run(setup)
        times[setup.name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    replay_oracle(replay, history.rates())
    times["oracle"] = time.perf_counter() - t0
    return {"times": times, "calls": len(replay.calls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="advisor-bench-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="agent_platform.settings",
        DEBUG="false",
        DATA_DIR=str(tmp),
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    tenant, agent, period = build(args.sessions, args.turns)
    store_actual_usage(tenant, agent, period)
    print(f"built {args.sessions * args.turns} invocations in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    load_before = loadavg()
    rounds = [one_round(tenant, agent, period) for _ in range(args.rounds)]
    parts = breakdown(tenant, agent, period)
    load_after = loadavg()
    data = rounds[-1]["data"]
    report(args, rounds, parts, data, load_before, load_after)


def report(args, rounds, parts, data, load_before, load_after) -> None:
    def median(key):
        return statistics.median(r[key] for r in rounds)

    check = data["actual"]["self_check"]
    advice = data["advice"]
    exact, compared, difference = (
        check["exact_invocations"],
        check["compared_invocations"],
        check["cost_difference_ratio"],
    )
    verdict = advice["one_hour_ttl"]["verdict"]
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python bench/advisor_bench.py --sessions {args.sessions} --turns {args.turns} "
        f"--rounds {args.rounds}`",
        "",
        f"Workload: {data['invocations']:,} invocations in {data['sessions']} sessions ({data['model_calls']:,} model "
        "calls: every fifth turn a two-call tool loop), one agent on Claude Sonnet 4.6 (combined, two tools, the "
        "demo's support prompt), gaps between turns 60 % under 5 min, 30 % 6-40 min, 10 % 1-3 h; SQLite. Timed: "
        "reading the period and rebuilding every request with Strands' formatting, then the replay under the 7 "
        "set-ups and the actual one (8) plus the oracle, priced: the work of `GET /api/agents/{id}/cache-advice/`. "
        "The tokenizer's text caches are emptied before each round.",
        "",
        f"Load average (1/5/15 min): {load_before} before, {load_after} after. "
        f"Machine: {machine()['nproc']} vCPUs ({machine()['cpu']}), Python {machine()['python']}, "
        f"commit {machine()['commit']}.",
        "",
        "| round | history (DB + requests) | replay 8 set-ups + oracle + prices | total |",
        "|---|---|---|---|",
        *(
            f"| {n} | {r['history']:.2f} s | {r['replay']:.2f} s | **{r['total']:.2f} s** |"
            for n, r in enumerate(rounds, start=1)
        ),
        f"| median | {median('history'):.2f} s | {median('replay'):.2f} s | **{median('total'):.2f} s** |",
        "",
        "The replay alone, one run (seconds):",
        "",
        "| step | seconds |",
        "|---|---|",
        *(f"| {name} | {seconds:.3f} |" for name, seconds in parts["times"].items()),
        "",
        f"Self-check: the replay of the actual set-up reproduces {exact:,} of {compared:,} invocations exactly "
        f"(cost difference {difference:.6f}). Advice on this traffic: current {advice['current']} "
        f"${advice['current_cost']}, cheapest {advice['cheapest']} ${advice['cheapest_cost']}, oracle "
        f"${advice['oracle_cost']} (1-hour TTL: {verdict}).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
