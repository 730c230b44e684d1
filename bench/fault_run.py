"""Fault-injection run of the invocation pipeline: nothing lost, nothing counted twice, stats exact.

N invocations (default 1,000) over S sessions (100) of A Claude agents (5; the 2,500-token
`support_system_prompt()`, caching on) go through the real service: gunicorn, two Celery workers on the
default pool (threads, `WORKER_CONCURRENCY` each) and Celery beat (the shipped sweeper,
`agents_app.tasks.invocations_requeue_stale`, every 30 s) on a Redis of our own, a SQLite file database,
and the Bedrock emulator in this process with seeded faults: 10 % throttling,
2 % 5xx, 5 % of responses 2 s slow. A few client threads POST the turns (a session's turns in order, from the
thread that owns it; sessions interleaved across threads). While the workers drain the queue:

- one worker is SIGKILLed (its whole process group) when a quarter of the invocations have finished, and
  started again 3 s later;
- Redis is stopped and started empty on the same port (no persistence: every queued and unacknowledged
  message is lost) when half have finished; the sweeper must send them again.

`INVOCATION_REQUEUE_AFTER` (15 s) and `INVOCATION_TIME_LIMIT` (20 s) are lowered for the run so the recovery
from the Redis restart fits in it (the run prints them). The session lease and its heartbeat
(`INVOCATION_LEASE_SECONDS`, `INVOCATION_LEASE_HEARTBEAT`) and Redis's visibility timeout keep the service's
defaults, so the killed worker's turns are recovered the way production recovers them: the lease lapses, the
beat sweeper sends the turn again. For the SIGKILL it prints how long after the kill each affected session
resumed (another worker took its turn over: the time of the lost attempt recorded on the invocation).

Then it waits (bounded) until nothing is queued or running and checks, from the API and from the SQLite file:

- lost: requested (a 202 with an id) but missing from `GET /api/agents/{id}/invocations/`, or still queued or
  running at the end;
- duplicated, any evidence that a turn ran or counted twice: an invocation id listed twice by the API; a
  session whose invocation count (`GET /api/agents/{id}/sessions/`) is not the number of turns posted to it;
  a stored conversation (read from the SQLite file) with more than 2 x its succeeded turns messages, or a
  prompt in it twice; a turn the emulator answered successfully more than once (the model was called again
  after a call that succeeded), except the turns in flight on the killed worker, which by design run again;
- the conversation of every session is its succeeded turns, prompt then reply, in id order;
- every failed invocation has its error stored;
- the attempts lost with the killed worker are recorded on their invocations (every turn the model ran twice
  has one; no invocation outside the killed worker's has one), and `/metrics` counts the same attempts,
  retries and lost attempts as the rows;
- cache-stats (`period=all`, per agent and tenant) equal the sums of the stored rows: counts, tokens and money
  from the API's invocation pages (exact decimals), tokens and counts from the SQLite file too.

It exits 1 when anything is lost or duplicated, a failure has no error, the stats or /metrics differ, a lost
attempt is not recorded, or a session resumed more than 60 s after the kill; 2 when it could not
finish (time limit, a process that would not start). Every process it starts is stopped on exit, Ctrl-C,
SIGTERM, errors and the overall time limit. Loopback only.

Run: ``.venv/bin/python bench/fault_run.py [--invocations 1000 --sessions 100 --agents 5] [--no-write]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from decimal import Decimal
from pathlib import Path

from _common import (  # bench/ is on sys.path when a script runs
    RESULTS,
    ROOT,
    loadavg,
    machine,
    redis_missing,
    write_section,
)

from pricing.costs import MONEY_FIELDS, TOKEN_FIELDS, money

SECTION = "## Fault-injection run"
RESUME_WITHIN = 60  # seconds after the SIGKILL by which every affected session must have resumed
NOTES_START = "<!-- fault-notes: written by hand; the run keeps this block when it rewrites the section -->"
NOTES_END = "<!-- /fault-notes -->"

CLAUDE = "us.anthropic.claude-sonnet-4-6"
QUESTIONS = (
    "Where is my order, and when will it arrive?",
    "Can I still get a refund for it?",
    "What does the warranty cover?",
    "How do I change the delivery address?",
    "Which payment methods do you take?",
    "Can I return only part of the order?",
)


class RunTimeout(Exception):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def text_of(message: dict) -> str:
    return "".join(block.get("text", "") for block in message.get("content", []) if isinstance(block, dict))


def isotime(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --- the database file, read only ------------------------------------------------------------------


class Db:
    """Reads of the SQLite file the processes share (WAL: readers never block the writers)."""

    def __init__(self, path: Path):
        self.path = path

    def query(self, sql: str, params=()) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db:
            return db.execute(sql, params).fetchall()

    def status_counts(self) -> Counter:
        return Counter(dict(self.query("SELECT status, count(*) FROM agents_app_invocation GROUP BY status")))

    def running_ids(self) -> list[int]:
        return [r[0] for r in self.query("SELECT id FROM agents_app_invocation WHERE status = 'running'")]


# --- clients ---------------------------------------------------------------------------------------


def plan_sessions(args) -> list[dict]:
    """Session i belongs to agent i % agents and has its share of the turns (the first ones get the rest)."""
    base, extra = divmod(args.invocations, args.sessions)
    return [
        {"index": i, "session_id": f"fault-{i:04d}", "agent": i % args.agents, "turns": base + (i < extra)}
        for i in range(args.sessions)
    ]


def post_turns(stack, key: str, agents: list[dict], sessions: list[dict], posts: list, errors: list, lock) -> None:
    """One client thread: turn 0 of each of its sessions, then turn 1, ...; a session's turns stay in order."""
    for turn in range(max((s["turns"] for s in sessions), default=0)):
        for session in sessions:
            if turn >= session["turns"]:
                continue
            prompt = f"[{session['session_id']} turn {turn}] {QUESTIONS[(session['index'] + turn) % len(QUESTIONS)]}"
            agent_id = agents[session["agent"]]["id"]
            body = {"prompt": prompt, "session_id": session["session_id"]}
            try:
                # No retry on our side: a POST retried after a timeout could create the turn twice.
                response = stack.call(key, "POST", f"/api/agents/{agent_id}/invocations/", json=body)
            except Exception as exc:
                with lock:
                    errors.append({"session": session["session_id"], "turn": turn, "error": repr(exc)})
                continue
            with lock:
                if response.status_code == 202:
                    data = response.json()
                    posts.append(
                        {
                            "id": data["id"],
                            "agent_id": agent_id,
                            "session_id": session["session_id"],
                            "turn": turn,
                            "prompt": prompt,
                            "posted_at": time.time(),
                        }
                    )
                else:
                    errors.append(
                        {
                            "session": session["session_id"],
                            "turn": turn,
                            "error": f"HTTP {response.status_code}: {response.text[:200]}",
                        }
                    )


