"""Benchmark: /cache-stats latency and memory, rollups against raw aggregation, SQLite and PostgreSQL.

    .venv/bin/python bench/cache_stats_bench.py                # both databases, 1M invocations
    .venv/bin/python bench/cache_stats_bench.py --db postgres --rows 10000000 --raw-repeat 3
    .venv/bin/python bench/cache_stats_bench.py --db sqlite --rows 200000 --small 50000 --no-write

One tenant, 20 agents (16 Claude, 4 Nova), 90 days, sessions of five turns.
Closed days are inserted and rolled up (`rollups_refresh`, as backfill does);
today's closed hours are inserted at a day's pace and rolled up hourly (as
beat does every 5 minutes); then a whole hour's rows (a day's / 24, the
worst case) are inserted in the current hour after that refresh, as in
production: they are live, newer than every watermark, so the late-arrival
walk reads them too. Rows go in with COPY on PostgreSQL (executemany on
SQLite), 250,000 at a time, so 10M take minutes and little memory. Each
measurement runs the real API view through Django's test client, with an API
key: `GET /api/agents/{id}/cache-stats/` (one agent, about 1/20 of the rows)
and `GET /api/cache-stats/` (the tenant), for the periods 7d, 30d, 90d, all
and a custom 30-day range a month ago. Each cell is measured "kept" (as between
two rollup writes, about an hour: the process serves the markers and rollup
sums it kept, `caching.settled`) and at its "first ask" since a rollup write
(nothing kept), and after an hour's first rollup (what was kept, extended). "raw"
is the same request with rollups switched off (every day aggregated from
invocations); the ratios are raw p95 over kept and over first-ask p95.
Memory: the process's RSS, and the tracemalloc peak of one request. On
PostgreSQL the invocations table is partitioned by month (the migrations do
it), and the bench records its size and the rollups'.

`--baseline REV` measures an older commit's code on the same data as well:
after this code's run, the largest size is measured again in alternating
rounds (REV's code, then this code, `--rounds` times, each in a process of its
own, REV's code extracted with `git archive`), so the change between two
versions reads as a ratio however fast the shared machine is that hour.

PostgreSQL: BENCH_POSTGRES_URL or TEST_POSTGRES_URL (a database named
`cache_stats_bench` is created on that server and dropped after); with
neither, a throwaway server is started with scripts/test_services.sh.
Results go to the "Cache stats" section of bench/RESULTS.md (a run of more
than 1M rows to a section of its own; other sections are left as they are).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

from _common import ROOT, loadavg, machine, write_section  # bench/ is on sys.path when a script runs

SECTION = "## Cache stats"
DAYS = 90
CHUNK = 250_000  # invocations generated and inserted at a time
AGENTS = 20
TURNS = 5
NOTES = """
Reading the figures: with rollups, a request costs a fixed number of queries whatever the range. The first ask
since a rollup write reads auth, agent, the rollups' version, day markers (which bring a tenant's figures by day),
hour markers, the late-arrival walk, the live rows, the hourly rollups, one daily-rollup read (the agent's days,
or the tenant's agents and keys), and sessions for one agent. Asked again before the next write, the markers
and the rollup sums are the ones the process kept (`caching.settled`): four queries fewer. What still grows
with volume is the current hour's live rows (here a whole hour's, about 1/2,160 of the
rows), read twice: summed through the `(tenant, queued_at)` or `(agent, queued_at)` index, and walked by primary
key from the kept markers' watermarks. Raw aggregation grows with the whole range. Memory per request stays flat
(tracemalloc); the RSS column also carries the bench's own inserts in the same process, so it is an upper bound,
not the request's footprint.""".strip()


# --- The worker: one database, one process (Django settings are per process) ---------------------


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "n": len(ordered),
    }


