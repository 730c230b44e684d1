"""Benchmark of the invocation pipeline: what the service adds to a model call, and how many turns it runs per second.

1. Overhead per invocation, in one process: the service's path
   (`invocation_create` + `invocation_run` on a real Django database, SQLite
   file under a temporary DATA_DIR, Celery broker on a throwaway Redis) against
   a direct `run_agent` call with the same `AgentConfig`, the same history
   length and the same emulator. Both sides are interleaved turn by turn (the
   one going first alternates) over several sessions, so history grows alike.
   The overhead is reported two ways: the difference of the two sides, and the
   service's time outside `run_agent` (measured by timing the `run_agent` call
   the service makes; less noisy, as it needs no second model call). Then the
   overhead is profiled with cProfile (the profiler is off while `run_agent`
   runs, so only the service's own code is counted).
2. Throughput through the real API: gunicorn, Celery workers on Redis, the
   emulator, a SQLite file database; two worker set-ups (2 workers with
   `-c 1`, 1 worker with `-c 2`), each in two batches run A B B A so a drift in
   the shared machine's load favours neither. A batch: a fresh agent, fresh
   workers (one session, see `start_workers`), half the sessions' turns queued
   at once (turn 0 of every session, then turn 1, ...). Throughput is the
   invocations over the summed time from each batch's first POST to its last
   `finished_at`; latencies come from the API's timestamps; the workers' CPU
   time per invocation from /proc.

The machine's load average is reported with each figure; a hand-written notes
block in the section (between NOTES_START and NOTES_END) survives a rewrite.
Not a test: nothing here asserts on a timing. Every process it starts is
stopped on exit, Ctrl-C, SIGTERM, errors and the overall time limit.

Run: ``.venv/bin/python bench/pipeline_bench.py [--sessions 10 --turns 20] [--no-write]``
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import os
import pstats
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, ROOT, loadavg, machine, write_section  # bench/ is on sys.path when a script runs

SECTION = "## Invocation pipeline"
NOTES_START = "<!-- pipeline-notes: written by hand; the benchmark keeps this block when it rewrites the section -->"
NOTES_END = "<!-- /pipeline-notes -->"

CLAUDE = "us.anthropic.claude-sonnet-4-6"
QUESTION = "Session {session}, turn {turn} [{side}]: where is my order, and can I still get a refund?"
AIM_MS = 10.0


# Worker set-ups for the throughput part: label, session-id prefix, (worker name, concurrency) for each worker.
WORKER_CONFIGS = {
    "2x1": ("2 workers × `-c 1`", "c1x2", [("w1", 1), ("w2", 1)]),
    "1x2": ("1 worker × `-c 2`", "c2x1", [("w3", 2)]),
}


class BenchTimeout(Exception):
    pass


# --- small helpers ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The q-th percentile, linearly interpolated between the nearest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def isotime(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def short_function(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return re.sub(r" at 0x[0-9a-f]+>$", ">", name)
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{name} ({filename}:{line})"


# --- part 1: overhead, in process -------------------------------------------------------------------


def django_setup(data_dir: Path, redis_url: str, emulator_url: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for key in list(os.environ):
        if key.startswith(("AWS_", "CELERY_", "DJANGO_")) or key in ("DATABASE_URL", "REDIS_URL", "DATA_DIR"):
            del os.environ[key]
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "agent_platform.settings",
            "DATA_DIR": str(data_dir),
            "CELERY_BROKER_URL": redis_url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": emulator_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "LOG_LEVEL": "WARNING",
            # Production's settings: DEBUG would log every query (and, on SQLite, quote its parameters again).
            "DEBUG": "false",
            "DB_CONN_MAX_AGE": "60",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class OverheadBench:
    """The service's path and a direct `run_agent`, side by side in this process, with timers around

    - the `run_agent` call the service makes (what is outside it is the service's overhead; while a profiler
      is attached it is switched off for that call, so only the service's own code is profiled);
    - `build_agent` inside `run_agent`, on both sides (a Strands agent, a boto3 session and client each turn);
    - the garbage collector's pauses (`gc.callbacks`).
    """

    def __init__(self, emulator):
        from agent_platform.services import tenant_create
        from agents_app import selectors
        from agents_app.demo import support_system_prompt
        from agents_app.models import FoundationModel
        from agents_app.runtime import run as run_module
        from agents_app.runtime.config import AgentConfig
        from agents_app.services import agents as agent_services
        from agents_app.services import invocations as invocation_services

        self.emulator = emulator
        self.invocation_services = invocation_services
        self.run_module = run_module
        self.run_agent = run_module.run_agent
        self.build_agent = run_module.build_agent
        self.agent = agent_services.agent_create(
            tenant=tenant_create(slug="bench"),
            model=FoundationModel.objects.get(model_id=CLAUDE),
            name="bench support",
            system_prompt=support_system_prompt(),
            prompt_caching_enabled=True,
            cache_strategy="combined",
        ).agent
        self.config = AgentConfig.from_json(selectors.agent_config(self.agent))
        self.client_config = invocation_services.BEDROCK_CLIENT_CONFIG
        self.histories: dict[str, list] = {}
        self.profile: cProfile.Profile | None = None
        self.inner: list[float] = []
        self.inner_cpu: list[float] = []
        self.builds: list[float] = []
        self.gc_total = self.gc_since = 0.0

    # -- instrumentation --

    def __enter__(self) -> OverheadBench:
        self.invocation_services.run_agent = self._timed_run_agent
        self.run_module.build_agent = self._timed_build_agent
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._on_gc)
        self.run_module.build_agent = self.build_agent
        self.invocation_services.run_agent = self.run_agent

    def _timed_run_agent(self, *args, **kwargs):
        if self.profile:
            self.profile.disable()
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return self.run_agent(*args, **kwargs)
        finally:
            self.inner.append(time.perf_counter() - started)
            self.inner_cpu.append(time.thread_time() - cpu)
            if self.profile:
                self.profile.enable()

    def _timed_build_agent(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.build_agent(*args, **kwargs)
        finally:
            self.builds.append(time.perf_counter() - started)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.gc_since = time.perf_counter()
        else:
            self.gc_total += time.perf_counter() - self.gc_since

    # -- one turn on each side --

    def service_turn(self, prompt: str, session_id: str) -> dict:
        gc_before = self.gc_total
        started, cpu = time.perf_counter(), time.thread_time()
        invocation = self.invocation_services.invocation_create(agent=self.agent, prompt=prompt, session_id=session_id)
        created = time.perf_counter()
        self.invocation_services.invocation_run(invocation_id=invocation.pk)
        finished = time.perf_counter()
        cpu = time.thread_time() - cpu
        return {
            "service_cpu": cpu,
            "overhead_cpu": cpu - self.inner_cpu[-1],
            "service": finished - started,
            "create": created - started,
            "run": finished - created,
            "model": self.inner[-1],
            "service_build": self.builds[-1],
            "service_gc": self.gc_total - gc_before,
            "invocation": invocation,
        }

    def direct_turn(self, prompt: str, session_id: str) -> dict:
        gc_before = self.gc_total
        started, cpu = time.perf_counter(), time.thread_time()
        result = self.run_agent(
            self.config, prompt, messages=self.histories.get(session_id), boto_client_config=self.client_config
        )
        elapsed = time.perf_counter() - started
        cpu = time.thread_time() - cpu
        self.histories[session_id] = result.messages
        return {
            "direct_cpu": cpu,
            "direct": elapsed,
            "direct_build": self.builds[-1],
            "direct_gc": self.gc_total - gc_before,
            "result": result,
        }

    # -- the phases --

    def warm_up(self) -> None:
        """Imports, the first boto3 client, Django's first queries, the Redis connection."""
        for turn in range(3):
            self.service_turn(question(-1, turn, "svc"), "warmup")
            self.direct_turn(question(-1, turn, "dir"), "warmup")
        self.emulator.reset()

    def compare(self, sessions: int, turns: int) -> list[dict]:
        rows = []
        for session in range(sessions):
            for turn in range(turns):
                sid = f"s{session}"
                if (session * turns + turn) % 2 == 0:
                    service = self.service_turn(question(session, turn, "svc"), sid)
                    direct = self.direct_turn(question(session, turn, "dir"), sid)
                else:
                    direct = self.direct_turn(question(session, turn, "dir"), sid)
                    service = self.service_turn(question(session, turn, "svc"), sid)
                invocation, result = service.pop("invocation"), direct.pop("result")
                invocation.refresh_from_db()
                rows.append(
                    {
                        **service,
                        **direct,
                        "status": invocation.status,
                        "service_read": invocation.cache_read_tokens,
                        "direct_read": result.cache_read_tokens,
                        "service_messages": len(invocation.session.messages),
                        "direct_messages": len(result.messages),
                    }
                )
        return rows

    def debug_setting(self, sessions: int, turns: int) -> dict[bool, list[float]]:
        """The overhead with DEBUG=False and DEBUG=True (the development default), alternating turn by turn."""
        from django.conf import settings

        overhead: dict[bool, list[float]] = {False: [], True: []}
        try:
            for session in range(sessions):
                for turn in range(turns):
                    for flag in (False, True) if turn % 2 == 0 else (True, False):
                        settings.DEBUG = flag
                        row = self.service_turn(question(2000 + session, turn, "svc"), f"debug{flag:d}-{session}")
                        overhead[flag].append(row["service"] - row["model"])
        finally:
            settings.DEBUG = False
        return overhead

    def profiled(self, sessions: int, turns: int) -> tuple[cProfile.Profile, int]:
        self.profile = profile = cProfile.Profile()
        count = 0
        try:
            for session in range(sessions):
                for turn in range(turns):
                    prompt = question(1000 + session, turn, "svc")
                    profile.enable()
                    try:
                        self.service_turn(prompt, f"profile{session}")
                    finally:
                        profile.disable()
                    count += 1
        finally:
            self.profile = None
        return profile, count


def question(session: int, turn: int, side: str) -> str:
    return QUESTION.format(session=session, turn=turn, side=side)


def measure_overhead(args, emulator) -> dict:
    with OverheadBench(emulator) as bench:
        bench.warm_up()
        load_before = loadavg()
        rows = bench.compare(args.sessions, args.turns)
        load_after = loadavg()
        debug = bench.debug_setting(args.debug_sessions, args.turns)
        profile, profiled = bench.profiled(args.profile_sessions, args.turns)
    if args.profile_out:
        profile.dump_stats(args.profile_out)
    return {
        "rows": rows,
        "load": (load_before, load_after),
        "debug": debug,
        "profile": profile_summary(profile, profiled, args.top),
    }


# Service functions whose whole time lies outside run_agent (so their cumulative time is exact).
SERVICE_STEPS = [
    ("agents_app/services/invocations.py", "invocation_create", "invocation_create (incl. the enqueue)"),
    ("django/db/models/query.py", "get_or_create", "  session get_or_create"),
    ("celery/app/task.py", "delay", "  `invocation_run.delay` on commit (Redis publish)"),
    ("agents_app/services/invocations.py", "_session_lease_take", "lease take (conditional UPDATE)"),
    ("django/db/models/base.py", "refresh_from_db", "refresh_from_db after the claim"),
    ("agents_app/selectors.py", "deployment_config_for_run", "deployment_config_for_run (current deployment)"),
    ("agents_app/selectors.py", "agent_config", "  agent_config (no deployment yet)"),
    ("agents_app/runtime/config.py", "from_json", "AgentConfig.from_json"),
    ("agents_app/services/invocations.py", "_store_success", "_store_success"),
    ("pricing/selectors.py", "model_prices", "  model_prices (PriceOverride query + list prices)"),
    ("pricing/costs.py", "invocation_costs", "  invocation_costs"),
    ("agents_app/services/invocations.py", "_session_lease_release", "  lease release, storing the conversation"),
]


def profile_summary(profile: cProfile.Profile, invocations: int, top: int) -> dict:
    stats = pstats.Stats(profile)
    entries = stats.stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = sum(entry[2] for entry in entries.values())
    by_tottime = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    steps = []
    for suffix, name, label in SERVICE_STEPS:
        matches = [v for k, v in entries.items() if k[0].endswith(suffix) and k[2] == name]
        if matches:
            cumtime = sum(v[3] for v in matches)
            calls = sum(v[1] for v in matches)
            steps.append((label, calls / invocations, cumtime / invocations * 1000, cumtime / total * 100))
    grouped = grouped_own_time(entries)
    return {
        "invocations": invocations,
        "total_ms": total / invocations * 1000,
        "top": [
            (short_function(k), v[1] / invocations, v[2] / invocations * 1000, v[2] / total * 100)
            for k, v in by_tottime
        ],
        "steps": steps,
        "categories": sorted(
            ((name, t / invocations * 1000, t / total * 100) for name, t in grouped.items()),
            key=lambda row: row[1],
            reverse=True,
        ),
    }


CATEGORIES = [
    # Django's SQLiteCursorWrapper.execute shows up as a builtin whose own time is sqlite3's execute.
    ("SQLite itself (executing the statements, commit, fetch)", ("sqlite3.", "SQLiteCursorWrapper")),
    ("Django ORM (building and compiling queries, model instances, transactions)", ("django/db/",)),
    ("Celery, kombu, redis-py (sending the task)", ("celery/", "kombu/", "redis/", "vine/", "amqp/")),
    ("socket calls to Redis (send, wait for the reply)", ("_socket.",)),
    ("JSON (JSONField values)", ("json/", "_json")),
    ("the service's own code (agents_app, caching)", ("agents_app/", "caching/")),
    ("Django, other (signals, timezone, utils)", ("django/",)),
    ("stdlib, other (copy, inspect, uuid, dataclasses, decimal, ...)", ("",)),
]


def file_category(text: str) -> str:
    return next(label for label, markers in CATEGORIES if any(marker in text for marker in markers))


def grouped_own_time(entries: dict) -> dict[str, float]:
    """Own time per category; a builtin's time counts for its caller's category unless it is I/O itself."""
    grouped: dict[str, float] = {}

    def add(label: str, seconds: float) -> None:
        grouped[label] = grouped.get(label, 0.0) + seconds

    for (filename, _, name), (_, _, tottime, _, callers) in entries.items():
        if filename != "~":
            add(file_category(filename), tottime)
            continue
        own = file_category(name)
        if own != CATEGORIES[-1][0] or not callers:
            add(own, tottime)
            continue
        for (caller_file, _, caller_name), caller_stats in callers.items():
            add(file_category(caller_file if caller_file != "~" else caller_name), caller_stats[2])
    return grouped


# --- part 2: throughput through the API -------------------------------------------------------------


def start_workers(stack, name: str, workers: list[tuple[str, int]]) -> None:
    """The set-up's Celery workers, all in one session, each logging to `<worker>.log`.

    One session, so one scheduler autogroup, whatever the number of workers: with autogroups on (the
    default), the kernel shares the CPU fairly between sessions, so on a machine busy with other
    people's work two workers in two sessions get about twice the CPU of one worker with `-c 2`.
    """
    commands = []
    for worker, concurrency in workers:
        celery = [str(Path(sys.executable).parent / "celery"), "-A", "agent_platform", "worker", "-l", "info"]
        celery += ["-c", str(concurrency), "-n", f"{worker}@%h", "--without-gossip", "--without-mingle"]
        commands.append(f"{shlex.join(celery)} > {shlex.quote(str(stack.logs / f'{worker}.log'))} 2>&1 &")
    script = " ".join(commands) + " wait"
    stack.processes[name] = subprocess.Popen(
        ["/bin/sh", "-c", script], cwd=ROOT, env=stack.env, stdin=subprocess.DEVNULL, start_new_session=True
    )


def read_log(stack, name: str) -> str:
    path = stack.logs / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes in a process group."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # pgrp, the 5th field of stat
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def api_invocations(stack, key: str, agent_id: int, status: str | None = None) -> tuple[int, list[dict]]:
    """The agent's invocations (every page), or just their count when `status` is given."""
    path = f"/api/agents/{agent_id}/invocations/"
    if status:
        response = stack.call(key, "GET", path, params={"status": status})
        response.raise_for_status()
        return response.json()["count"], []
    rows, page = [], 1
    while True:
        response = stack.call(key, "GET", path, params={"page": page})
        response.raise_for_status()
        data = response.json()
        rows += data["results"]
        if not data["next"]:
            return data["count"], rows
        page += 1


def run_batch(stack, key: str, emulator, config: str, batch: int, sessions: range, turns: int, timeout: float) -> dict:
    """One batch: a fresh agent and fresh workers of set-up `config`; all turns of `sessions` queued at once."""
    from agent_platform.devstack import wait_until
    from agents_app.demo import support_system_prompt

    label, slug, workers = WORKER_CONFIGS[config]
    workers = [(f"{worker}b{batch}", concurrency) for worker, concurrency in workers]
    emulator.reset()
    agent = stack.create_agent(
        key,
        name=f"throughput {label} batch {batch}",
        system_prompt=support_system_prompt(),
        model_id=CLAUDE,
        prompt_caching_enabled=True,
        cache_strategy="combined",
    )
    group = f"{slug}b{batch}"
    start_workers(stack, group, workers)
    try:
        for name, _ in workers:
            wait_until(lambda name=name: " ready." in read_log(stack, name), timeout=90, what=f"worker {name}")
        pgid = stack.processes[group].pid
        cpu_before = group_cpu_seconds(pgid)
        total = len(sessions) * turns
        load_before = loadavg()
        first_post = time.time()
        for turn in range(turns):
            for session in sessions:
                prompt = QUESTION.format(session=session, turn=turn, side="api")
                stack.invoke(key, agent["id"], prompt, session_id=f"{slug}-{session}")
        last_post = time.time()

        def done():
            finished = sum(api_invocations(stack, key, agent["id"], status)[0] for status in ("succeeded", "failed"))
            return finished >= total

        wait_until(done, timeout=timeout, interval=0.5, what=f"{total} invocations ({label}, batch {batch})")
        load_after = loadavg()
        worker_cpu = group_cpu_seconds(pgid) - cpu_before
        _, rows = api_invocations(stack, key, agent["id"])
    finally:
        stack.terminate(group)
    started = [isotime(r["started_at"]) for r in rows if r["started_at"]]
    finished = [isotime(r["finished_at"]) for r in rows if r["finished_at"]]
    ok = [r for r in rows if r["status"] == "succeeded"]
    return {
        "config": config,
        "invocations": len(rows),
        "succeeded": len(ok),
        "worker_cpu": worker_cpu,
        "retries": sum(read_log(stack, name).count(" retry: Retry in ") for name, _ in workers),
        "posting_s": last_post - first_post,
        "elapsed_s": max(finished) - first_post,
        "drain_s": max(finished) - min(started),
        "e2e": [isotime(r["finished_at"]) - isotime(r["queued_at"]) for r in ok],
        "wait": [isotime(r["started_at"]) - isotime(r["queued_at"]) for r in ok],
        "run": [isotime(r["finished_at"]) - isotime(r["started_at"]) for r in ok],
        "model": [r["latency_ms"] / 1000 for r in ok],
        "load": f"{load_before} → {load_after}",
    }


def combine(config: str, batches: list[dict]) -> dict:
    """One set-up's batches as one result: throughput over the sum of the batches' times."""
    mine = [b for b in batches if b["config"] == config]
    count = sum(b["invocations"] for b in mine)
    elapsed = sum(b["elapsed_s"] for b in mine)
    return {
        "label": WORKER_CONFIGS[config][0],
        "batches": len(mine),
        "invocations": count,
        "succeeded": sum(b["succeeded"] for b in mine),
        "worker_cpu": sum(b["worker_cpu"] for b in mine) / count,
        "retries": sum(b["retries"] for b in mine),
        "posting_s": sum(b["posting_s"] for b in mine),
        "elapsed_s": elapsed,
        "throughput": count / elapsed,
        "per_batch": [b["invocations"] / b["elapsed_s"] for b in mine],
        "drain": count / sum(b["drain_s"] for b in mine),
        **{name: [x for b in mine for x in b[name]] for name in ("e2e", "wait", "run", "model")},
        "load": [b["load"] for b in mine],
    }


# --- report ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def stat_row(label: str, values: list[float], bold: bool = False) -> str:
    cells = [ms(pct(values, 50)), ms(pct(values, 95)), ms(sum(values) / len(values))]
    if bold:
        cells = [f"**{cell}**" for cell in cells]
    return f"| {label} | {' | '.join(cells)} |"


def overhead_table(result: dict) -> list[str]:
    rows = result["rows"]

    def column(name: str) -> list[float]:
        return [r[name] for r in rows]

    service, direct = column("service"), column("direct")
    diff = [
        ms(pct(service, 50) - pct(direct, 50)),
        ms(pct(service, 95) - pct(direct, 95)),
        ms((sum(service) - sum(direct)) / len(rows)),
    ]
    ratio = [f"{pct(service, q) / pct(direct, q):.3f}" for q in (50, 95)] + [f"{sum(service) / sum(direct):.3f}"]
    lines = [
        "| ms per invocation | median | p95 | mean |",
        "|---|---|---|---|",
        stat_row("service: `invocation_create` + `invocation_run`", service),
        stat_row("direct: `run_agent` (same config, same history)", direct),
        f"| difference service − direct (of the medians, p95s, means) | {' | '.join(diff)} |",
        stat_row("paired difference, turn by turn", [r["service"] - r["direct"] for r in rows]),
        f"| ratio service / direct | {' | '.join(ratio)} |",
        stat_row(
            "**overhead measured directly: the service's time outside its `run_agent` call**",
            [r["service"] - r["model"] for r in rows],
            bold=True,
        ),
        stat_row(
            "the same, in CPU time of the benchmark's thread (what the machine's load does not inflate)",
            column("overhead_cpu"),
            bold=True,
        ),
        stat_row("— `invocation_create` (incl. the enqueue to Redis on commit)", column("create")),
        stat_row("— `invocation_run` outside `run_agent`", [r["run"] - r["model"] for r in rows]),
        stat_row("`run_agent` as the service calls it", column("model")),
        stat_row("CPU time of the thread, service", column("service_cpu")),
        stat_row("CPU time of the thread, direct", column("direct_cpu")),
        stat_row(
            "inside `run_agent`, both sides: `build_agent` (Strands agent, boto3 session + client)",
            column("service_build") + column("direct_build"),
        ),
        stat_row("garbage-collector pauses during a turn, both sides", column("service_gc") + column("direct_gc")),
    ]
    debug = result.get("debug") or {}
    if debug.get(True):
        lines += [
            stat_row(
                f"overhead with `DEBUG=False` ({len(debug[False])} turns, alternating with the next row)", debug[False]
            ),
            stat_row(f"overhead with `DEBUG=True`, the development default ({len(debug[True])} turns)", debug[True]),
        ]
    return lines


def throughput_table(results: list[dict]) -> list[str]:
    def row(label: str, render) -> str:
        return f"| {label} | " + " | ".join(render(r) for r in results) + " |"

    def seconds(r: dict, name: str) -> str:
        return f"{pct(r[name], 50):.2f} s / {pct(r[name], 95):.2f} s"

    def millis(r: dict, name: str) -> str:
        return f"{pct(r[name], 50) * 1000:.0f} ms / {pct(r[name], 95) * 1000:.0f} ms"

    return [
        row("measure", lambda r: r["label"]),
        "|---|" + "---|" * len(results),
        row("invocations (succeeded), in batches", lambda r: f"{r['invocations']} ({r['succeeded']}), {r['batches']}"),
        row("the POSTs took (sum over the batches)", lambda r: f"{r['posting_s']:.1f} s"),
        row("first POST → last `finished_at` (sum over the batches)", lambda r: f"{r['elapsed_s']:.1f} s"),
        row("**throughput**", lambda r: f"**{r['throughput']:.1f} invocations/s**"),
        row("— per batch, in order", lambda r: ", ".join(f"{x:.1f}/s" for x in r["per_batch"])),
        row("drain rate (first `started_at` → last `finished_at`)", lambda r: f"{r['drain']:.1f}/s"),
        row("end-to-end latency (`queued_at` → `finished_at`), median / p95", lambda r: seconds(r, "e2e")),
        row("— waiting in the queue (`queued_at` → `started_at`)", lambda r: seconds(r, "wait")),
        row("— running in a worker (`started_at` → `finished_at`)", lambda r: millis(r, "run")),
        row("— of which the Strands stream (`latency_ms`)", lambda r: millis(r, "model")),
        row(
            "worker CPU time per invocation (all worker processes, user + system)",
            lambda r: f"{r['worker_cpu'] * 1000:.0f} ms",
        ),
        row("session-order retries (`Retry in` in the worker logs)", lambda r: str(r["retries"])),
        row("load average before → after, per batch", lambda r: "; ".join(r["load"])),
    ]


def profile_tables(summary: dict) -> list[str]:
    lines = [
        f"Under cProfile the overhead is {summary['total_ms']:.1f} ms per invocation (the profiler inflates "
        f"Python-heavy code, so read the shares, not the absolute figures); {summary['invocations']} invocations.",
        "",
        "By kind of work (own time of the functions, grouped):",
        "",
        "| kind | ms per invocation | share |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {t:.2f} | {share:.0f} % |" for name, t, share in summary["categories"]]
    lines += [
        "",
        "The service's steps (cumulative time, everything they call):",
        "",
        "| step | calls per invocation | ms per invocation | share |",
        "|---|---|---|---|",
    ]
    lines += [f"| {label} | {calls:.0f} | {t:.2f} | {share:.0f} % |" for label, calls, t, share in summary["steps"]]
    lines += [
        "",
        "Top functions by own time:",
        "",
        "| function | calls per invocation | ms per invocation | share |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{name}` | {calls:.1f} | {t:.3f} | {share:.1f} % |".replace("|`", "| `")
        for name, calls, t, share in summary["top"]
    ]
    return lines


def report(args, info: dict, overhead: dict | None, throughput: list[dict], skipped: list[str]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    lines = [
        SECTION,
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Linux, Python {info['python']}, {versions}, "
        f"redis-server {info['redis_server']}; code at {info['commit']}"
        + (f" with uncommitted changes in {', '.join(info['dirty'])}" if info["dirty"] else "")
        + ". Shared with other engineers' test runs while measuring: "
        "the load average (1/5/15 min) is given with each figure. Run of "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "Command: `.venv/bin/python bench/pipeline_bench.py` "
        f"(here: `--sessions {args.sessions} --turns {args.turns} --tp-sessions {args.tp_sessions} "
        f"--tp-turns {args.tp_turns}`).",
        "",
        f"Agent: `{CLAUDE}`, the 2,500-token `support_system_prompt()`, caching on, strategy combined, no tools; "
        "the emulator without a latency model (replies at once), in the benchmark's process. Production "
        "settings where they matter: `DEBUG=false`, `DB_CONN_MAX_AGE=60`; the database is a SQLite file "
        "(PostgreSQL in production).",
        "",
    ]
    if overhead:
        rows = overhead["rows"]
        statuses = {r["status"] for r in rows}
        lines += [
            "### Overhead per invocation (in process)",
            "",
            f"{len(rows)} invocations per side, interleaved ({args.sessions} sessions × {args.turns} turns, the side "
            "going first alternating); service on a SQLite file database (WAL) with the Celery broker on Redis; "
            "direct = `run_agent` with the same `AgentConfig`, history and botocore config. "
            f"Load average {overhead['load'][0]} before, {overhead['load'][1]} after. "
            f"Aim: under {AIM_MS:.0f} ms per invocation.",
            "",
            *overhead_table(overhead),
            "",
            f"Check: service statuses {sorted(statuses)}; cache-read tokens per turn, mean, service "
            f"{sum(r['service_read'] for r in rows) / len(rows):,.0f} / direct "
            f"{sum(r['direct_read'] for r in rows) / len(rows):,.0f}; history length equal on both sides in "
            f"{sum(r['service_messages'] == r['direct_messages'] for r in rows)}/{len(rows)} turns.",
            "",
            "#### Where the overhead goes (cProfile, `run_agent` excluded)",
            "",
            *profile_tables(overhead["profile"]),
            "",
        ]
    if throughput:
        lines += [
            "### Throughput through the API (gunicorn, Celery on Redis)",
            "",
            f"{args.tp_sessions * args.tp_turns} invocations over {args.tp_sessions} sessions per worker set-up, "
            f"in two batches of {args.tp_sessions // 2} sessions × {args.tp_turns} turns; the set-ups' batches run "
            "in the order A B B A, so a drift in the machine's load favours neither. Each batch: a fresh agent, "
            "fresh workers (all of a set-up's workers in one session, so one scheduler autogroup, see the notes), "
            "every turn queued as fast as the API takes it (turn 0 of every session, then turn 1, ...) from one "
            "client. Throughput = invocations / the sum of the batches' first POST → last `finished_at`. gunicorn "
            "with 2 sync workers, a SQLite file database shared by all processes, the emulator in the benchmark's "
            "process. Latencies from the API's `queued_at`, `started_at`, `finished_at`; with a whole batch queued "
            "at once, the end-to-end latency is mostly the wait in the queue.",
            "",
            *throughput_table(throughput),
            "",
        ]
    lines += [f"Not measured: {reason}." for reason in skipped]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="overhead: sessions (default 10)")
    parser.add_argument("--turns", type=int, default=20, help="overhead: turns per session (default 20)")
    parser.add_argument("--profile-sessions", type=int, default=3, help="overhead: sessions profiled (default 3)")
    parser.add_argument("--debug-sessions", type=int, default=2, help="overhead: sessions with DEBUG on/off")
    parser.add_argument("--top", type=int, default=15, help="profile: functions listed (default 15)")
    parser.add_argument("--profile-out", help="also write the raw cProfile data here (for pstats, snakeviz)")
    parser.add_argument("--tp-sessions", type=int, default=20, help="throughput: sessions (default 20)")
    parser.add_argument("--tp-turns", type=int, default=10, help="throughput: turns per session (default 10)")
    parser.add_argument(
        "--tp-configs",
        default="2x1,1x2",
        help="throughput: worker set-ups in the order measured; 2x1 = 2 workers with -c 1, 1x2 = 1 worker with -c 2",
    )
    parser.add_argument("--tp-timeout", type=float, default=240, help="throughput: seconds per configuration")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--time-limit", type=int, default=540, help="stop everything after this many seconds")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not update {RESULTS.name}")
    args = parser.parse_args()

    def on_alarm(signum, frame):
        raise BenchTimeout(f"time limit of {args.time_limit} s reached")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(args.time_limit)

    # Always a Redis of our own: a shared one could hand our tasks to someone else's workers.
    os.environ.pop("TEST_REDIS_URL", None)
    from agent_platform.devstack import RedisServer, Stack
    from bedrock.emulator.server import start

    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    deadline = time.monotonic() + args.time_limit - 30
    overhead, throughput, skipped = None, [], []
    redis = emulator = stack = None
    try:
        redis = RedisServer(tmp)
        emulator = start("127.0.0.1", 0)
        # Django in this process (the throughput part needs it too, for the demo system prompt).
        django_setup(tmp / "inprocess", redis.url.rsplit("/", 1)[0] + "/1", emulator.url)
        if not args.skip_overhead:
            print(f"overhead: {args.sessions} sessions x {args.turns} turns per side ... (load {loadavg()})")
            overhead = measure_overhead(args, emulator)
            print("\n".join(overhead_table(overhead)), end="\n\n")
            print("\n".join(profile_tables(overhead["profile"])), end="\n\n")
        if not args.skip_throughput:
            (tmp / "stack").mkdir()
            stack = Stack(tmp / "stack", redis.url, emulator.url, DEBUG="false", DB_CONN_MAX_AGE=60)
            stack.manage("migrate", "--verbosity", "0")
            key = stack.tenant_key("bench")
            stack.start_web()
            configs = args.tp_configs.split(",")
            half = args.tp_sessions // 2
            halves = [range(0, half), range(half, args.tp_sessions)]
            # A B B A (for two set-ups): a drift in the machine's load favours neither.
            plan = [(c, 0) for c in configs] + [(c, 1) for c in reversed(configs)]
            batches = []
            for number, (config, part) in enumerate(plan):
                label = WORKER_CONFIGS[config][0]
                timeout = min(args.tp_timeout, deadline - time.monotonic() - 20)
                if timeout < 30:
                    print(f"throughput: {label}, batch {number}: skipped, not enough of the time limit left")
                    skipped.append(f"{label}, batch {number}: skipped, not enough of the time limit left")
                    continue
                print(f"throughput: {label}, batch {number} ({len(halves[part])} sessions) ... (load {loadavg()})")
                try:
                    batch = run_batch(stack, key, emulator, config, number, halves[part], args.tp_turns, timeout)
                except AssertionError as exc:  # wait_until's timeout
                    print(f"throughput: {label}, batch {number}: {exc}")
                    skipped.append(f"{label}, batch {number}: {exc}")
                    redis.flush()  # the next batch's workers must not get these tasks
                    continue
                batches.append(batch)
                print(f"  {batch['invocations']} in {batch['elapsed_s']:.1f} s (load {batch['load']})")
            throughput = [combine(config, batches) for config in configs if any(b["config"] == config for b in batches)]
            if throughput:
                print("\n".join(throughput_table(throughput)), end="\n\n")
    except (KeyboardInterrupt, BenchTimeout) as exc:
        print(f"\nstopped: {str(exc) or 'interrupted'}; cleaning up", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        steps = [stack.stop] if stack else []
        steps += [emulator.stop] if emulator else []
        steps += [redis.stop] if redis else []
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep cleaning up
                print(f"clean-up: {type(exc).__name__}: {exc}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    text = report(args, info, overhead, throughput, skipped)
    if not args.no_write:
        write_section(SECTION, text, notes=(NOTES_START, NOTES_END))
        print(f"wrote the '{SECTION[3:]}' section of {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
