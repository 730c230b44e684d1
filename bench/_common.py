"""What the benchmark scripts share (not a benchmark itself: `make bench` skips files starting with `_`).

The machine a run measured (`machine`, `loadavg`), the writer of a
benchmark's section of bench/RESULTS.md (`write_section`), what to install
when redis-server is missing (`redis_missing`), and the Bedrock emulator in a
process of its own (`EmulatorProcess`). The service's processes (Redis,
gunicorn, Celery) come from `agent_platform.devstack`, as in the integration
tests; importing this module puts the project root on `sys.path` for that (a
script run as `python bench/x.py` has only bench/ there).
"""

import contextlib
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PACKAGES = ("django", "celery", "kombu", "django-celery-beat", "gunicorn", "strands-agents", "boto3", "redis")


def loadavg() -> str:
    """The 1, 5 and 15-minute load averages, "1.20/0.95/0.80": the machine is shared, so runs say how busy it was."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict:
    """What a run's figures depend on: CPUs, Python, the main packages, redis-server, and the code's commit.

    `dirty` lists the top-level directories with uncommitted changes (bench/, tests/ and Markdown aside):
    figures measured on code that is not the commit's.
    """
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(Exception):
            versions[name] = version(name)
    redis_server = "?"
    with contextlib.suppress(OSError):
        words = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
        redis_server = next((w.split("=", 1)[1] for w in words if w.startswith("v=")), "?")
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", ".", ":(exclude)bench", ":(exclude)tests", ":(exclude)*.md"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return {
        "commit": commit or "?",
        "dirty": sorted({line[3:].split("/")[0] for line in changed if line.strip()}),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "system": platform.system(),
        "versions": versions,
        "redis_server": redis_server,
    }


def write_section(section: str, text: str, *, notes: tuple[str, str] | None = None) -> None:
    """Replace `section` ("## Title") of RESULTS.md with `text` (or append it), leaving the others as they are.

    With `notes=(start, end)`, a block between those markers in the old section (written by hand) is
    kept, at the end of the new one.
    """
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    block = text.rstrip("\n") + "\n\n"
    old = pattern.search(current)
    if old:
        if notes and (kept := re.search(rf"{re.escape(notes[0])}.*?{re.escape(notes[1])}", old.group(0), re.DOTALL)):
            block += kept.group(0) + "\n\n"
        updated = pattern.sub(lambda _: block, current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(updated.rstrip("\n") + "\n")


def redis_missing() -> str | None:
    """What to install when there is no redis-server to start (the benchmarks run one of their own), else None."""
    if shutil.which("redis-server"):
        return None
    return (
        "redis-server is not installed; the benchmark starts a throwaway one. Install it with\n"
        "    sudo apt-get install -y redis-server      (Debian/Ubuntu; `bash scripts/system_deps.sh test` does it)\n"
        "    brew install redis                        (macOS)"
    )


def process_group_usage(pgid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and resident memory in bytes of the live processes in a process group."""
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    cpu, rss = 0, 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # pgrp, the 5th field of stat
                cpu += int(fields[11]) + int(fields[12])  # utime, stime
                rss += int(fields[21]) * page  # rss, in pages
    return cpu / ticks, rss


class EmulatorProcess:
    """The Bedrock emulator in a process of its own (`python -m bedrock.emulator`), driven by its control routes.

    Its own process, so its request threads share no interpreter lock with the benchmark's client; its CPU is
    its own too (`cpu_seconds`). `reset()` keeps the latency set with `set_latency` (the server's reset would
    go back to the latency it started with).
    """

    def __init__(self, log_path: Path, latency: str = "off"):
        import requests

        self._http = requests.Session()
        self.latency = latency
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bedrock.emulator", "--host", "127.0.0.1", "--port", "0", "--latency", latency],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            match = re.search(rb"listening on (http://\S+)", log_path.read_bytes())
            if match:
                self.url = match.group(1).decode()
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)

    def _post(self, path: str, body: dict) -> dict:
        response = self._http.post(f"{self.url}/_emulator/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def set_latency(self, spec: str) -> None:
        self.latency = spec
        self._post("latency", {"spec": spec})

    def faults(self, **settings) -> dict:
        return self._post("faults", settings)

    def reset(self) -> None:
        self._post("reset", {})
        self._post("latency", {"spec": self.latency})

    def stats(self) -> dict:
        return self._http.get(f"{self.url}/_emulator/stats", timeout=10).json()

    def cpu_seconds(self) -> float:
        return process_group_usage(self.process.pid)[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
