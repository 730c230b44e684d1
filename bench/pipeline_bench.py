"""Benchmark of the invocation pipeline: what the service adds to a model call, and how many turns it runs per second.

1. Overhead per invocation, in one process: the service's path
   (`invocation_create` + `invocation_run` on a real Django database, SQLite
   file under a temporary DATA_DIR, Celery broker on a throwaway Redis) against
   a direct `run_agent` call with the same `AgentConfig`, the same history
   length and the same emulator (latency off). Both sides are interleaved turn
   by turn (the one going first alternates) over several sessions, so history
   grows alike. The overhead is reported two ways: the difference of the two
   sides, and the service's time outside `run_agent` (measured by timing the
   `run_agent` call the service makes). The CPU each turn costs is the
   process's (every thread: Strands streams from one of its own), the emulator
   being a process of its own. Then the overhead is profiled with cProfile (the
   profiler is off while `run_agent` runs, so only the service's own code is
   counted).
2. Execution models, in one process, at realistic latency: the same turns
   (`run_agent_async`, no database) with many in flight, on a pool of threads
   each with its own event loop (what a worker runs) and on one event loop for
   the process, A B B A. CPU per turn, throughput, memory.
3. Throughput through the real API at realistic latency (the emulator's
   `--latency`; `--latency 2.8s` is about 2.8 s a call): gunicorn, one Celery
   worker on Redis, a SQLite file database; the default worker set-up (a pool of
   threads) against prefork `-c 2` (what `make run` started before), A B B A so
   a drift in the shared machine's load favours neither. A batch: a fresh agent
   and worker, a warm-up (every pool thread runs a turn), then one-turn sessions
   posted at once by a few client threads. Throughput is the invocations over
   the summed time from each batch's first POST to its last `finished_at`;
   latencies and the most invocations running at once come from the API's
   timestamps; the worker's CPU and memory from /proc (its whole process group);
   lost, failed and duplicated turns from the API and the emulator's count of
   model calls. Prefork is measured on fewer sessions: at 2.8 s a call it runs
   under one a second. After each threads batch, a backlog queued while no
   worker runs is drained by a fresh worker: the worker's own pace, without
   the web tier. A set-up may carry variables for its worker, to compare
   variants the same way: `--tp-configs threads,threads+WORKER_CONCURRENCY=100`.

The machine's load average is reported with each figure; a hand-written notes
block in the section (between NOTES_START and NOTES_END) survives a rewrite.
Not a test: nothing here asserts on a timing; it prints whether each aim was met.
Every process it starts is stopped on exit, Ctrl-C, SIGTERM, errors and the
overall time limit.

Run: ``.venv/bin/python bench/pipeline_bench.py [--latency 2.8s] [--tp-sessions 500] [--no-write]``
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
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import (  # bench/ is on sys.path when a script runs
    RESULTS,
    ROOT,
    EmulatorProcess,
    loadavg,
    machine,
    process_group_usage,
    redis_missing,
    write_section,
)

SECTION = "## Invocation pipeline"
NOTES_START = "<!-- pipeline-notes: written by hand; the benchmark keeps this block when it rewrites the section -->"
NOTES_END = "<!-- /pipeline-notes -->"

CLAUDE = "us.anthropic.claude-sonnet-4-6"
QUESTION = "Session {session}, turn {turn} [{side}]: where is my order, and can I still get a refund?"
AIM_MS = 10.0
# The aims for the default worker set-up at ~2.8 s a call (printed as met or not; nothing asserts them).
AIM_THROUGHPUT = 25.0  # invocations/s
AIM_IN_FLIGHT = 100
AIM_RSS = 1024**3  # bytes, the worker's processes together
AIM_CPU_MS = 25.0  # warm worker CPU per invocation, median

# The emulator's latency model (`bedrock.emulator.faults`): "realistic" is a first token after 250 ms plus
# 200 ms per 1,000 uncached tokens, output at 80 tokens/s (about 1 s for these turns); at 20 tokens/s the
# answer streams for about 2 s more.
LATENCY_PROFILES = {"off": "off", "1s": "realistic", "2.8s": "realistic,output_tokens_per_s=20"}

# Worker set-ups for the throughput part: label, environment, concurrency (None: the settings' default).
WORKER_CONFIGS = {
    "threads": ("threads (the default: `WORKER_CONCURRENCY` 200)", {}, None),
    "prefork": ("prefork `-c 2` (the old `make run`)", {"WORKER_POOL": "prefork"}, 2),
}


def worker_config(config: str) -> tuple[str, dict[str, str], int | None]:
    """A set-up by name, with `+VAR=value` suffixes for variants in the worker's environment
    (`threads+WORKER_CONCURRENCY=100`): label, environment, concurrency."""
    base, *extra = config.split("+")
    label, env, concurrency = WORKER_CONFIGS[base]
    variant = dict(item.split("=", 1) for item in extra)
    if variant:
        label += " with " + ", ".join(f"`{k}={v}`" for k, v in variant.items())
    return label, env | variant, concurrency


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
    - `build_agent` inside `run_agent`, on both sides (a Strands agent on the process's shared model and client);
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
        started, cpu, process_cpu = time.perf_counter(), time.thread_time(), time.process_time()
        invocation = self.invocation_services.invocation_create(agent=self.agent, prompt=prompt, session_id=session_id)
        created = time.perf_counter()
        self.invocation_services.invocation_run(invocation_id=invocation.pk)
        finished = time.perf_counter()
        cpu = time.thread_time() - cpu
        return {
            "service_process_cpu": time.process_time() - process_cpu,
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
        started, cpu, process_cpu = time.perf_counter(), time.thread_time(), time.process_time()
        result = self.run_agent(
            self.config, prompt, messages=self.histories.get(session_id), boto_client_config=self.client_config
        )
        elapsed = time.perf_counter() - started
        cpu = time.thread_time() - cpu
        self.histories[session_id] = result.messages
        return {
            "direct_process_cpu": time.process_time() - process_cpu,
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


# --- part 2: execution models, in process ----------------------------------------------------------


class LoopRunner:
    """The alternative model: one event loop for the process, on a thread of its own, running every turn's
    `run_agent_async` as a task; Strands' blocking boto3 reads go to the loop's executor, sized to the turns."""

    def __init__(self, in_flight: int):
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        self.asyncio = asyncio
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(ThreadPoolExecutor(in_flight + 8, thread_name_prefix="loop-executor"))
        self.thread = threading.Thread(target=self.loop.run_forever, name="loop", daemon=True)
        self.thread.start()
        self.in_flight = in_flight

    def run(self, turn, count: int) -> None:
        async def all_turns():
            gate = self.asyncio.Semaphore(self.in_flight)

            async def one(n: int):
                async with gate:
                    await turn(n)

            await self.asyncio.gather(*(one(n) for n in range(count)))

        self.asyncio.run_coroutine_threadsafe(all_turns(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def measure_models(args, config, client_config) -> list[dict]:
    """The same one-turn calls with `--models-in-flight` at once, on a thread pool (each thread its own loop,
    as a worker's pool runs `run_agent`) and on one loop for the process, A B B A; CPU of the whole process."""
    from concurrent.futures import ThreadPoolExecutor

    from agents_app.runtime.run import run_agent, run_agent_async

    def prompt(n: int) -> str:
        return QUESTION.format(session=n, turn=0, side="model")

    results = []
    pool = ThreadPoolExecutor(args.models_in_flight, thread_name_prefix="turn")
    loop = LoopRunner(args.models_in_flight)
    latencies: list[float] = []

    def threads(count: int) -> None:
        def one(n: int):
            latencies.append(run_agent(config, prompt(n), boto_client_config=client_config).latency_ms / 1000)

        list(pool.map(one, range(count)))

    def one_loop(count: int) -> None:
        async def one(n: int):
            result = await run_agent_async(config, prompt(n), boto_client_config=client_config)
            latencies.append(result.latency_ms / 1000)

        loop.run(one, count)

    variants = {"threads": threads, "loop": one_loop}
    try:
        for name in ("threads", "loop"):  # warm: every thread has its loop, every connection is open
            variants[name](args.models_in_flight)
        for name in ("threads", "loop", "loop", "threads"):
            latencies.clear()
            load_before = loadavg()
            started, cpu = time.perf_counter(), time.process_time()
            variants[name](args.models_turns)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            results.append(
                {
                    "model": name,
                    "turns": args.models_turns,
                    "throughput": args.models_turns / wall,
                    "cpu": cpu / args.models_turns,
                    "latency": list(latencies),
                    "threads": threading.active_count(),
                    "load": f"{load_before} → {loadavg()}",
                }
            )
            print(
                f"  {name}: {results[-1]['throughput']:.1f} turns/s, {results[-1]['cpu'] * 1000:.1f} ms CPU a turn "
                f"(load {results[-1]['load']})"
            )
    finally:
        loop.stop()
        pool.shutdown(wait=False)
    return results


def models_table(results: list[dict]) -> list[str]:
    lines = [
        "| model (in order of the runs) | turns/s | CPU per turn (process, every thread) | model call median "
        "| threads in the process | load before → after |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        label = "threads, a loop each (the worker's)" if r["model"] == "threads" else "one loop for the process"
        lines.append(
            f"| {label} | {r['throughput']:.1f} | {r['cpu'] * 1000:.1f} ms | {pct(r['latency'], 50):.2f} s "
            f"| {r['threads']} | {r['load']} |"
        )
    cpu = {m: sum(r["cpu"] for r in results if r["model"] == m) / 2 for m in ("threads", "loop")}
    lines += [
        "",
        f"Mean of the two runs each: threads {cpu['threads'] * 1000:.1f} ms, one loop "
        f"{cpu['loop'] * 1000:.1f} ms of CPU a turn (ratio {cpu['threads'] / cpu['loop']:.2f}).",
    ]
    return lines


# --- part 3: throughput through the API -------------------------------------------------------------


def start_worker(stack, name: str, config: str):
    """The set-up's one Celery worker (its pool's processes in one session: one scheduler autogroup), with
    `bench/_worker_probe.py` writing each task's own CPU to `<logs>/<name>.cpu`."""
    _, env, concurrency = worker_config(config)
    probe = {
        "DJANGO_SETTINGS_MODULE": "_probe_settings",
        "PYTHONPATH": str(ROOT / "bench"),
        "BENCH_TASK_CPU_FILE": str(stack.logs / f"{name}.cpu"),
    }
    stack.start_worker(name, concurrency, **probe, **env)
    stack.wait_ready(name, timeout=90)
    return stack.processes[name]


class Sampler(threading.Thread):
    """Every half second: the worker's CPU and resident memory (its whole process group) and the batch's
    finished count (from the SQLite file, so the API's gunicorn is not kept busy answering the benchmark)."""

    def __init__(self, db_path: Path, pgid: int, agent_id: int, after_id: int = 0):
        super().__init__(daemon=True)
        self.db_path, self.pgid, self.agent_id, self.after_id = db_path, pgid, agent_id, after_id
        self.samples: list[tuple[float, float, int, int]] = []  # (time, cpu s, rss bytes, finished)
        self.done = threading.Event()

    def finished(self) -> int:
        """The agent's invocations with an id above `after_id` that have finished."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM agents_app_invocation WHERE agent_id = ? AND id > ? "
                "AND status IN ('succeeded', 'failed')",
                (self.agent_id, self.after_id),
            ).fetchone()
        return count

    def sample(self) -> None:
        cpu, rss = process_group_usage(self.pgid)
        self.samples.append((time.time(), cpu, rss, self.finished()))

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.sample()


def post_sessions(stack, key: str, agent_id: int, prompts: list[tuple[str, str]], threads: int) -> list[dict]:
    """POST each (session id, prompt) once, from `threads` client threads; the 202s' bodies, in posting order."""
    posted: list[dict] = []
    lock = threading.Lock()
    work = iter(prompts)

    def client():
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                return
            started = time.perf_counter()
            body = stack.invoke(key, agent_id, item[1], session_id=item[0])
            with lock:
                posted.append({**body, "post_s": time.perf_counter() - started})

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return posted


def wait_finished(sampler: Sampler, total: int, timeout: float, what: str) -> None:
    from agent_platform.devstack import wait_until

    wait_until(lambda: sampler.finished() >= total, timeout=timeout, interval=0.5, what=what)


def max_in_flight(rows: list[dict]) -> int:
    """The most invocations running at one moment, from their `started_at` and `finished_at`."""
    edges = sorted(
        [(isotime(r["started_at"]), 1) for r in rows if r["started_at"] and r["finished_at"]]
        + [(isotime(r["finished_at"]), -1) for r in rows if r["started_at"] and r["finished_at"]]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def run_batch(stack, key: str, emulator, config: str, batch: int, sessions: int, args, timeout: float) -> dict:
    """A fresh agent and worker of set-up `config`; a warm-up, then `sessions` one-turn sessions posted at once."""
    from agents_app.demo import support_system_prompt

    label, _, concurrency = worker_config(config)
    emulator.reset()
    agent = stack.create_agent(
        key,
        name=f"throughput {config} batch {batch}",
        system_prompt=support_system_prompt(),
        model_id=CLAUDE,
        prompt_caching_enabled=True,
        cache_strategy="combined",
    )
    base = config.split("+")[0]
    name = f"{base}b{batch}"
    db_path = stack.tmp / "db.sqlite3"
    process = start_worker(stack, name, config)
    try:
        pgid = process.pid
        # Warm: every thread of the pool has run a turn (its event loop, its connection) before measuring.
        warmup = args.warmup if base == "threads" else min(args.warmup, 2 * (concurrency or 2))
        last_warm_id = 0
        if warmup:
            warm = [(f"{name}-warm-{n}", QUESTION.format(session=n, turn=0, side="warm")) for n in range(warmup)]
            last_warm_id = max(p["id"] for p in post_sessions(stack, key, agent["id"], warm, args.clients))
            warm_sampler = Sampler(db_path, pgid, agent["id"])
            wait_finished(warm_sampler, warmup, timeout, f"{warmup} warm-up invocations ({label})")
        emulator.reset()  # the measured calls alone in the emulator's counts (the cache is written again)
        idle_before = process_group_usage(pgid)[0]
        time.sleep(2)
        idle = (process_group_usage(pgid)[0] - idle_before) / 2  # the worker's CPU a second with nothing to do
        web_pgid = stack.processes["web"].pid
        web_cpu = process_group_usage(web_pgid)[0]
        emulator_cpu = emulator.cpu_seconds()
        tasks_before = len(task_cpu(stack, name))
        prompts = [(f"{name}-{n}", QUESTION.format(session=n, turn=0, side="api")) for n in range(sessions)]
        sampler = Sampler(db_path, pgid, agent["id"], last_warm_id)
        load_before = loadavg()
        sampler.sample()
        first_post = time.time()
        sampler.start()
        posted = post_sessions(stack, key, agent["id"], prompts, args.clients)
        last_post = time.time()
        wait_finished(sampler, sessions, timeout, f"{sessions} invocations ({label}, batch {batch})")
        sampler.done.set()
        sampler.join()
        sampler.sample()
        load_after = loadavg()
        emulator_cpu = emulator.cpu_seconds() - emulator_cpu
        web_cpu = process_group_usage(web_pgid)[0] - web_cpu
        emulator_stats = emulator.stats()
        _, rows = api_invocations(stack, key, agent["id"])
    finally:
        stack.terminate(name)
    log_text = read_log(stack, name)
    own = task_cpu(stack, name)[tasks_before:]
    ids = {p["id"] for p in posted}
    measured = [r for r in rows if r["id"] in ids]
    started = [isotime(r["started_at"]) for r in measured if r["started_at"]]
    finished = [isotime(r["finished_at"]) for r in measured if r["finished_at"]]
    ok = [r for r in measured if r["status"] == "succeeded"]
    first, last = sampler.samples[0], sampler.samples[-1]
    model_calls = emulator_stats["handling_ms"]["count"]
    return {
        "config": config,
        "invocations": len(posted),
        "succeeded": len(ok),
        "failed": sum(r["status"] == "failed" for r in measured),
        "lost": len(ids - {r["id"] for r in measured}) + sum(r["status"] in ("queued", "running") for r in measured),
        # The model answered more often than turns succeeded: a turn ran twice.
        "duplicated": max(model_calls - len(ok), 0) + (len(measured) - len({r["id"] for r in measured})),
        "attempts": sum(r["attempts"] for r in measured),
        "locked": log_text.count("database is locked"),
        "tracebacks": log_text.count("Traceback"),
        "worker_cpu": (last[1] - first[1]) / len(posted),
        "task_cpu": own,
        "shared_cpu": (last[1] - first[1] - sum(own)) / len(posted),
        "worker_rss": max(sample[2] for sample in sampler.samples),
        "emulator_cpu": emulator_cpu / len(posted),
        "web_cpu": web_cpu / len(posted),
        "idle_cpu": idle * (last[0] - first[0]) / len(posted),
        "in_flight": max_in_flight(measured),
        "posting_s": last_post - first_post,
        "post": [p["post_s"] for p in posted],
        "elapsed_s": max(finished) - first_post,
        "drain_s": max(finished) - min(started),
        "e2e": [isotime(r["finished_at"]) - isotime(r["queued_at"]) for r in ok],
        "wait": [isotime(r["started_at"]) - isotime(r["queued_at"]) for r in ok],
        "run": [isotime(r["finished_at"]) - isotime(r["started_at"]) for r in ok],
        "model": [r["latency_ms"] / 1000 for r in ok],
        "load": f"{load_before} → {load_after}",
    }


def run_backlog(stack, key: str, emulator, config: str, batch: int, count: int, args, timeout: float) -> dict:
    """The worker's own pace, without the web tier: `count` one-turn sessions queued while no worker runs, then
    a fresh worker of set-up `config` drains them (first `started_at` → last `finished_at`)."""
    from agents_app.demo import support_system_prompt

    label, _, _ = worker_config(config)
    emulator.reset()
    agent = stack.create_agent(
        key,
        name=f"backlog {config} batch {batch}",
        system_prompt=support_system_prompt(),
        model_id=CLAUDE,
        prompt_caching_enabled=True,
        cache_strategy="combined",
    )
    name = f"{config.split('+')[0]}q{batch}"
    prompts = [(f"{name}-{n}", QUESTION.format(session=n, turn=0, side="backlog")) for n in range(count)]
    posted = post_sessions(stack, key, agent["id"], prompts, args.clients)
    load_before = loadavg()
    process = start_worker(stack, name, config)
    try:
        sampler = Sampler(stack.tmp / "db.sqlite3", process.pid, agent["id"])
        sampler.sample()  # at "ready": the start-up's own CPU left out
        sampler.start()
        wait_finished(sampler, count, timeout, f"a backlog of {count} ({label})")
        sampler.done.set()
        sampler.join()
        sampler.sample()
        _, rows = api_invocations(stack, key, agent["id"])
        model_calls = emulator.stats()["handling_ms"]["count"]
    finally:
        stack.terminate(name)
    ok = [r for r in rows if r["status"] == "succeeded"]
    started = [isotime(r["started_at"]) for r in rows if r["started_at"]]
    finished = [isotime(r["finished_at"]) for r in rows if r["finished_at"]]
    first, last = sampler.samples[0], sampler.samples[-1]
    return {
        "config": config,
        "invocations": len(posted),
        "succeeded": len(ok),
        "duplicated": max(model_calls - len(ok), 0),
        "drain_s": max(finished) - min(started),
        "in_flight": max_in_flight(rows),
        "worker_cpu": (last[1] - first[1]) / len(posted),
        "worker_rss": max(sample[2] for sample in sampler.samples),
        "load": f"{load_before} → {loadavg()}",
    }


def backlog_table(results: list[dict]) -> list[str]:
    lines = [
        "| set-up, batch | invocations (succeeded), duplicated | drained in | **pace** | most at once "
        "| fresh worker CPU per invocation | worker RSS | load before → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {worker_config(r['config'])[0]} | {r['invocations']} ({r['succeeded']}), {r['duplicated']} "
            f"| {r['drain_s']:.1f} s | **{r['invocations'] / r['drain_s']:.1f}/s** | {r['in_flight']} "
            f"| {r['worker_cpu'] * 1000:.1f} ms | {r['worker_rss'] / 2**20:.0f} MiB | {r['load']} |"
        )
    return lines


def task_cpu(stack, name: str) -> list[float]:
    """Each finished `invocation_run` task's CPU in its own threads, in seconds, in order (`_worker_probe`)."""
    path = stack.logs / f"{name}.cpu"
    if not path.exists():
        return []
    rows = (line.split() for line in path.read_text().splitlines())
    return [float(seconds) for task, seconds in rows if task == "agents_app.tasks.invocation_run"]


def read_log(stack, name: str) -> str:
    path = stack.logs / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def api_invocations(stack, key: str, agent_id: int) -> tuple[int, list[dict]]:
    """The agent's invocations, every page."""
    path = f"/api/agents/{agent_id}/invocations/"
    rows, page = [], 1
    while True:
        response = stack.call(key, "GET", path, params={"page": page})
        response.raise_for_status()
        data = response.json()
        rows += data["results"]
        if not data["next"]:
            return data["count"], rows
        page += 1


def combine(config: str, batches: list[dict]) -> dict:
    """One set-up's batches as one result: throughput over the sum of the batches' times."""
    mine = [b for b in batches if b["config"] == config]
    count = sum(b["invocations"] for b in mine)
    elapsed = sum(b["elapsed_s"] for b in mine)
    return {
        "config": config,
        "label": worker_config(config)[0],
        "batches": len(mine),
        "invocations": count,
        **{name: sum(b[name] for b in mine) for name in SUMMED},
        "worker_cpu": sum(b["worker_cpu"] * b["invocations"] for b in mine) / count,
        "task_cpu": [x for b in mine for x in b["task_cpu"]],
        "shared_cpu": sum(b["shared_cpu"] * b["invocations"] for b in mine) / count,
        "worker_rss": max(b["worker_rss"] for b in mine),
        "emulator_cpu": sum(b["emulator_cpu"] * b["invocations"] for b in mine) / count,
        "web_cpu": sum(b["web_cpu"] * b["invocations"] for b in mine) / count,
        "idle_cpu": sum(b["idle_cpu"] * b["invocations"] for b in mine) / count,
        "in_flight": max(b["in_flight"] for b in mine),
        "posting_s": sum(b["posting_s"] for b in mine),
        "elapsed_s": elapsed,
        "throughput": count / elapsed,
        "per_batch": [b["invocations"] / b["elapsed_s"] for b in mine],
        "drain": count / sum(b["drain_s"] for b in mine),
        **{name: [x for b in mine for x in b[name]] for name in ("e2e", "wait", "run", "model", "post")},
        "load": [b["load"] for b in mine],
    }


SUMMED = ("succeeded", "failed", "lost", "duplicated", "attempts", "locked", "tracebacks")


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
            "**CPU time of the process (every thread), service: a warm worker's CPU per turn, Celery aside**",
            column("service_process_cpu"),
            bold=True,
        ),
        stat_row("CPU time of the process (every thread), direct", column("direct_process_cpu")),
        stat_row(
            "inside `run_agent`, both sides: `build_agent` (a Strands agent on the shared model and client)",
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
        row("failed / lost / duplicated", lambda r: f"{r['failed']} / {r['lost']} / {r['duplicated']}"),
        row("the POSTs took (sum over the batches)", lambda r: f"{r['posting_s']:.1f} s"),
        row("— one POST, median / p95", lambda r: millis(r, "post")),
        row("first POST → last `finished_at` (sum over the batches)", lambda r: f"{r['elapsed_s']:.1f} s"),
        row("**throughput**", lambda r: f"**{r['throughput']:.2f} invocations/s**"),
        row("— per batch, in order", lambda r: ", ".join(f"{x:.2f}/s" for x in r["per_batch"])),
        row("drain rate (first `started_at` → last `finished_at`)", lambda r: f"{r['drain']:.2f}/s"),
        row("most invocations running at once", lambda r: str(r["in_flight"])),
        row("end-to-end latency (`queued_at` → `finished_at`), median / p95", lambda r: seconds(r, "e2e")),
        row("— waiting in the queue (`queued_at` → `started_at`)", lambda r: seconds(r, "wait")),
        row("— running in a worker (`started_at` → `finished_at`)", lambda r: seconds(r, "run")),
        row("— of which the Strands stream (`latency_ms`)", lambda r: seconds(r, "model")),
        row(
            "**warm worker CPU per invocation**: the process's, over the batches (a mean)",
            lambda r: f"**{r['worker_cpu'] * 1000:.1f} ms**",
        ),
        row(
            "— in the invocation's own threads (pool thread + its stream thread), median / p95",
            lambda r: f"{pct(r['task_cpu'], 50) * 1000:.1f} ms / {pct(r['task_cpu'], 95) * 1000:.1f} ms",
        ),
        row(
            "— shared by all (Celery's consumer, acknowledgements, collector): the rest, per invocation",
            lambda r: f"{r['shared_cpu'] * 1000:.1f} ms",
        ),
        row(
            "**median per invocation: own median + shared**",
            lambda r: f"**{(pct(r['task_cpu'], 50) + r['shared_cpu']) * 1000:.1f} ms**",
        ),
        row(
            "— of which the idle worker's own (its CPU a second with nothing to do × the batch's time)",
            lambda r: f"{r['idle_cpu'] * 1000:.1f} ms",
        ),
        row("worker resident memory, most (all its processes)", lambda r: f"{r['worker_rss'] / 2**20:.0f} MiB"),
        row("gunicorn CPU per invocation (the POST, the benchmark's reads)", lambda r: f"{r['web_cpu'] * 1000:.1f} ms"),
        row("emulator CPU per invocation (its own process)", lambda r: f"{r['emulator_cpu'] * 1000:.1f} ms"),
        row("attempts (1 per invocation without retries)", lambda r: str(r["attempts"])),
        row('"database is locked" / tracebacks in the worker log', lambda r: f"{r['locked']} / {r['tracebacks']}"),
        row("load average before → after, per batch", lambda r: "; ".join(r["load"])),
    ]


def median_cpu(result: dict) -> float:
    """An invocation's median CPU: the median in its own threads plus its share of the worker's common work."""
    return pct(result["task_cpu"], 50) + result["shared_cpu"]


def verdict(results: list[dict]) -> list[str]:
    """The aims for the default set-up, each met or not, and its throughput against prefork's."""
    by = {r["config"]: r for r in results}
    new = by.get("threads")
    if new is None:
        return ["The default set-up was not measured."]
    lines = []
    if "prefork" in by:
        old = by["prefork"]["throughput"]
        lines.append(
            f"Ratio of throughputs, threads / prefork `-c 2`: **{new['throughput'] / old:.1f}×** "
            f"({new['throughput']:.2f} against {old:.2f} invocations/s)."
        )
    checks = [
        (f"throughput ≥ {AIM_THROUGHPUT:g}/s", new["throughput"] >= AIM_THROUGHPUT, f"{new['throughput']:.1f}/s"),
        (f"≥ {AIM_IN_FLIGHT} in flight at once", new["in_flight"] >= AIM_IN_FLIGHT, str(new["in_flight"])),
        (
            "0 failed, 0 lost, 0 duplicated",
            not (new["failed"] or new["lost"] or new["duplicated"]),
            f"{new['failed']}, {new['lost']}, {new['duplicated']}",
        ),
        ("worker RSS ≤ 1 GiB", new["worker_rss"] <= AIM_RSS, f"{new['worker_rss'] / 2**20:.0f} MiB"),
        (
            f"warm worker CPU ≤ {AIM_CPU_MS:g} ms per invocation, median",
            median_cpu(new) * 1000 <= AIM_CPU_MS,
            f"median {median_cpu(new) * 1000:.1f} ms (own {pct(new['task_cpu'], 50) * 1000:.1f} + shared "
            f"{new['shared_cpu'] * 1000:.1f}); mean {new['worker_cpu'] * 1000:.1f} ms",
        ),
    ]
    lines += [f"- {aim}: {'met' if ok else '**not met**'} ({value})" for aim, ok, value in checks]
    return lines


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


def report(
    args, info: dict, overhead, models: list[dict], throughput: list[dict], backlogs: list[dict], skipped
) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    latency = LATENCY_PROFILES.get(args.latency, args.latency)
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
        f"Command: `{' '.join(['.venv/bin/python bench/pipeline_bench.py', *sys.argv[1:]])}`",
        "",
        f"Agent: `{CLAUDE}`, the 2,500-token `support_system_prompt()`, caching on, strategy combined, no tools. "
        f"The emulator runs in a process of its own: without latency for the overhead, with `--latency {latency}` "
        f"(`--latency {args.latency}` here) for the execution models and the throughput. Production settings "
        "where they matter: `DEBUG=false`; the database is a SQLite file (PostgreSQL in production).",
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
            "direct = `run_agent` with the same `AgentConfig`, history and botocore config; the emulator without "
            f"latency. Load average {overhead['load'][0]} before, {overhead['load'][1]} after. "
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
    if models:
        lines += [
            "### Execution models (in process, realistic latency)",
            "",
            f"{args.models_turns} one-turn calls per run, {args.models_in_flight} in flight at once, `run_agent` "
            "on a pool of threads (each thread's own event loop, as a worker's pool runs it) against "
            "`run_agent_async` as tasks of one event loop for the process (its executor sized to the calls), "
            "A B B A after a warm-up of each; no database. CPU is the benchmark process's (the emulator is "
            "another).",
            "",
            *models_table(models),
            "",
        ]
    if throughput:
        counts = {c: args.tp_sessions if c == "threads" else args.prefork_sessions for c in WORKER_CONFIGS}
        lines += [
            "### Throughput through the API (gunicorn, Celery on Redis, realistic latency)",
            "",
            "One-turn sessions, posted at once by "
            f"{args.clients} client threads, in two batches per set-up run in the order A B B A; "
            + ", ".join(f"{counts[c]} sessions for {WORKER_CONFIGS[c][0]}" for c in WORKER_CONFIGS)
            + ". Each batch: a fresh agent and one fresh worker, a warm-up "
            f"({args.warmup} sessions for threads, a few for prefork), then the measured sessions. Throughput = "
            "invocations / the sum of the batches' first POST → last `finished_at`. gunicorn with 2 sync workers, "
            "a SQLite file database shared by all processes, Redis, the emulator in a process of its own. Lost: "
            "posted but not listed or not finished; duplicated: more successful model calls than succeeded turns.",
            "",
            *throughput_table(throughput),
            "",
            *verdict(throughput),
            "",
        ]
    if backlogs:
        lines += [
            "#### The worker's own pace (a backlog, no web tier)",
            "",
            f"After each threads batch: {args.backlog} one-turn sessions queued while no worker runs, then a fresh "
            "worker started; pace = invocations / first `started_at` → last `finished_at`. Its CPU is counted from "
            "the moment it reports ready, so start-up (imports) is left out but every first use is in.",
            "",
            *backlog_table(backlogs),
            "",
        ]
    lines += [f"Not measured: {reason}." for reason in skipped]
    return "\n".join(lines)


def bench_config():
    """The agent of the execution-model part, as AGENT_CONFIG_JSON would give it (the catalog's Claude entry)."""
    from agents_app.demo import support_system_prompt
    from agents_app.runtime.config import AgentConfig

    return AgentConfig.from_json(
        {
            "system_prompt": support_system_prompt(),
            "model_id": CLAUDE,
            "max_tokens": 4096,
            "prompt_caching_enabled": True,
            "cache_strategy": "combined",
            "model_capabilities": {
                "supports_prompt_caching": True,
                "cache_min_tokens": 2048,
                "cache_fields": ["tools", "system", "messages"],
            },
        }
    )


def throughput_part(args, stack, key: str, emulator, redis, deadline: float, skipped: list[str]):
    """The set-ups' batches, A B B A; each threads batch is followed by a backlog drained by a fresh worker."""
    configs = args.tp_configs.split(",")
    # A B B A (for two set-ups): a drift in the machine's load favours neither.
    plan = configs + configs[::-1]
    batches, backlogs = [], []
    for number, config in enumerate(plan):
        label = worker_config(config)[0]
        sessions = (args.tp_sessions if config.startswith("threads") else args.prefork_sessions) // 2
        timeout = min(args.tp_timeout, deadline - time.monotonic() - 20)
        if timeout < 30:
            print(f"throughput: {label}, batch {number}: skipped, not enough of the time limit left")
            skipped.append(f"{label}, batch {number}: skipped, not enough of the time limit left")
            continue
        print(f"throughput: {label}, batch {number} ({sessions} sessions) ... (load {loadavg()})")
        try:
            batch = run_batch(stack, key, emulator, config, number, sessions, args, timeout)
        except AssertionError as exc:  # wait_until's timeout
            print(f"throughput: {label}, batch {number}: {exc}")
            skipped.append(f"{label}, batch {number}: {exc}")
            redis.flush()  # the next batch's worker must not get these tasks
            continue
        batches.append(batch)
        print(
            f"  {batch['invocations']} in {batch['elapsed_s']:.1f} s = {batch['invocations'] / batch['elapsed_s']:.2f}"
            f"/s, {batch['in_flight']} at once, worker CPU {batch['worker_cpu'] * 1000:.1f} ms each, "
            f"RSS {batch['worker_rss'] / 2**20:.0f} MiB (load {batch['load']})"
        )
        if args.backlog and config.startswith("threads"):
            try:
                backlog = run_backlog(stack, key, emulator, config, number, args.backlog, args, timeout)
            except AssertionError as exc:
                skipped.append(f"{label}, backlog {number}: {exc}")
                redis.flush()
                continue
            backlogs.append(backlog)
            print(f"  backlog of {args.backlog}: drained at {backlog['invocations'] / backlog['drain_s']:.1f}/s")
    return [combine(config, batches) for config in configs if any(b["config"] == config for b in batches)], backlogs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="overhead: sessions (default 10)")
    parser.add_argument("--turns", type=int, default=20, help="overhead: turns per session (default 20)")
    parser.add_argument("--profile-sessions", type=int, default=3, help="overhead: sessions profiled (default 3)")
    parser.add_argument("--debug-sessions", type=int, default=2, help="overhead: sessions with DEBUG on/off")
    parser.add_argument("--top", type=int, default=15, help="profile: functions listed (default 15)")
    parser.add_argument("--profile-out", help="also write the raw cProfile data here (for pstats, snakeviz)")
    parser.add_argument(
        "--latency",
        default="2.8s",
        help="the emulator's latency for the execution models and the throughput: "
        + ", ".join(f"{k} ({v})" for k, v in LATENCY_PROFILES.items())
        + ", or an emulator spec such as base_ms=500 (default 2.8s)",
    )
    parser.add_argument("--models-turns", type=int, default=300, help="execution models: calls per run")
    parser.add_argument("--models-in-flight", type=int, default=150, help="execution models: calls at once")
    parser.add_argument("--tp-sessions", type=int, default=500, help="throughput: one-turn sessions, threads")
    parser.add_argument("--prefork-sessions", type=int, default=24, help="throughput: one-turn sessions, prefork")
    parser.add_argument("--warmup", type=int, default=200, help="throughput: warm-up sessions per threads batch")
    parser.add_argument("--clients", type=int, default=4, help="throughput: client threads posting")
    parser.add_argument("--web-workers", type=int, default=2, help="throughput: gunicorn's sync workers")
    parser.add_argument(
        "--backlog",
        type=int,
        default=300,
        help="throughput: sessions queued for a fresh worker after each threads batch",
    )
    parser.add_argument(
        "--tp-configs",
        default="threads,prefork",
        help="throughput: worker set-ups in the order measured (threads = the default pool, prefork = -c 2)",
    )
    parser.add_argument("--tp-timeout", type=float, default=300, help="throughput: seconds per batch")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--time-limit", type=int, default=900, help="stop everything after this many seconds")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not update {RESULTS.name}")
    args = parser.parse_args()
    if missing := redis_missing():
        print(missing, file=sys.stderr)
        return 2

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

    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    deadline = time.monotonic() + args.time_limit - 30
    overhead, models, throughput, backlogs, skipped = None, [], [], [], []
    redis = emulator = stack = None
    latency = LATENCY_PROFILES.get(args.latency, args.latency)
    try:
        redis = RedisServer(tmp)
        emulator = EmulatorProcess(tmp / "emulator.log")
        # Django in this process (the throughput part needs it too, for the demo system prompt).
        django_setup(tmp / "inprocess", redis.url.rsplit("/", 1)[0] + "/1", emulator.url)
        if not args.skip_overhead:
            print(f"overhead: {args.sessions} sessions x {args.turns} turns per side ... (load {loadavg()})")
            overhead = measure_overhead(args, emulator)
            print("\n".join(overhead_table(overhead)), end="\n\n")
            print("\n".join(profile_tables(overhead["profile"])), end="\n\n")
        emulator.set_latency(latency)
        if not args.skip_models:
            from agents_app.services.invocations import BEDROCK_CLIENT_CONFIG

            print(f"execution models: {args.models_turns} calls, {args.models_in_flight} at once (load {loadavg()})")
            models = measure_models(args, bench_config(), BEDROCK_CLIENT_CONFIG)
            print("\n".join(models_table(models)), end="\n\n")
        if not args.skip_throughput:
            (tmp / "stack").mkdir()
            stack = Stack(tmp / "stack", redis.url, emulator.url, DEBUG="false")
            stack.manage("migrate", "--verbosity", "0")
            key = stack.tenant_key("bench")
            stack.start_web(workers=args.web_workers)
            throughput, backlogs = throughput_part(args, stack, key, emulator, redis, deadline, skipped)
            if throughput:
                print("\n".join(throughput_table(throughput)), end="\n\n")
                print("\n".join(verdict(throughput)), end="\n\n")
            if backlogs:
                print("\n".join(backlog_table(backlogs)), end="\n\n")
    except RuntimeError as exc:  # a process that would not start
        print(f"\nstopped: {exc}", file=sys.stderr)
        return 2
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

    text = report(args, info, overhead, models, throughput, backlogs, skipped)
    if not args.no_write:
        write_section(SECTION, text, notes=(NOTES_START, NOTES_END))
        print(f"wrote the '{SECTION[3:]}' section of {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