def api_pages(stack, key: str, path: str, params: dict | None = None) -> list[dict]:
    rows, page = [], 1
    while True:
        response = stack.call(key, "GET", path, params={**(params or {}), "page": page})
        response.raise_for_status()
        data = response.json()
        rows += data["results"]
        if not data["next"]:
            return rows
        page += 1


def redis_backlog(url: str) -> dict:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        return {"queued": client.llen("celery"), "unacked": client.hlen("unacked")}
    except redis.RedisError as exc:
        return {"error": repr(exc)}


# --- the run ---------------------------------------------------------------------------------------


def long_system_prompt(tmp: Path) -> str:
    """`agents_app.demo.support_system_prompt()`; the module imports models, so Django is set up here (no database)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agent_platform.settings")
    os.environ.setdefault("DATA_DIR", str(tmp / "client"))
    django.setup()
    from agents_app.demo import support_system_prompt

    return support_system_prompt()


def lease_settings() -> str:
    """The lease and heartbeat the workers run with (they share this process's environment)."""
    from django.conf import settings

    return f"{settings.INVOCATION_LEASE_SECONDS}, renewed every {settings.INVOCATION_LEASE_HEARTBEAT}"


def metrics_totals(stack) -> dict:
    """The attempts counters of `/metrics` (the web process reads them from the database), summed over agents."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    response = requests.get(f"{stack.url}/metrics", timeout=60)
    response.raise_for_status()
    totals: Counter = Counter()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("agent_platform_invocation_") and sample.name.endswith("_total"):
                totals[sample.name.removeprefix("agent_platform_invocation_").removesuffix("_total")] += sample.value
    return dict(totals)


def worker_concurrency() -> int | None:
    """Threads per worker, as the workers' settings resolve it (they share this process's environment)."""
    from django.conf import settings

    return settings.CELERY_WORKER_CONCURRENCY


def run(args, tmp: Path, info: dict, cleanup: list) -> dict:
    from agent_platform.devstack import RedisServer, Stack
    from bedrock.emulator.server import start

    redis = RedisServer(tmp)
    cleanup.append(redis.stop)
    emulator = start("127.0.0.1", 0)
    cleanup.append(emulator.stop)
    # Keep every successful model request (the emulator keeps the last 200): which turn reached the model.
    emulator.state.log = deque(maxlen=max(10_000, 20 * args.invocations))

    lowered = {
        "INVOCATION_REQUEUE_AFTER": args.requeue_after,
        "INVOCATION_TIME_LIMIT": args.task_time_limit,
        "INVOCATION_RETRY_BACKOFF": 1,
    }
    # Left at the service's defaults unless asked (the lease and heartbeat are what the SIGKILL phase measures).
    lowered |= {
        name: value
        for name, value in (
            ("CELERY_VISIBILITY_TIMEOUT", args.visibility_timeout),
            ("INVOCATION_LEASE_SECONDS", args.lease_seconds),
            ("INVOCATION_LEASE_HEARTBEAT", args.lease_heartbeat),
        )
        if value is not None
    }
    os.environ.update({name: str(value) for name, value in lowered.items()})  # so this process reads them too
    system_prompt = long_system_prompt(tmp)
    (tmp / "stack").mkdir()
    stack = Stack(tmp / "stack", redis.url, emulator.url, DEBUG="false", DB_CONN_MAX_AGE=60, **lowered)
    cleanup.append(stack.stop)
    db = Db(stack.tmp / "db.sqlite3")
    stack.manage("migrate", "--verbosity", "0")
    sweep_every = db.query(
        "SELECT i.every FROM django_celery_beat_periodictask t JOIN django_celery_beat_intervalschedule i "
        "ON t.interval_id = i.id WHERE t.task = 'agents_app.tasks.invocations_requeue_stale' AND t.enabled"
    )
    sweep_every = sweep_every[0][0] if sweep_every else None
    key = stack.tenant_key("faults")
    stack.start_web()
    for name in ("w1", "w2"):
        stack.start_worker(name)
    for name in ("w1", "w2"):
        stack.wait_ready(name)
    stack.start_beat()

    agents = [
        stack.create_agent(
            key,
            name=f"support {n}",
            system_prompt=system_prompt + f"\nYou answer for store number {n}.",
            model_id=CLAUDE,
            prompt_caching_enabled=True,
        )
        for n in range(args.agents)
    ]
    emulator.latency = args.latency  # model calls that take a while keep many turns in flight at the kill
    emulator.faults.configure(
        throttle_rate=args.throttle_rate,
        error_rate=args.error_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        seed=args.seed,
    )
    log(
        f"settings lowered for the run: {', '.join(f'{k}={v}' for k, v in lowered.items())} (seconds); "
        f"sweeper every {sweep_every} s (the shipped schedule); session lease {lease_settings()} s"
    )
    log(
        f"faults (seed {args.seed}): throttling {args.throttle_rate:.0%}, 5xx {args.error_rate:.0%}, "
        f"slow {args.slow_rate:.0%} (+{args.slow_seconds:g} s), latency {args.latency}; posting {args.invocations} "
        f"invocations over "
        f"{args.sessions} sessions of {args.agents} agents from {args.threads} threads (load {loadavg()})"
    )

    plan = plan_sessions(args)
    posts: list[dict] = []
    post_errors: list[dict] = []
    lock = threading.Lock()
    threads = [
        threading.Thread(
            target=post_turns,
            args=(stack, key, agents, plan[n :: args.threads], posts, post_errors, lock),
            name=f"client-{n}",
            daemon=True,
        )
        for n in range(args.threads)
    ]
    events: list[dict] = []

    def event(what: str, **extra) -> None:
        counts = db.status_counts()
        entry = {
            "t": time.time(),
            "what": what,
            "posted": len(posts),
            "finished": counts["succeeded"] + counts["failed"],
            "queued": counts["queued"],
            "running": counts["running"],
            **extra,
        }
        events.append(entry)
        log(
            f"{what}: posted {entry['posted']}, finished {entry['finished']}, queued {entry['queued']}, "
            f"running {entry['running']}" + "".join(f", {k} {v}" for k, v in extra.items())
        )

    first_post = time.time()
    for thread in threads:
        thread.start()

    killed_at = restarted = redis_restarted = None
    worker_restarts: list[dict] = []
    in_flight_at_kill: list[int] = []
    queued_at_restart: list[int] = []
    posting_done_at = None
    drain_deadline = None
    last_progress = 0.0
    while True:
        now = time.time()
        counts = db.status_counts()
        finished = counts["succeeded"] + counts["failed"]
        if posting_done_at is None and not any(t.is_alive() for t in threads):
            posting_done_at = now
            drain_deadline = now + args.drain_timeout
            event("all POSTs sent", seconds=round(now - first_post, 1), post_errors=len(post_errors))
        if killed_at is None and finished >= args.kill_at * args.invocations:
            in_flight_at_kill = db.running_ids()
            stack.kill("w1")
            killed_at = time.time()
            event("SIGKILLed worker w1 (process group)", in_flight=in_flight_at_kill)
        for name in ("w1", "w2"):
            process = stack.processes.get(name)
            if process is not None and process.poll() is not None:
                # A worker that exits by itself is started again, as docker-compose's `restart: unless-stopped`
                # does (Celery 5.7's worker can exit on a broker restart: "Unrecoverable error" in its log).
                stack.processes.pop(name)
                running = db.running_ids()
                worker_restarts.append({"worker": name, "at": time.time(), "in_flight": running})
                stack.start_worker(name)
                event(f"worker {name} exited by itself (exit {process.returncode}) and was started again")
        if killed_at and restarted is None and now >= killed_at + args.restart_after:
            stack.start_worker("w1")
            stack.wait_ready("w1")
            restarted = time.time()
            event("worker w1 started again")
        if restarted and redis_restarted is None and finished >= args.redis_at * args.invocations:
            backlog = redis_backlog(redis.url)
            queued_at_restart = [r[0] for r in db.query("SELECT id FROM agents_app_invocation WHERE status = 'queued'")]
            down = time.time()
            redis.restart(args.redis_down)
            redis_restarted = time.time()
            event(
                "Redis restarted empty on the same port",
                lost_messages=backlog,
                down_s=round(redis_restarted - down, 1),
            )
        done = posting_done_at and not counts["queued"] and not counts["running"] and finished >= len(posts)
        if done and redis_restarted:
            event("drained")
            break
        if drain_deadline and now > drain_deadline:
            event("drain timeout", seconds=args.drain_timeout)
            break
        if now - last_progress >= 10:
            last_progress = now
            log(
                f"posted {len(posts)}, queued {counts['queued']}, running {counts['running']}, succeeded "
                f"{counts['succeeded']}, failed {counts['failed']} (load {loadavg()})"
            )
        time.sleep(0.5)
    drained_at = time.time()

    # --- collect ---
    rows_by_agent = {a["id"]: api_pages(stack, key, f"/api/agents/{a['id']}/invocations/") for a in agents}
    sessions_by_agent = {a["id"]: api_pages(stack, key, f"/api/agents/{a['id']}/sessions/") for a in agents}
    agent_stats = {
        a["id"]: stack.call(key, "GET", f"/api/agents/{a['id']}/cache-stats/", params={"period": "all"}).json()
        for a in agents
    }
    tenant_stats = stack.call(key, "GET", "/api/cache-stats/", params={"period": "all"}).json()
    db_sessions = {
        session_id: json.loads(messages or "[]")
        for session_id, messages in db.query("SELECT session_id, messages FROM agents_app_agentsession")
    }
    db_sums = {
        agent_id: dict(zip(("succeeded", "failed", *TOKEN_FIELDS), values, strict=True))
        for agent_id, *values in db.query(
            "SELECT agent_id, sum(status = 'succeeded'), sum(status = 'failed'), "
            + ", ".join(f"sum(CASE WHEN status = 'succeeded' THEN {f} ELSE 0 END)" for f in TOKEN_FIELDS)
            + " FROM agents_app_invocation GROUP BY agent_id"
        )
    }
    logs = {name: stack.log(name) for name in ("w1", "w2", "beat", "web")}
    metrics = metrics_totals(stack)
    return {
        "metrics": metrics,
        "lease": lease_settings(),
        "args": args,
        "info": info,
        "lowered": lowered,
        "worker_concurrency": worker_concurrency(),
        "sweep_every": sweep_every,
        "agents": agents,
        "plan": plan,
        "posts": posts,
        "post_errors": post_errors,
        "events": events,
        "worker_restarts": worker_restarts,
        "first_post": first_post,
        "posting_done_at": posting_done_at,
        "drained_at": drained_at,
        "in_flight_at_kill": in_flight_at_kill,
        "killed_at": killed_at,
        "queued_at_restart": queued_at_restart,
        "redis_up_at": redis_restarted,
        "rows_by_agent": rows_by_agent,
        "sessions_by_agent": sessions_by_agent,
        "agent_stats": agent_stats,
        "tenant_stats": tenant_stats,
        "db_sessions": db_sessions,
        "db_sums": db_sums,
        "emulator_stats": emulator.stats(),
        "model_requests": list(emulator.state.log),
        "logs": logs,
    }


# --- the checks ------------------------------------------------------------------------------------


def sums(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["status"] == "succeeded"]
    out = {
        "total_invocations": len(ok),
        "failed_invocations": sum(r["status"] == "failed" for r in rows),
        "caching_enabled_invocations": sum(bool(r["caching_enabled"]) for r in ok),
        "cache_hits": sum(r["cache_hit"] is True for r in ok),
    }
    out |= {f: sum(r[f] for r in ok) for f in TOKEN_FIELDS}
    out |= {f: money(sum((Decimal(r[f]) for r in ok), Decimal(0))) for f in MONEY_FIELDS}
    return out


def compare_stats(api: dict, expected: dict) -> list[str]:
    return [f"{f}: API {api.get(f)!r} != rows {value!r}" for f, value in expected.items() if api.get(f) != value]


def check(result: dict) -> dict:
    posts, planned = result["posts"], sum(s["turns"] for s in result["plan"])
    rows = [r for agent_rows in result["rows_by_agent"].values() for r in agent_rows]
    by_id: dict[int, dict] = {}
    listed = Counter(r["id"] for r in rows)
    for r in rows:
        by_id[r["id"]] = r
    requested = {p["id"]: p for p in posts}

    missing = sorted(set(requested) - set(by_id))
    unfinished = sorted(i for i in requested if i in by_id and by_id[i]["status"] not in ("succeeded", "failed"))
    unexpected = sorted(set(by_id) - set(requested))
    succeeded = [i for i in requested if by_id.get(i, {}).get("status") == "succeeded"]
    failed = [i for i in requested if by_id.get(i, {}).get("status") == "failed"]
    failed_without_error = [i for i in failed if not by_id[i]["error"].strip()]

    # --- duplicates ---
    listed_twice = sorted(i for i, n in listed.items() if n > 1)
    posted_per_session = Counter(p["session_id"] for p in posts)
    api_sessions = {s["session_id"]: s for agent in result["sessions_by_agent"].values() for s in agent}
    session_count_mismatch = sorted(
        (sid, n, api_sessions.get(sid, {}).get("invocations"))
        for sid, n in posted_per_session.items()
        if api_sessions.get(sid, {}).get("invocations") != n
    )
    window = 40  # Strands' default sliding window: the runtime sets no conversation manager
    turns_by_session: dict[str, list[dict]] = defaultdict(list)
    for i in sorted(requested):
        if i in by_id:
            turns_by_session[requested[i]["session_id"]].append(by_id[i])
    prompt_to_id = {p["prompt"]: p["id"] for p in posts}
    too_long, prompt_twice, inconsistent = [], set(), []
    for sid, turns in turns_by_session.items():
        ok = [t for t in turns if t["status"] == "succeeded"]
        messages = result["db_sessions"].get(sid, [])
        if len(messages) > min(2 * len(ok), window):
            too_long.append((sid, len(messages), len(ok)))
        user_texts = [text_of(m) for m in messages if m.get("role") == "user"]
        for text, n in Counter(user_texts).items():
            if n > 1:
                prompt_twice.add(prompt_to_id.get(text, text))
        expected = [x for t in ok for x in (t["prompt"], t["response"])][-window:]
        if [text_of(m) for m in messages] != expected:
            inconsistent.append(sid)
    calls = Counter(
        text_of(r["request"]["messages"][-1]) for r in result["model_requests"] if r["request"].get("messages")
    )
    ran_twice = {prompt_to_id[p]: n for p, n in calls.items() if n > 1 and p in prompt_to_id}
    killed = set(result["in_flight_at_kill"])
    died_with_a_worker = killed | {i for w in result["worker_restarts"] for i in w["in_flight"]}
    ran_twice_expected = {i: n for i, n in ran_twice.items() if i in died_with_a_worker}
    ran_twice_unexpected = {i: n for i, n in ran_twice.items() if i not in died_with_a_worker}
    not_called = [i for i in succeeded if requested[i]["prompt"] not in calls]
    duplicated_ids = set(listed_twice) | set(prompt_twice) | set(ran_twice_unexpected)
    duplicated_sessions = {sid for sid, *_ in too_long} | {
        sid for sid, posted, counted in session_count_mismatch if (counted or 0) > posted
    }
    duplicated_sessions -= {requested[i]["session_id"] for i in duplicated_ids if i in requested}
    duplicated = len(duplicated_ids) + len(duplicated_sessions)

    # --- stats ---
    stat_diffs: dict[str, list[str]] = {}
    all_sums = sums(rows)
    stat_diffs["tenant"] = compare_stats(result["tenant_stats"], all_sums)
    for agent in result["agents"]:
        agent_rows = result["rows_by_agent"][agent["id"]]
        expected = sums(agent_rows)
        diffs = compare_stats(result["agent_stats"][agent["id"]], expected)
        db = result["db_sums"].get(agent["id"], {})
        db_expected = {
            "succeeded": expected["total_invocations"],
            "failed": expected["failed_invocations"],
            **{f: expected[f] for f in TOKEN_FIELDS},
        }
        diffs += [
            f"{f}: database file {db.get(f)!r} != API rows {v!r}" for f, v in db_expected.items() if db.get(f) != v
        ]
        stat_diffs[f"agent {agent['id']}"] = diffs
    stats_differ = sum(len(d) for d in stat_diffs.values())

    # --- the SIGKILL: attempts lost with the killed worker, and when their sessions resumed ---
    # A worker that exited by itself (restarted like docker-compose does) loses its turns too.
    killed_at = result["killed_at"]
    crashed = {i: w["at"] for w in result["worker_restarts"] for i in w["in_flight"]}
    lost_with_worker = {i: r for i, r in by_id.items() if r.get("lost_attempts")}
    resumed_after, resumed_after_crash = {}, {}
    for i, r in lost_with_worker.items():
        entries = [e for e in r["retries"] if e.get("lost_with_worker")]
        session = requested[i]["session_id"] if i in requested else str(i)
        if entries and killed_at and i in killed:
            resumed_after[session] = isotime(entries[0]["at"]) - killed_at
        elif entries and i in crashed:
            resumed_after_crash[session] = isotime(entries[-1]["at"]) - crashed[i]
    lost_outside_kill = sorted(set(lost_with_worker) - killed - set(crashed))
    ran_twice_unrecorded = sorted(i for i in ran_twice_expected if i not in lost_with_worker)
    resumed_late = sorted(sid for sid, seconds in resumed_after.items() if seconds > RESUME_WITHIN)

    # --- /metrics against the rows ---
    finished = [by_id[i] for i in succeeded + failed]
    row_attempts = {
        "attempts": sum(r["attempts"] for r in finished),
        "retries": sum(max(r["attempts"] - 1, 0) for r in finished),
        "lost_attempts": sum(r["lost_attempts"] for r in finished),
    }
    metrics_differ = {
        name: (result["metrics"].get(name), value)
        for name, value in row_attempts.items()
        if result["metrics"].get(name) != value
    }

    # --- timings and activity ---
    finished_times = [isotime(by_id[i]["finished_at"]) for i in succeeded + failed if by_id[i]["finished_at"]]
    last_finished = max(finished_times) if finished_times else result["drained_at"]
    wall = last_finished - result["first_post"]
    e2e = sorted(isotime(by_id[i]["finished_at"]) - isotime(by_id[i]["queued_at"]) for i in succeeded)
    attempts = Counter(by_id[i]["attempts"] for i in succeeded + failed)
    worker_logs = result["logs"]["w1"] + result["logs"]["w2"]
    sweeps = sweeper_runs(worker_logs, result["first_post"])
    sweeps_sent = len(re.findall(r"Sending due task agents: requeue stale invocations", result["logs"]["beat"]))

    def since(at: float | None, ids: list[int], field: str) -> str:
        times = [isotime(by_id[i][field]) - at for i in ids if i in by_id and by_id[i][field]]
        if not times or not at:
            return "-"
        low, high = min(times), max(times)
        return f"{low:+.1f} s" if high - low < 0.05 else f"{low:+.1f} s to {high:+.1f} s"

    requeued = [n for _, n in sweeps]
    emulator = result["emulator_stats"]
    return {
        "planned": planned,
        "requested": len(requested),
        "post_errors": len(result["post_errors"]),
        "succeeded": len(succeeded),
        "failed": len(failed),
        "lost": len(missing) + len(unfinished),
        "missing": missing,
        "unfinished": unfinished,
        "unexpected": unexpected,
        "duplicated": duplicated,
        "listed_twice": listed_twice,
        "session_count_mismatch": session_count_mismatch,
        "too_long": too_long,
        "prompt_twice": sorted(prompt_twice, key=str),
        "inconsistent": inconsistent,
        "ran_twice_expected": ran_twice_expected,
        "ran_twice_unexpected": ran_twice_unexpected,
        "not_called": not_called,
        "failed_without_error": failed_without_error,
        "failed_errors": Counter(by_id[i]["error"].split(":")[0] for i in failed),
        "stat_diffs": stat_diffs,
        "stats_differ": stats_differ,
        "totals": all_sums,
        "wall": wall,
        "posting": result["posting_done_at"] - result["first_post"],
        "throughput": len(requested) / wall if wall > 0 else 0.0,
        "e2e_p50": e2e[len(e2e) // 2] if e2e else float("nan"),
        "e2e_p95": e2e[int(len(e2e) * 0.95)] if e2e else float("nan"),
        "e2e_max": e2e[-1] if e2e else float("nan"),
        "attempts": dict(sorted(attempts.items())),
        "task_runs": len(re.findall(r"Task agents_app\.tasks\.invocation_run\[[^\]]+\] received", worker_logs)),
        "task_retries": len(re.findall(r"invocation_run\[[^\]]+\] retry: Retry in", worker_logs)),
        "sweeps": len(sweeps),
        "requeued": sum(requeued),
        "requeues": [f"t+{t:.0f} s: {n}" for t, n in sweeps if n],
        "emulator_requests": emulator["requests"],
        "emulator_errors": emulator["errors"],
        "model_calls_ok": len(result["model_requests"]),
        "no_ops": len(re.findall(r"invocation \d+ is already \w+; nothing to do", worker_logs)),
        "sweeps_sent": sweeps_sent,
        "kill_recovery": {
            i: {"attempts": by_id[i]["attempts"], "finished_after_kill": since(result["killed_at"], [i], "finished_at")}
            for i in result["in_flight_at_kill"]
            if i in by_id
        },
        "lost_with_worker": sorted(lost_with_worker),
        "lost_attempts": sum(r["lost_attempts"] for r in lost_with_worker.values()),
        "resumed_after": dict(sorted(resumed_after.items(), key=lambda item: item[1])),
        "resumed_after_crash": dict(sorted(resumed_after_crash.items(), key=lambda item: item[1])),
        "resumed_late": resumed_late,
        "lost_outside_kill": lost_outside_kill,
        "ran_twice_unrecorded": ran_twice_unrecorded,
        "row_attempts": row_attempts,
        "metrics_differ": metrics_differ,
        "redis_recovery": {
            "queued_at_restart": len(result["queued_at_restart"]),
            "started_after_restart": since(result["redis_up_at"], result["queued_at_restart"], "started_at"),
            "finished_after_restart": since(result["redis_up_at"], result["queued_at_restart"], "finished_at"),
        },
    }


def sweeper_runs(worker_logs: str, start: float) -> list[tuple[float, int]]:
    """(seconds from `start`, invocations sent again) for each sweeper task a worker ran, from Celery's log lines."""
    runs = []
    pattern = r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}):[^\]]*\] Task agents_app\.tasks\.invocations_requeue_stale"
    for stamp, ms, count in re.findall(pattern + r"\[[^\]]+\] succeeded in [\d.]+s: (\d+)", worker_logs):
        at = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000
        runs.append((at - start, int(count)))
    return sorted(runs)


