"""The service's real processes on loopback, for the integration tests and the benchmarks.

gunicorn, Celery workers and beat on Redis (a throwaway redis-server unless
`TEST_REDIS_URL` names one), with a SQLite file database shared by the
processes (PostgreSQL in production); the callers bring the Bedrock emulator
and pass its URL. Everything talks over loopback,
and the callers drive it through the HTTP API and management commands, as a
user would. This module never runs in production: it only starts the service
the way production runs it.

Nothing here imports Django apps or pytest: it starts subprocesses, and the
benchmarks use it outside pytest. A timeout raises `AssertionError`, so a test
waiting on the stack fails rather than errors.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_process(process: subprocess.Popen, *, group: bool = False, grace: float = 20) -> None:
    """SIGTERM, then SIGKILL whatever is left after `grace` seconds.

    `group=True` for a process started in a session of its own: the signals go to its whole process group
    and the wait lasts until the group is gone, so the children that outlive their parent (gunicorn's and
    Celery's pool processes, a shell's background jobs) are stopped too.
    """

    def send(sig):
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)  # does nothing once the process is reaped

    def alive() -> bool:
        if process.poll() is None:  # reaps the leader once it has exited
            return True
        if not group:
            return False
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    send(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive():
        send(signal.SIGKILL)
    process.wait(10)


class RedisServer:
    """`TEST_REDIS_URL` when `make test` provides one, else a throwaway redis-server of our own."""

    def __init__(self, tmp: Path):
        self.process = None
        self.command: list[str] = []
        self.url = os.environ.get("TEST_REDIS_URL", "")
        if self.url:
            return
        if not shutil.which("redis-server"):
            raise RuntimeError("need Redis: set TEST_REDIS_URL or install redis-server (make test does)")
        self.port = free_port()
        # No persistence: a restart starts empty, like a broker that lost its data.
        self.command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while True:
            self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
            # It exits at once when the port is still taken (a restart right after a stop): try again.
            wait_until(lambda: self.process.poll() is not None or self.ping(), timeout=timeout, what="redis-server")
            if self.process.poll() is None:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server exited with {self.process.returncode} on port {self.port}")
            time.sleep(0.2)

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.url).ping()
        except redis.ConnectionError:
            return False

    def flush(self):
        import redis

        redis.Redis.from_url(self.url).flushdb()

    def stop(self):
        if self.process:
            stop_process(self.process, grace=10)

    def restart(self, down_seconds: float = 0.0):
        """Stop the server and start an empty one on the same port: queued and unacknowledged messages are lost."""
        if not self.command:
            raise RuntimeError("cannot restart a Redis this process did not start (TEST_REDIS_URL)")
        self.stop()
        time.sleep(down_seconds)
        self.start()


class Stack:
    """gunicorn, Celery workers and beat for one database under `tmp`, each a process of its own (its log in
    `tmp/logs/<name>.log`), configured through the environment like a deployment."""

    def __init__(self, tmp: Path, redis_url: str, emulator_url: str, **settings):
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.logs.mkdir(exist_ok=True)
        self.env = (
            {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("AWS_", "CELERY_", "DJANGO_")) and key not in ("DATABASE_URL", "REDIS_URL")
            }
            | {
                "DJANGO_SETTINGS_MODULE": "agent_platform.settings",
                "DATA_DIR": str(tmp),
                "CELERY_BROKER_URL": redis_url,
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": emulator_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                "INVOCATION_RETRY_BACKOFF": "1",
                "THROTTLE_INVOCATIONS": "10000/min",
            }
            | {key: str(value) for key, value in settings.items()}
        )
        self.processes: dict[str, subprocess.Popen] = {}
        self.log_offsets: dict[str, int] = {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    # --- processes ---

    def manage(self, *args, check=True) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300
        )
        if check and result.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def spawn(self, name: str, *command: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.log_offsets[name] = log.tell()  # a process started again under a name appends to its log
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def start_web(self, workers: int = 2):
        self.spawn(
            "web",
            str(BIN / "gunicorn"),
            "agent_platform.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
        )
        wait_until(self._healthy, timeout=60, what="gunicorn")

    def _healthy(self):
        try:
            return requests.get(f"{self.url}/healthz/", timeout=5).ok
        except requests.RequestException:
            return False

    def start_worker(self, name: str = "worker1", concurrency: int = 1):
        return self.spawn(
            name,
            str(BIN / "celery"),
            "-A",
            "agent_platform",
            "worker",
            "-l",
            "info",
            "-c",
            str(concurrency),
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
        )

    def start_beat(self, name: str = "beat"):
        """Celery beat on the database schedule (`CELERY_BEAT_SCHEDULER`): the shipped periodic tasks, the sweeper."""
        return self.spawn(
            name,
            str(BIN / "celery"),
            "-A",
            "agent_platform",
            "beat",
            "-l",
            "info",
            f"--pidfile={self.tmp / f'{name}.pid'}",
        )

    def wait_ready(self, name: str, timeout: float = 60):
        """Wait until a worker started with `start_worker` consumes tasks."""
        process = self.processes[name]

        def ready():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)[-3000:]}")
            with open(self.logs / f"{name}.log", "rb") as log:
                log.seek(self.log_offsets[name])
                return b" ready." in log.read()

        wait_until(ready, timeout=timeout, what=f"worker {name}")

    def kill(self, name: str, sig=signal.SIGKILL):
        """Kill a process and its children at once, like a machine losing power."""
        process = self.processes.pop(name)
        os.killpg(process.pid, sig)
        process.wait(30)

    def terminate(self, name: str, grace: float = 20):
        """Stop a process and its children the way a deployment does (SIGTERM), SIGKILL after `grace` seconds."""
        process = self.processes.pop(name, None)
        if process is not None:
            stop_process(process, group=True, grace=grace)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self):
        for name in list(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):  # stop the others all the same
                self.terminate(name)

    # --- the API, as a user calls it ---

    def tenant_key(self, slug: str) -> str:
        self.manage("create_tenant", slug)
        return self.manage("create_api_key", slug).strip().splitlines()[-1]

    def call(self, key: str, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Api-Key {key}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def create_agent(self, key: str, **fields) -> dict:
        response = self.call(key, "POST", "/api/agents/", json=fields)
        assert response.status_code == 201, response.text
        return response.json()

    def invoke(self, key: str, agent_id: int, prompt: str, session_id: str | None = None) -> dict:
        body = {"prompt": prompt} | ({"session_id": session_id} if session_id else {})
        response = self.call(key, "POST", f"/api/agents/{agent_id}/invocations/", json=body)
        assert response.status_code == 202, response.text
        return response.json()

    def invocation(self, key: str, invocation_id: int) -> dict:
        return self.call(key, "GET", f"/api/invocations/{invocation_id}/").json()

    def wait_finished(self, key: str, invocation_id: int, timeout: float = 90) -> dict:
        def finished():
            data = self.invocation(key, invocation_id)
            return data if data["status"] in ("succeeded", "failed") else None

        return wait_until(finished, timeout=timeout, what=f"invocation {invocation_id}")