class Generator:
    """Invocation rows built from one template row, with the few varying columns overwritten: fast and
    independent of the columns other apps add to the model."""

    def __init__(self, tenant, agents):
        from django.db import connection

        from agents_app.models import AgentSession, Invocation
        from pricing.costs import TokenUsage, invocation_costs
        from pricing.prices import list_prices

        self.connection = connection
        self.tenant = tenant
        self.agents = agents
        self.random = random.Random(42)
        self.session_counter = 0
        self.inv_fields = [f for f in Invocation._meta.concrete_fields if not f.primary_key]
        self.session_fields = [f for f in AgentSession._meta.concrete_fields if not f.primary_key]
        self.inv_table = Invocation._meta.db_table
        self.session_table = AgentSession._meta.db_table
        self.prices = {a.pk: list_prices(a.model.model_id) for a in agents}
        # Token patterns of a five-turn session with caching on: turn 1 writes, later turns read (and write a bit).
        self.patterns = {}
        for agent in agents:
            caching = agent.model.supports_prompt_caching
            usages = []
            for turn in range(TURNS):
                if not caching:
                    usages.append(TokenUsage(input_tokens=2400 + 300 * turn, output_tokens=250))
                elif turn == 0:
                    usages.append(TokenUsage(input_tokens=40, cache_write_tokens=2400, output_tokens=250))
                else:
                    usages.append(
                        TokenUsage(
                            input_tokens=40,
                            cache_read_tokens=2400 + 300 * turn,
                            cache_write_tokens=300,
                            output_tokens=250,
                        )
                    )
            self.patterns[agent.pk] = [(u, invocation_costs(u, self.prices[agent.pk])) for u in usages]
        template = Invocation(
            tenant=tenant,
            agent=agents[0],
            session_id=1,
            model_id=agents[0].model.model_id,
            prompt="bench prompt",
            status="succeeded",
        )
        self.inv_base = [self._prep(f, template) for f in self.inv_fields]
        self.inv_index = {f.attname: i for i, f in enumerate(self.inv_fields)}
        session_template = AgentSession(tenant=tenant, agent=agents[0], session_id="x")
        self.session_base = [self._prep(f, session_template) for f in self.session_fields]
        self.session_index = {f.attname: i for i, f in enumerate(self.session_fields)}

    def _prep(self, field, obj):
        value = field.pre_save(obj, add=True)  # fills auto_now_add fields, as a save would
        return field.get_db_prep_save(value, connection=self.connection)

    def _dt(self, value: datetime):
        from django.db import models

        return models.DateTimeField().get_db_prep_save(value, connection=self.connection)

    def rows(self, count: int, windows: list) -> tuple[list, list]:
        """`count` invocations in sessions of TURNS, spread evenly over the (start, seconds) `windows` and the
        agents."""
        sessions, invocations = [], []
        i = self.inv_index
        n_sessions = max(1, count // TURNS)
        for s in range(n_sessions):
            agent = self.agents[s % len(self.agents)]
            window_start, window_seconds = windows[s % len(windows)]
            self.session_counter += 1
            session_key = self.session_counter
            srow = list(self.session_base)
            srow[self.session_index["agent_id"]] = agent.pk
            srow[self.session_index["session_id"]] = f"bench-{session_key}"
            sessions.append(srow)
            start = window_start + timedelta(seconds=self.random.randrange(0, max(1, window_seconds - 90 * TURNS)))
            for turn, (usage, costs) in enumerate(self.patterns[agent.pk]):
                queued = start + timedelta(seconds=90 * turn)
                failed = self.random.random() < 0.02
                row = list(self.inv_base)
                row[i["agent_id"]] = agent.pk
                row[i["session_id"]] = session_key  # replaced by the real id after the sessions are inserted
                row[i["model_id"]] = agent.model.model_id
                row[i["status"]] = "failed" if failed else "succeeded"
                row[i["queued_at"]] = self._dt(queued)
                row[i["started_at"]] = self._dt(queued + timedelta(seconds=1))
                row[i["finished_at"]] = self._dt(queued + timedelta(seconds=9))
                # Attempts and timings, so the histograms /metrics reads have buckets to fill.
                row[i["attempts"]] = 1 + (self.random.random() < 0.05)
                row[i["queue_wait_ms"]] = self.random.randrange(20, 2000)
                row[i["latency_ms"]] = None if failed else self.random.randrange(800, 8000)
                caching = agent.model.supports_prompt_caching
                row[i["caching_enabled"]] = caching
                row[i["input_tokens"]] = usage.input_tokens
                row[i["output_tokens"]] = usage.output_tokens
                row[i["cache_read_tokens"]] = usage.cache_read_tokens
                row[i["cache_write_tokens"]] = usage.cache_write_tokens
                row[i["cache_hit"]] = (usage.cache_read_tokens > 0) if caching else None
                for name, value in costs.as_dict().items():
                    row[i[name]] = value
                invocations.append(row)
        return sessions, invocations

    def insert(self, count: int, windows: list) -> float:
        """Insert (in chunks, so 10M rows never sit in memory at once) and return the seconds it took."""
        from django.db import transaction

        t0 = time.perf_counter()
        for chunk_start in range(0, count, CHUNK):
            sessions, invocations = self.rows(min(CHUNK, count - chunk_start), windows)
            first_key = self.session_counter - len(sessions) + 1
            with transaction.atomic():
                ids = self._insert(self.session_table, self.session_fields, sessions, returning=True)
                key_to_id = {first_key + n: pk for n, pk in enumerate(ids)}
                s_index = self.inv_index["session_id"]
                for row in invocations:
                    row[s_index] = key_to_id[row[s_index]]
                self._insert(self.inv_table, self.inv_fields, invocations)
        return time.perf_counter() - t0

    def _insert(self, table, fields, rows, returning=False):
        columns = [f.column for f in fields]
        quoted = ", ".join(self.connection.ops.quote_name(c) for c in columns)
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                before = None
                if returning:
                    cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                    before = cursor.fetchone()[0]
                with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                if returning:
                    cursor.execute(f"SELECT id FROM {table} WHERE id > %s ORDER BY id", [before])
                    return [r[0] for r in cursor.fetchall()]
                return None
            placeholders = ", ".join(["%s"] * len(columns))
            if returning:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                before = cursor.fetchone()[0]
            for start in range(0, len(rows), 50_000):
                cursor.executemany(
                    f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", rows[start : start + 50_000]
                )
            if returning:
                cursor.execute(f"SELECT id FROM {table} WHERE id > %s ORDER BY id", [before])
                return [r[0] for r in cursor.fetchall()]
            return None


def measure(client, urls: dict[str, str], repeat: int, *, mode: str = "kept") -> dict[str, dict]:
    """Latency and CPU per request of each named URL, requested in turn for `repeat` rounds: a slow minute of the
    shared machine then falls on every cell alike, not on whichever cell was being measured in it.

    `mode`: "kept", as between two rollup writes (what the process keeps from the rollups, `caching.settled`,
    serves every request after the first); "hour", each request the first since an hour's first rollup (what
    was kept is extended: the markers read again; the hour's own rows, a few, are not there to read here);
    "first", each request the first since any other rollup write (nothing kept); "raw", rollups switched off
    (every day aggregated from invocations)."""
    from agent_platform.models import Tenant, new_rollups_version
    from caching import rollups

    try:
        from caching import settled
    except ImportError:  # an older commit's code (`--baseline`), which keeps nothing
        settled = None
    patches = []
    if mode == "raw":
        patches.append(mock.patch.object(rollups, "rollup_markers", return_value=rollups.RollupMarkers()))
    if mode in ("first", "raw") and settled is not None:
        patches.append(mock.patch.object(settled, "MAX_ENTRIES", 0))
    samples = {name: [] for name in urls}
    cpu = {name: [] for name in urls}
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        if settled is not None:
            settled.settled_clear()
        for url in urls.values():
            for _ in range(2):  # warm-up
                assert client.get(url).status_code == 200
        for _ in range(repeat):
            for name, url in urls.items():
                if mode == "hour":  # as `rollup_hour` of an hour never rolled up does
                    Tenant.objects.filter(slug="bench").update(rollups_version=new_rollups_version())
                t0, c0 = time.perf_counter(), time.process_time()
                response = client.get(url)
                samples[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
                assert response.status_code == 200, response.content[:300]
    # The web process's own CPU per request: what the machine's load inflates least (the database server's
    # work is in it on SQLite, not on PostgreSQL).
    return {
        name: {
            **percentiles(samples[name]),
            "cpu_p50_ms": percentiles(cpu[name])["median_ms"],
            "cpu_p95_ms": percentiles(cpu[name])["p95_ms"],
        }
        for name in urls
    }


def memory_of(client, url: str) -> dict:
    tracemalloc.start()
    response = client.get(url)
    if getattr(response, "streaming", False):
        for _ in response.streaming_content:
            pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"tracemalloc_peak_kb": round(peak / 1024), "rss_mb": round(rss_mb(), 1)}


PERIODS = ["7d", "30d", "90d", "all", "custom"]


def storage_sizes(connection) -> dict:
    """PostgreSQL: bytes of the invocations table (its partitions) and of the rollup tables, heap and indexes."""
    from django.db.models import Count

    from caching.models import CacheRollupDay, CacheRollupHour, DailyCacheRollup, HourlyCacheRollup

    sizes = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(pg_table_size(c.oid)), 0), COALESCE(SUM(pg_indexes_size(c.oid)), 0) "
            "FROM pg_class c WHERE c.oid = 'agents_app_invocation'::regclass OR c.oid IN "
            "(SELECT inhrelid FROM pg_inherits WHERE inhparent = 'agents_app_invocation'::regclass)"
        )
        sizes["invocations"] = [int(value) for value in cursor.fetchone()]
        for model in (DailyCacheRollup, HourlyCacheRollup, CacheRollupDay, CacheRollupHour):
            table = model._meta.db_table
            cursor.execute("SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass)", [table, table])
            sizes[table] = [*(int(value) for value in cursor.fetchone()), model.objects.aggregate(n=Count("pk"))["n"]]
    return sizes