def resumed_line(resumed_after: dict[str, float]) -> str:
    if not resumed_after:
        return "-"
    seconds = sorted(resumed_after.values())
    return (
        f"min {seconds[0]:.1f} s, median {seconds[len(seconds) // 2]:.1f} s, max {seconds[-1]:.1f} s ("
        + ", ".join(f"{sid} {t:.1f} s" for sid, t in resumed_after.items())
        + ")"
    )


def events_lines(result: dict) -> list[str]:
    start = result["first_post"]
    lines = []
    for e in result["events"]:
        extra = {k: v for k, v in e.items() if k not in ("t", "what", "posted", "finished", "queued", "running")}
        detail = "".join(f"; {k} {v}" for k, v in extra.items())
        lines.append(
            f"  t+{e['t'] - start:6.1f} s  {e['what']}: posted {e['posted']}, finished {e['finished']}, "
            f"queued {e['queued']}, running {e['running']}{detail}"
        )
    return lines


def summary(result: dict, c: dict) -> list[str]:
    def show(items, limit=10):
        items = list(items)
        return f"{len(items)}" + (f" {items[:limit]}{' ...' if len(items) > limit else ''}" if items else "")

    lines = [
        f"invocations requested:   {c['requested']} of {c['planned']} planned "
        f"(POSTs refused or failed: {c['post_errors']})",
        f"succeeded:               {c['succeeded']}",
        f"failed:                  {c['failed']} {dict(c['failed_errors']) if c['failed'] else ''}".rstrip(),
        f"  every failure has its error stored: {'yes' if not c['failed_without_error'] else 'NO'}"
        + (f" (without: {c['failed_without_error'][:10]})" if c["failed_without_error"] else ""),
        f"lost:                    {c['lost']} (missing from the API: {show(c['missing'])}; "
        f"still queued/running: {show(c['unfinished'])})",
        f"duplicated:              {c['duplicated']}",
        f"  ids listed twice by the API: {show(c['listed_twice'])}",
        f"  sessions whose invocation count differs from the turns posted: {show(c['session_count_mismatch'])}",
        f"  conversations longer than 2 x succeeded turns: {show(c['too_long'])}",
        f"  prompts twice in a stored conversation: {show(c['prompt_twice'])}",
        f"  turns the model answered more than once: {show(c['ran_twice_unexpected'].items())} unexplained; "
        f"{show(c['ran_twice_expected'].items())} in flight on a worker that died (expected: run again)",
        f"conversations not equal to their succeeded turns in id order: {show(c['inconsistent'])}",
        f"succeeded without a successful model call: {show(c['not_called'])}",
        f"rows in the API nobody posted: {show(c['unexpected'])}",
        f"cache-stats equal the stored rows (tenant and {len(c['stat_diffs']) - 1} agents, period=all): "
        + ("yes" if not c["stats_differ"] else f"NO, {c['stats_differ']} differences"),
    ]
    for scope, diffs in c["stat_diffs"].items():
        lines += [f"  {scope}: {d}" for d in diffs]
    t = c["totals"]
    lines += [
        f"  totals: {t['total_invocations']} invocations, input {t['input_tokens']:,}, cache read "
        f"{t['cache_read_tokens']:,}, cache write {t['cache_write_tokens']:,}, output {t['output_tokens']:,} "
        f"tokens, net savings ${t['net_savings']}, {t['cache_hits']} cache hits",
        f"wall time (first POST to last finished): {c['wall']:.1f} s, {c['throughput']:.2f} invocations/s; "
        f"posting took {c['posting']:.1f} s",
        f"queued to finished: p50 {c['e2e_p50']:.1f} s, p95 {c['e2e_p95']:.1f} s, max {c['e2e_max']:.1f} s",
        f"attempts per invocation: {c['attempts']}; task messages received by workers: {c['task_runs']} "
        f"(of which {c['task_retries']} ended in a Celery retry)",
        f"sweeper: sent by beat {c['sweeps_sent']} times, run by a worker {c['sweeps']} times, "
        f"{c['requeued']} invocations sent again ({', '.join(c['requeues']) or '-'})",
        f"task deliveries that found their invocation already finished (no-ops): {c['no_ops']}",
        "workers that exited by themselves and were started again: "
        + (", ".join(f"{w['worker']} ({len(w['in_flight'])} running)" for w in result["worker_restarts"]) or "none")
        + (
            f"; their sessions resumed after: {resumed_line(c['resumed_after_crash'])}"
            if c["resumed_after_crash"]
            else ""
        ),
        f"killed worker's in-flight invocations: {c['kill_recovery']}",
        f"SIGKILL: {len(c['lost_with_worker'])} invocations lost an attempt with the killed worker "
        f"({c['lost_attempts']} lost attempts recorded on them); each session resumed (another worker took its "
        f"turn over) after the kill: " + resumed_line(c["resumed_after"]),
        f"  every session resumed within {RESUME_WITHIN} s of the kill: "
        + ("yes" if c["resumed_after"] and not c["resumed_late"] else f"NO {c['resumed_late'] or '(none resumed)'}"),
        f"  turns the model ran twice without a lost attempt recorded: {show(c['ran_twice_unrecorded'])}; "
        f"lost attempts on invocations not in flight when a worker died: {show(c['lost_outside_kill'])}",
        f"/metrics attempts, retries, lost attempts: {c['row_attempts']} in the rows; "
        + ("the same in /metrics" if not c["metrics_differ"] else f"DIFFERENT (metrics, rows): {c['metrics_differ']}"),
        f"invocations queued when Redis restarted: {c['redis_recovery']['queued_at_restart']}, started again "
        f"{c['redis_recovery']['started_after_restart']} and finished {c['redis_recovery']['finished_after_restart']} "
        "after Redis was back",
        f"emulator: requests {c['emulator_requests']}, errors {c['emulator_errors']}, successful model calls "
        f"{c['model_calls_ok']}",
    ]
    return lines


