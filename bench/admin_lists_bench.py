"""Benchmark: server time of the admin's lists with spend columns, and of the cost dashboard, at 100,000 invocations.

    .venv/bin/python bench/admin_lists_bench.py                 # SQLite and PostgreSQL, 100,000 invocations
    .venv/bin/python bench/admin_lists_bench.py --db sqlite --rows 20000 --no-write

One tenant, 100 agents (80 Claude with caching, 20 Nova), 30 days, sessions of
five turns (20,000 sessions), 2 % failed; closed days rolled up daily, today's
closed hours hourly and the current hour's rows live, as beat keeps them in
production (and sessions' running totals filled, where the code has them). Each page is requested
through Django's test client as a logged-in superuser (the widest lists: the
tenant column and filter), 100 rows a page: the agents list (cost, savings and
hit rate over 30 days per agent), the sessions list, the invocations list, each
as first shown and sorted by cost, then the dashboard over 30 days (daily) and
2 days (hourly) and one agent's caching page. Server time is the test client's
round trip in this process: URL routing, middleware, queries and rendering.
`--baseline REV` measures the same pages of an older commit of the code
(extracted with `git archive` into a temporary directory; pages it does not have
are left out) on the same data, one run after the other, so the difference the
spend columns make can be read apart from the machine's load.
Results go to the "Admin lists" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import ROOT, loadavg, machine, write_section  # bench/ is on sys.path when a script runs

SECTION = "## Admin lists"
AGENTS = 100
DAYS = 30
AIM_MS = 150


def seed(rows: int):
    """One tenant's agents and `rows` invocations over DAYS days, as production holds them: closed days rolled
    up daily, today's closed hours hourly (beat does both), the current hour's rows live."""
    from cache_stats_bench import Generator
    from django.db import connection

    from agent_platform.models import Tenant
    from agents_app.models import Agent, FoundationModel
    from caching import services
    from caching.periods import day_start, hour_start, utc_today

    today = utc_today()
    if connection.vendor == "postgresql":
        # As beat does ahead of time: the history's months have their partitions (not the default one).
        from agents_app.partitions import invocation_partitions_ensure

        invocation_partitions_ensure(today=today - timedelta(days=DAYS), months_ahead=4)
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    claude = FoundationModel.objects.get(model_id="us.anthropic.claude-sonnet-4-6")
    nova = FoundationModel.objects.get(model_id="us.amazon.nova-pro-v1:0")
    Agent.objects.bulk_create(
        Agent(
            tenant=tenant,
            name=f"agent-{n:03d}",
            system_prompt="bench",
            model=claude if n < 80 else nova,
            prompt_caching_enabled=n < 80,
        )
        for n in range(AGENTS)
    )
    agents = list(Agent.objects.filter(tenant=tenant).select_related("model").order_by("name"))
    gen = Generator(tenant, agents)
    closed = [today - timedelta(days=n) for n in range(DAYS - 1, 0, -1)]
    per_day = rows // DAYS
    now = datetime.now(UTC)
    current = hour_start(now)
    closed_hours = int((current - day_start(today)).total_seconds() // 3600)
    today_closed = per_day * closed_hours // 24
    live = per_day // 24
    insert = gen.insert(rows - today_closed - live, [(day_start(day), 86400) for day in closed])
    services.rollups_refresh(tenant=tenant, days=closed)
    if today_closed:
        insert += gen.insert(today_closed, [(day_start(today), closed_hours * 3600)])
        services.rollups_refresh(tenant=tenant, days=[])  # today's closed hours
    insert += gen.insert(live, [(current, max(1, int((now - current).total_seconds())))])
    try:  # sessions' running totals, where the code keeps them: filled as the invocation service keeps them
        from agents_app.services.session_totals import session_totals_refresh
    except ImportError:  # an older commit's code has none
        pass
    else:
        session_totals_refresh()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return tenant, agents, gen, insert


def run_worker(db: str, rows: int, repeat: int) -> dict:
    code = os.environ.get("BENCH_CODE")
    if code:  # an older commit's code: its apps first on the path (this file and its helpers are the bench's)
        sys.path.insert(0, code)
    import django

    django.setup()
    from cache_stats_bench import percentiles
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from agents_app.models import Invocation

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    tenant, agents, gen, insert = seed(rows)
    setup_seconds = time.perf_counter() - t0

    user = get_user_model().objects.create_superuser("bench", password="bench-pw-123")
    client = Client()
    client.force_login(user)
    first = agents[0]

    def by_cost(url: str, column: str) -> str | None:
        """The list sorted by its cost column, through the link its header offers (None: no such column)."""
        html = client.get(url).content.decode()
        if f"column-{column}" not in html:
            return None
        header = html.split(f"column-{column}")[1].split("</th>")[0]
        return url + re.search(r'href="(\?o=[^"]+)"', header)[1].replace("&amp;", "&")

    pages = {
        "agents": "/admin/agents_app/agent/",
        "agents by cost": by_cost("/admin/agents_app/agent/", "agent_cost"),
        "sessions": "/admin/agents_app/agentsession/",
        "sessions by cost": by_cost("/admin/agents_app/agentsession/", "session_cost"),
        "invocations": "/admin/agents_app/invocation/",
        "invocations by cost": by_cost("/admin/agents_app/invocation/", "invocation_cost"),
        "dashboard 30 days": "/admin/caching/dashboard/?period=30d",
        "dashboard 2 days (hourly)": "/admin/caching/dashboard/?period=2d",
        "caching page": f"/admin/agents_app/agent/{first.pk}/caching/",
    }
    measured = {}
    load_before = loadavg()
    for name, url in pages.items():
        if url is None or (code and "period=2d" in url):  # not in the older code
            continue
        for _ in range(2):  # warm-up
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        queries: list[str] = []

        def count(execute, sql, *rest, seen=queries):
            seen.append(sql)
            return execute(sql, *rest)

        with connection.execute_wrapper(count):
            client.get(url)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            samples.append(time.perf_counter() - started)
        html = response.content.decode()
        measured[name] = {
            "url": url,
            "queries": len(queries),
            "rows": html.count('<tr class="') if "/admin/caching/" not in url else None,
            **percentiles(samples),
        }
        print(name, json.dumps(measured[name]), file=sys.stderr, flush=True)
    return {
        "code": "baseline" if code else "this",
        "db": db,
        "vendor": connection.vendor,
        "invocations": Invocation.objects.count(),
        "sessions": gen.session_counter,
        "load_after": loadavg(),
        "insert_seconds": round(insert, 1),
        "setup_seconds": round(setup_seconds, 1),
        "pages": measured,
        "load_before": load_before,
    }


def run_db(db: str, args, tmp: Path, code: Path | None = None) -> dict:
    from cache_stats_bench import postgres_server, with_database

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agent_platform.settings", "DEBUG": "false", "DATA_DIR": str(tmp)}
    env.pop("DJANGO_ENV", None)
    # The dashboard and the caching page queue cache-advice replays for agents without stored advice; no worker
    # runs here, so every request would queue them again, and the SQLite broker's ~35 ms a message would be
    # measured instead of the page. An in-memory broker takes them as a Redis broker would (sub-millisecond).
    env["CELERY_BROKER_URL"] = "memory://"
    if code is not None:
        env["BENCH_CODE"] = str(code)
    stop = lambda: None  # noqa: E731
    if db == "sqlite":
        (tmp / "admin-lists.sqlite3").unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'admin-lists.sqlite3'}"
    else:
        import psycopg

        tmp.chmod(0o755)  # a throwaway server's cluster lives under it, and runs as the postgres user when root
        server, stop = postgres_server(tmp)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS admin_lists_bench")
            conn.execute("CREATE DATABASE admin_lists_bench")
        env["DATABASE_URL"] = with_database(server, "admin_lists_bench")
    try:
        command = [sys.executable, __file__, "--worker", db, "--rows", str(args.rows), "--repeat", str(args.repeat)]
        # The working directory is the code's: Celery puts it first on the path when the app loads.
        cwd = code or ROOT
        out = subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.PIPE, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if db == "postgres":
            import psycopg

            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS admin_lists_bench")
            stop()


def render(results: list[dict], args, info: dict, load_after: str) -> str:
    lines = [
        SECTION,
        "",
        f"`bench/admin_lists_bench.py --rows {args.rows}` ({datetime.now(UTC):%Y-%m-%d}, {info['nproc']} CPUs "
        f"({info['cpu']}), Python {info['python']}, code at {info['commit']}"
        f"{' with uncommitted changes in ' + ', '.join(info['dirty']) if info['dirty'] else ''}): one tenant, "
        f"{AGENTS} agents (80 Claude with caching, 20 Nova), {DAYS} days, sessions of 5 turns, 2 % failed; closed "
        "days rolled up daily, today's closed hours hourly, the current hour live. Server time of each page "
        "through Django's test client as a superuser, 100 rows a page,"
        f" {args.repeat} requests after 2 warm-ups. Aim for the lists: under {AIM_MS} ms.",
        "",
        "| DB | code | invocations | page | queries | median ms | p95 ms | min ms |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        code = "this" if r["code"] == "this" else f"baseline {args.baseline}"
        for name, m in r["pages"].items():
            lines.append(
                f"| {r['vendor']} | {code} | {r['invocations']:,} | {name} (`{m['url']}`) | {m['queries']} "
                f"| {m['median_ms']} | {m['p95_ms']} | {m['min_ms']} |"
            )
    lines.append("")
    for r in results:
        lines.append(
            f"- {r['vendor']} ({r['code']} code): {r['invocations']:,} invocations in {r['sessions']:,} sessions, "
            "inserted in "
            f"{r['insert_seconds']} s (set-up {r['setup_seconds']} s); load average {r['load_before']} before "
            f"the measurements, {r['load_after']} after."
        )
    lines.append(f"- Load average after the run: {load_after} (the machine is shared: absolute figures carry noise).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--baseline", help="Also measure this older commit's pages (e.g. a merge base).")
    parser.add_argument("--no-write", action="store_true", help="Print the section instead of writing RESULTS.md.")
    parser.add_argument("--worker", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.rows, args.repeat)))
        return
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="admin-lists-bench-") as tmp:
        baseline = None
        if args.baseline:
            baseline = Path(tmp) / "baseline"
            baseline.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline], check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
            for code in [baseline, None] if baseline else [None]:
                print(f"==> {db} {'baseline' if code else 'this'}", file=sys.stderr, flush=True)
                results.append(run_db(db, args, Path(tmp), code))
    text = render(results, args, info, loadavg())
    if not args.no_write:
        write_section(SECTION, text)
    print(text)


if __name__ == "__main__":
    main()