def period_query(name: str, today) -> str:
    if name == "custom":  # 30 closed days, a month ago: rollups only, no live rows
        return f"from={today - timedelta(days=60)}&to={today - timedelta(days=31)}"
    return f"period={name}"


def cell_urls(agent_id: int, today) -> dict[str, str]:
    """The cells' URLs by name ("agent 7d", "tenant all", ...)."""
    urls = {}
    for period in PERIODS:
        query = period_query(period, today)
        urls[f"agent {period}"] = f"/api/agents/{agent_id}/cache-stats/?{query}&sessions_limit=20"
        urls[f"tenant {period}"] = f"/api/cache-stats/?{query}&top=10"
    return urls


def run_measure(repeat: int) -> dict:
    """Measure the cells again on the data a worker left, with the code on the path first (`BENCH_CODE`)."""
    if code := os.environ.get("BENCH_CODE"):  # an older commit's apps first (this file is the bench's)
        sys.path.insert(0, code)
    import django

    django.setup()
    from rest_framework.test import APIClient

    from agent_platform.models import Role, Tenant
    from agent_platform.services import api_key_create
    from agents_app.models import Agent
    from caching.periods import utc_today

    tenant = Tenant.objects.get(slug="bench")
    agent = Agent.objects.filter(tenant=tenant).order_by("name").first()
    _, key = api_key_create(tenant=tenant, name="bench again", role=Role.VIEWER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    urls = cell_urls(agent.pk, utc_today())
    cells = measure(client, urls, repeat)
    first = measure(client, urls, repeat, mode="first") if not code else None
    return {"code": "baseline" if code else "this", "load": loadavg(), "cells": cells, "first": first}


def run_worker(db: str, rows: int, small: int, repeat: int, raw_repeat: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.test import APIClient

    from agent_platform.models import Role, Tenant
    from agent_platform.services import api_key_create
    from agents_app.models import Agent, FoundationModel, Invocation
    from caching import services
    from caching.periods import day_start, hour_start, utc_today

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    if connection.vendor == "postgresql":
        # As in production, where beat creates each month's partition ahead: the history's months have theirs
        # (a fresh database starts at this month, and older rows would all land in the default partition).
        from agents_app.partitions import invocation_partitions_ensure

        invocation_partitions_ensure(today=utc_today() - timedelta(days=DAYS), months_ahead=4)
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    claude = FoundationModel.objects.get(model_id="us.anthropic.claude-sonnet-4-6")
    nova = FoundationModel.objects.get(model_id="us.amazon.nova-pro-v1:0")
    agents = [
        Agent.objects.create(
            tenant=tenant,
            name=f"agent-{n:02d}",
            system_prompt="bench",
            model=claude if n < 16 else nova,
            prompt_caching_enabled=n < 16,
        )
        for n in range(AGENTS)
    ]
    _, key = api_key_create(tenant=tenant, name="bench", role=Role.VIEWER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    gen = Generator(tenant, list(Agent.objects.filter(tenant=tenant).select_related("model").order_by("name")))
    today = utc_today()
    closed = [today - timedelta(days=n) for n in range(DAYS - 1, 0, -1)]
    closed_windows = [(day_start(day), 86400) for day in closed]
    urls = cell_urls(agents[0].pk, today)
    csv_url = f"/api/agents/{agents[0].pk}/invocations.csv?period=90d"
    result = {"db": db, "vendor": connection.vendor, "sizes": [], "load_before": loadavg()}

    inserted = 0
    for target in [size for size in (small, rows) if size]:
        add = target - inserted
        per_day = add // DAYS
        # Today: its closed hours at a day's pace (rolled up hourly, as beat does every 5 minutes), then a
        # whole hour's worth in the current hour, inserted after the refresh: the live rows at their worst.
        now = datetime.now(UTC)
        current = hour_start(now)
        closed_hours = int((current - day_start(today)).total_seconds() // 3600)
        today_closed = per_day * closed_hours // 24
        live = per_day // 24
        insert_closed = gen.insert(add - today_closed - live, closed_windows)
        t_roll = time.perf_counter()
        refreshed = services.rollups_refresh(tenant=tenant, days=closed)
        roll_seconds = time.perf_counter() - t_roll
        insert_today = gen.insert(today_closed, [(day_start(today), closed_hours * 3600)]) if today_closed else 0
        t_hours = time.perf_counter()
        hourly = services.rollups_refresh(tenant=tenant, days=[])
        hours_seconds = time.perf_counter() - t_hours
        insert_live = gen.insert(live, [(current, max(1, int((now - current).total_seconds())))])
        inserted = target
        if connection.vendor == "postgresql":
            # VACUUM as well as ANALYZE: after a bulk load, autovacuum would otherwise start on the new rows
            # in the middle of the measurements and take one of the machine's two cores; in production it has
            # long since been over them.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        count = Invocation.objects.count()
        storage = storage_sizes(connection) if connection.vendor == "postgresql" else {}
        entry = {
            "storage": storage,
            "invocations": count,
            "live_rows": live,
            "insert_seconds": round(insert_closed + insert_today + insert_live, 1),
            "rollup_seconds": round(roll_seconds, 1),
            "rollup_days": len(refreshed.days),
            "hourly_seconds": round(hours_seconds, 1),
            "rollup_hours": len(refreshed.hours) + len(hourly.hours),
            "latency": {},
            "metrics": measure(client, {"metrics": "/metrics"}, max(5, repeat // 4))["metrics"],
            "memory_agent": memory_of(client, urls["agent 90d"]),
            "memory_tenant": memory_of(client, urls["tenant 90d"]),
            "memory_csv": memory_of(client, csv_url),
        }
        rolled = measure(client, urls, repeat)
        hour = measure(client, urls, repeat, mode="hour")
        first = measure(client, urls, repeat, mode="first")
        raw = measure(client, urls, raw_repeat, mode="raw")
        for name in urls:
            entry["latency"][name] = {
                "rollups": rolled[name],
                "hour": hour[name],
                "first": first[name],
                "raw": raw[name],
            }
            print(name, json.dumps(entry["latency"][name]), file=sys.stderr, flush=True)
        entry["rss_mb_after"] = round(rss_mb(), 1)
        print(json.dumps(entry), file=sys.stderr, flush=True)
        result["sizes"].append(entry)
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    result["load_after"] = loadavg()
    return result


# --- The driver ----------------------------------------------------------------------------------


def postgres_server(tmp: Path):
    """(URL of the server's maintenance database, stop function)."""
    url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    if url:
        return url, lambda: None
    services_dir = tmp / "services"
    tmp.chmod(0o755)  # run as root, the server runs as `postgres`, which must reach its directory under ours
    subprocess.run(["bash", str(ROOT / "scripts" / "test_services.sh"), "start", str(services_dir)], check=True)
    env_file = (services_dir / "env").read_text()
    url = next(line.split("=", 1)[1] for line in env_file.splitlines() if "TEST_POSTGRES_URL" in line)
    return url, lambda: subprocess.run(["bash", str(ROOT / "scripts" / "test_services.sh"), "stop", str(services_dir)])


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def run_db(db: str, args, tmp: Path, baseline: Path | None = None) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agent_platform.settings", "DEBUG": "false", "DATA_DIR": str(tmp)}
    env.pop("DJANGO_ENV", None)
    stop = lambda: None  # noqa: E731
    if db == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    else:
        import psycopg

        server, stop = postgres_server(tmp)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS cache_stats_bench")
            conn.execute("CREATE DATABASE cache_stats_bench")
        env["DATABASE_URL"] = with_database(server, "cache_stats_bench")
    try:
        command = [sys.executable, __file__, "--worker", db, "--rows", str(args.rows), "--small", str(args.small)]
        command += ["--repeat", str(args.repeat), "--raw-repeat", str(args.raw_repeat)]
        out = subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if baseline is not None:
            result["baseline"], result["rounds"] = args.baseline, []
            for _ in range(args.rounds):
                for code in (baseline, None):
                    again = [sys.executable, __file__, "--measure", "--repeat", str(args.repeat)]
                    env_code = {**env, "BENCH_CODE": str(code)} if code else env
                    # The working directory is the code's: Celery puts it first on the path when the app loads.
                    out = subprocess.run(
                        again, env=env_code, cwd=code or ROOT, check=True, stdout=subprocess.PIPE, text=True
                    )
                    result["rounds"].append(json.loads(out.stdout.strip().splitlines()[-1]))
        return result
    finally:
        if db == "postgres":
            import psycopg

            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS cache_stats_bench")
            stop()


def side_by_side(results: list[dict]) -> list[str]:
    """The `--baseline` rounds: per cell, the median over rounds of each round's p50 and p95, for both codes."""
    runs = [r for r in results if r.get("rounds")]
    if not runs:
        return []
    lines = [
        "",
        f"Side by side with the code at `{runs[0]['baseline']}`, on the same data (the largest size), in alternating "
        "rounds (that code, then this, each in a process of its own; "
        f"{len(runs[0]['rounds']) // 2} rounds): the medians over rounds of each round's p50 and p95, and this "
        "code's p50 over the other's, which the machine's speed that hour affects far less than the figures.",
        "",
        "This code is measured twice: kept (between two rollup writes, what the process keeps from the "
        "rollups serves every request but the first) and first ask (each request the first since a rollup write).",
        "",
        "| DB | endpoint | period | before p50 / p95 ms | kept p50 / p95 ms | p50 ratio | first ask p50 / p95 ms "
        "| p50 ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]

    def medians(rounds: list[dict], field: str, name: str) -> list[float]:
        cells = [x[field][name] for x in rounds if x.get(field)]
        return [statistics.median(c[f] for c in cells) for f in ("median_ms", "p95_ms")]

    for r in runs:
        before = [x for x in r["rounds"] if x["code"] == "baseline"]
        this = [x for x in r["rounds"] if x["code"] == "this"]
        for name in r["rounds"][0]["cells"]:
            (b50, b95), (k50, k95) = medians(before, "cells", name), medians(this, "cells", name)
            f50, f95 = medians(this, "first", name) if this[0].get("first") else (k50, k95)
            scope, period = name.split(" ")
            lines.append(
                f"| {r['vendor']} | {scope} | {period} | {b50} / {b95} | {k50} / **{k95}** | {k50 / b50:.2f} | "
                f"{f50} / **{f95}** | {f50 / b50:.2f} |"
            )
        loads = ", ".join(x["load"].split("/")[0] for x in r["rounds"])
        lines.append(f"| {r['vendor']} | load average (1 min) after each round: {loads} | | | | | | |")
    return lines


def render(results: list[dict], args, info: dict, section: str) -> str:
    lines = [
        section,
        "",
        f"`bench/cache_stats_bench.py {' '.join(sys.argv[1:])}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{info['nproc']} CPUs, Python {info['python']}, code at {info['commit']}): one tenant, {AGENTS} agents "
        f"(16 Claude, 4 Nova), {DAYS} days, sessions of {TURNS} turns, 2% failed. Closed days rolled up daily; "
        "today's closed hours rolled up hourly; a whole hour's rows (a day's / 24) inserted in the current hour "
        "after that refresh (live). Latency through Django's test client with an API key "
        f"({args.repeat} requests per cell, {args.raw_repeat} for raw, after 2 warm-ups; in rounds that request every "
        "cell once, so the shared machine's slower minutes fall on every cell alike). Agent: "
        "`GET /api/agents/{id}/cache-stats/` (1/20 of the rows, 20 sessions); tenant: `GET /api/cache-stats/`; "
        "periods `7d`, `30d`, `90d`, `all`, and custom `from`/`to` (30 closed days a month ago). Kept: as between "
        "two rollup writes (about an hour: each closed hour's rollup is one, a refresh that only moves watermarks "
        "is not), when the process has kept what it read from the rollups (`caching.settled`) and reads only their "
        "versions, the late arrivals and the live rows; after an hour's rollup: each request the first since the "
        "first rollup of an hour (the tenant's `rollups_version` changed, its rewrite version not), which extends "
        "what was kept: the markers are read again (the hour's own rows, a few, are not there to read here); "
        "first ask: each request the first since any other rollup write (a day's, about once a day), which reads "
        "the markers and the rollup sums as well. Raw: rollups "
        "switched off, every day aggregated from invocations; ratio = raw p95 / kept p95 and / first-ask p95. "
        "CPU (kept): the web "
        "process's own CPU time per request (with rollups), which the machine's load inflates least; on SQLite it "
        "includes the database's work, on PostgreSQL the server's work is elsewhere.",
        "",
        "| DB | invocations | endpoint | period | kept p50 / p95 ms | CPU p50 / p95 ms | after an hour's rollup "
        "p50 / p95 ms | first ask p50 / p95 ms | raw p50 / p95 ms | ratio |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for size in r["sizes"]:
            for name, cell in size["latency"].items():
                scope, period = name.split(" ")
                rolled, raw = cell["rollups"], cell["raw"]
                first, hour = cell.get("first", rolled), cell.get("hour")
                hour_text = f"{hour['median_ms']} / **{hour['p95_ms']}**" if hour else ""
                ratios = [raw["p95_ms"] / x["p95_ms"] if x["p95_ms"] else 0 for x in (rolled, first)]
                lines.append(
                    f"| {r['vendor']} | {size['invocations']:,} | {scope} | {period} | {rolled['median_ms']} / "
                    f"**{rolled['p95_ms']}** | {rolled['cpu_p50_ms']} / {rolled['cpu_p95_ms']} | {hour_text} | "
                    f"{first['median_ms']} / **{first['p95_ms']}** | {raw['median_ms']} / {raw['p95_ms']} | "
                    f"{ratios[0]:,.0f}x / {ratios[1]:,.0f}x |"
                )
            m = size["metrics"]
            lines.append(
                f"| {r['vendor']} | {size['invocations']:,} | `/metrics` | all time | {m['median_ms']} / "
                f"{m['p95_ms']} | {m['cpu_p50_ms']} / {m['cpu_p95_ms']} | | | | |"
            )
    lines += side_by_side(results)
    lines += [
        "",
        "Memory of the web process (this process; tracemalloc peak of one request, RSS after it). The CSV is the "
        "agent's 90-day `invocations.csv`, streamed and read to the end.",
        "",
        "| DB | invocations | agent 90d peak (KiB) | tenant 90d peak (KiB) | CSV export peak (KiB) | RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for size in r["sizes"]:
            lines.append(
                f"| {r['vendor']} | {size['invocations']:,} | {size['memory_agent']['tracemalloc_peak_kb']} "
                f"| {size['memory_tenant']['tracemalloc_peak_kb']} | {size['memory_csv']['tracemalloc_peak_kb']} "
                f"| {size['rss_mb_after']} |"
            )
    for r in results:
        for size in r["sizes"]:
            if size.get("storage"):
                storage = size["storage"]
                heap, index = storage.pop("invocations")
                lines += [
                    "",
                    f"Storage ({r['vendor']}, {size['invocations']:,} invocations): invocations table "
                    f"{heap / 2**20:,.0f} MiB + indexes {index / 2**20:,.0f} MiB "
                    f"({(heap + index) / size['invocations']:,.0f} bytes per invocation); "
                    + "; ".join(
                        f"`{table}` {rows:,} rows, {(h + i) / 2**10:,.0f} KiB with indexes"
                        for table, (h, i, rows) in storage.items()
                    )
                    + ".",
                ]
    lines += ["", NOTES, "", "Set-up time (insert; `rollups_refresh` over the 89 closed days; the hourly refresh):", ""]
    for r in results:
        for size in r["sizes"]:
            lines.append(
                f"- {r['vendor']}, {size['invocations']:,} invocations ({size['live_rows']:,} live): insert "
                f"{size['insert_seconds']} s, rollup of {size['rollup_days']} days {size['rollup_seconds']} s, "
                f"hourly refresh ({size['rollup_hours']} hours) {size['hourly_seconds']} s"
            )
        lines.append(
            f"- {r['vendor']} run in all: {r['total_seconds']} s (load average {r['load_before']} before, "
            f"{r['load_after']} after; the machine is shared, so absolute figures carry noise)"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--raw-repeat", type=int, default=5)
    parser.add_argument("--baseline", help="Also measure this older commit's code on the same data, alternately.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds with --baseline.")
    parser.add_argument("--no-write", action="store_true", help="Print the section instead of writing RESULTS.md.")
    parser.add_argument("--results", nargs="+", metavar="FILE", help="Render saved runs instead of running.")
    parser.add_argument("--worker", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(run_measure(args.repeat)))
        return
    if args.worker:
        result = run_worker(args.worker, args.rows, args.small, args.repeat, args.raw_repeat)
        print(json.dumps(result))
        return
    info = machine()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = [json.loads(Path(name).read_text()) for name in args.results or []]
    with tempfile.TemporaryDirectory(prefix="cache-stats-bench-") as tmp:
        baseline = None
        if args.baseline and not args.results:
            baseline = Path(tmp) / "baseline"
            baseline.mkdir()
            archive = ["git", "-C", str(ROOT), "archive", args.baseline]
            archive = subprocess.run(archive, check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        for db in dbs if not args.results else []:
            print(f"==> {db}", file=sys.stderr, flush=True)
            results.append(run_db(db, args, Path(tmp), baseline))
            # Kept, so a later failure loses nothing: `--results FILE...` renders saved runs again.
            saved = Path(tempfile.gettempdir()) / f"cache-stats-bench-{db}-{args.rows}.json"
            saved.write_text(json.dumps(results[-1]))
            print(f"saved {saved}", file=sys.stderr, flush=True)
    section = SECTION if args.rows <= 1_000_000 else f"{SECTION} at {args.rows:,} invocations"
    text = render(results, args, info, section)
    if args.no_write:
        print(text)
    else:
        write_section(section, text)
        print(text)


if __name__ == "__main__":
    main()