def failures(c: dict) -> list[str]:
    checks = {
        "lost": c["lost"],
        "duplicated": c["duplicated"],
        "stats differ": c["stats_differ"],
        "failures without an error": c["failed_without_error"],
        "no session resumed after the kill": not c["resumed_after"],
        f"sessions resumed later than {RESUME_WITHIN} s": c["resumed_late"],
        "lost attempts not recorded": c["ran_twice_unrecorded"] or c["lost_outside_kill"],
        "/metrics differs from the rows": c["metrics_differ"],
    }
    return [name for name, failed in checks.items() if failed]


def report(result: dict, c: dict, command: str) -> str:
    info, args, lowered = result["info"], result["args"], result["lowered"]
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    ok = not failures(c)
    return "\n".join(
        [
            SECTION,
            "",
            f"Machine: {info['nproc']} CPUs ({info['cpu']}), Linux, Python {info['python']}, {versions}, "
            f"redis-server {info['redis_server']}; code at {info['commit']}. Shared with other engineers' runs "
            f"(load average {result['load_before']} before, {result['load_after']} after). Run of "
            f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
            "",
            f"Command: `{command}`",
            "",
            "Set-up: gunicorn (2 workers), two Celery workers on the default pool (threads, "
            f"`WORKER_CONCURRENCY` {result['worker_concurrency']} each) and Celery beat on Redis {info['redis_server']}"
            f" (no persistence), a SQLite file database (WAL), the emulator in the run's process. {args.agents} "
            f"agents on `{CLAUDE}` with the 2,500-token `support_system_prompt()`, caching on (combined); "
            f"{args.sessions} sessions; {args.threads} client threads. Faults (seed {args.seed}): "
            f"{args.throttle_rate:.0%} throttling, {args.error_rate:.0%} 5xx, {args.slow_rate:.0%} of responses "
            f"{args.slow_seconds:g} s slow; emulator latency `{args.latency}`; worker w1 SIGKILLed (process group) "
            f"when {args.kill_at:.0%} had "
            f"finished and started again {args.restart_after:g} s later; Redis stopped and started empty on the "
            f"same port when {args.redis_at:.0%} had finished. Lowered for the run: "
            + ", ".join(f"`{k}={v}`" for k, v in lowered.items())
            + f" (seconds); the sweeper on its shipped schedule, every {result['sweep_every']} s; the session lease "
            f"and Redis's visibility timeout as the service ships them (lease {result['lease']} s).",
            "",
            "Timeline (t from the first POST):",
            "",
            "```",
            *events_lines(result),
            "```",
            "",
            f"Result: **{'target met' if ok else 'target NOT met: ' + ', '.join(failures(c))}**",
            "",
            "```",
            *summary(result, c),
            "```",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invocations", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4, help="client threads posting (default 4)")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--throttle-rate", type=float, default=0.10)
    parser.add_argument("--error-rate", type=float, default=0.02)
    parser.add_argument("--slow-rate", type=float, default=0.05)
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument(
        "--latency", default="off", help="the emulator's latency model: off, realistic, or its fields (base_ms=...)"
    )
    parser.add_argument("--kill-at", type=float, default=0.25, help="SIGKILL a worker when this share has finished")
    parser.add_argument("--restart-after", type=float, default=3.0, help="seconds before the worker starts again")
    parser.add_argument("--redis-at", type=float, default=0.5, help="restart Redis when this share has finished")
    parser.add_argument("--redis-down", type=float, default=2.0, help="seconds Redis stays down")
    parser.add_argument("--requeue-after", type=int, default=15, help="INVOCATION_REQUEUE_AFTER for the run")
    parser.add_argument(
        "--visibility-timeout", type=int, help="CELERY_VISIBILITY_TIMEOUT for the run (default: the service's)"
    )
    parser.add_argument("--task-time-limit", type=int, default=20, help="INVOCATION_TIME_LIMIT for the run")
    parser.add_argument("--lease-seconds", type=int, help="INVOCATION_LEASE_SECONDS (default: the service's)")
    parser.add_argument("--lease-heartbeat", type=int, help="INVOCATION_LEASE_HEARTBEAT (default: the service's)")
    parser.add_argument("--drain-timeout", type=int, default=600, help="seconds to wait after the last POST")
    parser.add_argument("--time-limit", type=int, default=1500, help="stop everything after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not update {RESULTS.name}")
    args = parser.parse_args()
    if not (0 < args.kill_at < args.redis_at < 1):
        parser.error("need 0 < --kill-at < --redis-at < 1")
    if missing := redis_missing():
        print(missing, file=sys.stderr)
        return 2
    command = ".venv/bin/python bench/fault_run.py " + " ".join(sys.argv[1:])

    def on_alarm(signum, frame):
        raise RunTimeout(f"time limit of {args.time_limit} s reached")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(args.time_limit)
    # Always a Redis of our own: it is restarted, and a shared one could hand our tasks to someone else's workers.
    os.environ.pop("TEST_REDIS_URL", None)

    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="fault-run-"))
    cleanup: list = []
    started = time.time()
    load_before = loadavg()
    try:
        result = run(args, tmp, info, cleanup)
    except (KeyboardInterrupt, RunTimeout) as exc:
        print(f"\nstopped: {exc or 'interrupted'}; cleaning up (logs in {tmp})", file=sys.stderr)
        args.keep = True
        return 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        for stop in reversed(cleanup):
            with contextlib.suppress(Exception):
                stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    result["load_before"], result["load_after"] = load_before, loadavg()

    c = check(result)
    print()
    print("\n".join(events_lines(result)))
    print()
    print("\n".join(summary(result, c)))
    print(f"whole run (start-up, run, checks): {time.time() - started:.0f} s" + (f"; kept {tmp}" if args.keep else ""))
    if not args.no_write:
        write_section(SECTION, report(result, c, command), notes=(NOTES_START, NOTES_END))
        print(f"wrote the '{SECTION[3:]}' section of {RESULTS.relative_to(ROOT)}")
    return 1 if failures(c) or c["post_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
