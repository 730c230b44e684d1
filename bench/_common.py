"""What the benchmark scripts share (not a benchmark itself: `make bench` skips files starting with `_`).

The machine a run measured (`machine`, `loadavg`) and the writer of a
benchmark's section of bench/RESULTS.md (`write_section`). The service's
processes (Redis, gunicorn, Celery) come from `agent_platform.devstack`, as
in the integration tests; importing this module puts the project root on
`sys.path` for that (a script run as `python bench/x.py` has only bench/ there).
"""

import contextlib
import os
import platform
import re
import subprocess
import sys
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
