"""Benchmark: alert rule evaluation and the hard-budget check over 1,000,000 invocations, SQLite and PostgreSQL.

    .venv/bin/python bench/alerts_bench.py                     # both databases, 1M invocations
    .venv/bin/python bench/alerts_bench.py --db sqlite --rows 200000 --no-write

The data set is the cache-stats benchmark's (its `Generator`: one tenant, 20
agents, 90 days, sessions of five turns, closed days rolled up, today's rows
live); a third of the invocations are attributed to each of two API keys, the
rest to none. The tenant gets eleven rules: each kind on the tenant, the
write storm and the hit-rate rule on one agent and on one key, the monthly
and daily spend, and the drop after a deployment (one agent deployed an hour
ago). Measured: `alert_rules_evaluate(tenant=...)`, the whole evaluation of
the tenant as beat runs it (conditions, transitions, no messages: the rules
have no channels); each kind alone; and `budget_check` (what every
`invocation_create` adds) against the same month summed from the invocations
through their index. Results go to the "Alert rules" section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import ROOT, loadavg, machine, write_section  # bench/ is on sys.path when a script runs
from cache_stats_bench import AGENTS, DAYS, Generator, postgres_server, with_database

SECTION = "## Alert rules"


def timed(function, repeat: int) -> dict:
    function()  # warm-up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        function()
        samples.append(time.perf_counter() - t0)
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def run_worker(rows: int, repeat: int) -> dict:
    import django

    django.setup()
    from decimal import Decimal

    from django.apps import apps as django_apps
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import F, Sum
    from django.utils import timezone

    from agent_platform.models import Tenant
    from agent_platform.services import api_key_create
    from agents_app import budgets
    from agents_app.models import Agent, Budget, Deployment, FoundationModel, Invocation, MonthlySpend
    from alerts.models import AlertRule
    from alerts.services import alert_rules_evaluate
    from caching import services
    from caching.periods import utc_today

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    claude = FoundationModel.objects.get(model_id="us.anthropic.claude-sonnet-4-6")
    nova = FoundationModel.objects.get(model_id="us.amazon.nova-pro-v1:0")
    for n in range(AGENTS):
        Agent.objects.create(
            tenant=tenant,
            name=f"agent-{n:02d}",
            system_prompt="bench",
            model=claude if n < 16 else nova,
            prompt_caching_enabled=n < 16,
        )
    agents = list(Agent.objects.filter(tenant=tenant).select_related("model").order_by("name"))
    keys = [api_key_create(tenant=tenant, name=f"key-{n}")[0] for n in range(2)]
    gen = Generator(tenant, agents)
    today = utc_today()
    closed = [today - timedelta(days=n) for n in range(DAYS - 1, 0, -1)]
    today_rows = rows // DAYS
    gen.insert(rows - today_rows, closed)
    for n, key in enumerate(keys):  # a third of the invocations each, the rest asked for by no key
        Invocation.objects.annotate(r=F("id") % 3).filter(r=n).update(api_key_id=key.pk)
    t_roll = time.perf_counter()
    services.rollups_refresh(tenant=tenant, days=closed)
    rollup_seconds = time.perf_counter() - t_roll
    gen.insert(today_rows, [today])
    Invocation.objects.filter(
        pk__gt=Invocation.objects.order_by("-pk").values_list("pk", flat=True)[today_rows]
    ).update(api_key_id=keys[0].pk)
    # The running monthly spend, as the finishing transactions would have kept it.
    fill = importlib.import_module("agents_app.migrations.0011_invocation_requester_budgets").monthly_spend_fill
    fill(django_apps, None)
    now = timezone.now()
    Deployment.objects.create(
        tenant=tenant,
        agent=agents[0],
        version=1,
        config={},
        backend="local",
        status="deployed",
        finished_at=now - timedelta(hours=1),
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    kinds = [
        ("hit_rate_below", {"threshold": 50}),
        ("premium_above_savings", {}),
        ("write_storm", {"threshold": 3}),
        ("hit_rate_drop_after_deploy", {"threshold": 20}),
        ("spend_above_budget", {"threshold": 1_000_000, "budget_period": "month"}),
        ("spend_above_budget", {"threshold": 1_000_000, "budget_period": "day"}),
        ("write_storm", {"threshold": 3, "agent": agents[1]}),
        ("hit_rate_below", {"threshold": 50, "api_key": keys[0]}),
        ("spend_above_budget", {"threshold": 1_000_000, "api_key": keys[1]}),
        ("premium_above_savings", {"agent": agents[2]}),
        ("hit_rate_below", {"threshold": 50, "agent": agents[3], "api_key": keys[1]}),
    ]
    for n, (kind, fields) in enumerate(kinds):
        AlertRule.objects.create(tenant=tenant, name=f"{kind} {n}", kind=kind, notify_admins=False, **fields)
    count = Invocation.objects.count()
    result = {
        "vendor": connection.vendor,
        "invocations": count,
        "rules": len(kinds),
        "load_before": loadavg(),
        "rollup_seconds": round(rollup_seconds, 1),
        "evaluate_tenant": timed(lambda: alert_rules_evaluate(tenant=tenant), repeat),
        "by_kind": {},
    }
    for kind in sorted({kind for kind, _ in kinds}):
        AlertRule.objects.update(enabled=False)
        AlertRule.objects.filter(kind=kind).update(enabled=True)
        result["by_kind"][kind] = timed(lambda: alert_rules_evaluate(tenant=tenant), repeat)
        result["by_kind"][kind]["rules"] = AlertRule.objects.filter(kind=kind).count()
    Budget.objects.create(tenant=tenant, monthly_limit=Decimal(10**9))
    Budget.objects.create(tenant=tenant, agent=agents[0], monthly_limit=Decimal(10**9))
    # A whole month's invocations (the last 30 days: the month at its end), the alternative to the running total.
    month_start = datetime.combine(today - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
    result["month_rows"] = Invocation.objects.filter(tenant=tenant, queued_at__gte=month_start).count()
    result["monthly_spend_rows"] = MonthlySpend.objects.filter(tenant=tenant).count()
    result["budget_check"] = timed(lambda: budgets.budget_check(agent=agents[0]), repeat * 5)
    result["month_summed_from_invocations"] = timed(
        lambda: Invocation.objects.filter(tenant=tenant, queued_at__gte=month_start).aggregate(
            s=Sum("cost_with_cache") + Sum("output_cost")
        ),
        max(3, repeat // 4),
    )
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    result["load_after"] = loadavg()
    return result


def run_db(db: str, args, tmp: Path) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agent_platform.settings", "DEBUG": "false", "DATA_DIR": str(tmp)}
    env.pop("DJANGO_ENV", None)
    stop = lambda: None  # noqa: E731
    if db == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'alerts-bench.sqlite3'}"
    else:
        import psycopg

        server, stop = postgres_server(tmp)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS alerts_bench")
            conn.execute("CREATE DATABASE alerts_bench")
        env["DATABASE_URL"] = with_database(server, "alerts_bench")
    try:
        command = [sys.executable, __file__, "--worker", "--rows", str(args.rows), "--repeat", str(args.repeat)]
        out = subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if db == "postgres":
            import psycopg

            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS alerts_bench")
            stop()


def render(results: list[dict], args, info: dict) -> str:
    def cell(m):
        return f"{m['median_ms']} / {m['p95_ms']} (max {m['max_ms']})"

    lines = [
        SECTION,
        "",
        f"`bench/alerts_bench.py` ({datetime.now(UTC):%Y-%m-%d}, {info['nproc']} CPUs, Python {info['python']}, "
        f"code at {info['commit']}): the cache-stats data set (one tenant, {AGENTS} agents, {DAYS} days, closed days "
        "rolled up, today's rows live), a third of the invocations by each of two API keys; eleven rules on the "
        f"tenant (every kind; on the tenant, an agent, a key), 60-minute windows. {args.repeat} runs after a warm-up. "
        "Aim: the tenant's evaluation under 1 s.",
        "",
        "| DB | invocations | what | median / p95 ms |",
        "|---|---:|---|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['vendor']} | {r['invocations']:,} | **all {r['rules']} rules of the tenant** "
            f"(`alert_rules_evaluate`) | **{cell(r['evaluate_tenant'])}** |"
        )
        for kind, m in r["by_kind"].items():
            lines.append(f"| {r['vendor']} | {r['invocations']:,} | {m['rules']} × `{kind}` | {cell(m)} |")
        lines.append(
            f"| {r['vendor']} | {r['invocations']:,} | `budget_check` (tenant and agent budget; "
            f"{r['monthly_spend_rows']} running-total rows) | {cell(r['budget_check'])} |"
        )
        lines.append(
            f"| {r['vendor']} | {r['invocations']:,} | a month's spend summed from its {r['month_rows']:,} invocations "
            "(30 days, `(tenant, queued_at)` index) "
            f"| {cell(r['month_summed_from_invocations'])} |"
        )
    lines += [
        "",
        "A rolling window is summed from the live rows through the `(tenant, queued_at)` or `(agent, queued_at)` "
        "index (about 460 rows an hour here); the write storm reads the same hour on the 7 days before; monthly "
        "spend reads the day and key rollups plus today's rows (`caching.totals`). Every `invocation_create` pays "
        "for `budget_check`: one query with no budget set, one more per budget, on the running monthly totals "
        "kept in the finishing transaction, instead of summing the month's invocations.",
        "",
    ]
    for r in results:
        lines.append(
            f"- {r['vendor']}: run in all {r['total_seconds']} s, rollup of the closed days {r['rollup_seconds']} s "
            f"(load average {r['load_before']} before, {r['load_after']} after; the machine is shared)"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="Print the section instead of writing RESULTS.md.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.rows, args.repeat)))
        return
    info = machine()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = []
    with tempfile.TemporaryDirectory(prefix="alerts-bench-") as tmp:
        for db in dbs:
            print(f"==> {db}", file=sys.stderr, flush=True)
            results.append(run_db(db, args, Path(tmp)))
    text = render(results, args, info)
    if args.no_write:
        print(text)
    else:
        write_section(SECTION, text)
        print(text)


if __name__ == "__main__":
    main()
