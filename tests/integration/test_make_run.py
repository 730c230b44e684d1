"""`make run` serves a burst the way production does: 200 POSTs at once, every one answered, none reset.

The script itself runs (scripts/run_dev.sh: migrate, demo data, web, worker, beat and the emulator on the
embedded defaults, under a temporary DATA_DIR), and the burst goes to the API with the demo key it prints.
"""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from agent_platform.devstack import ROOT, free_port, stop_process, wait_until

BURST = 200


@pytest.fixture
def make_run(tmp_path):
    port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CELERY_", "DJANGO_", "THROTTLE_"))}
    env = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL", "RELOAD")} | {
        "VENV": str(Path(sys.executable).parent.parent),
        "DATA_DIR": str(tmp_path / "data"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PORT": str(port),
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": f"http://127.0.0.1:{emulator_port}",
        "THROTTLE_INVOCATIONS": f"{BURST * 5}/min",  # the burst is about the server, not the rate limit
    }
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "scripts/run_dev.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def running():
            if process.poll() is not None:
                raise AssertionError(f"make run exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            return "Agent Platform is running" in log.read_text(errors="replace")

        wait_until(running, timeout=240, interval=0.5, what="make run")
        key = re.search(r"API key \(the previous demo key is revoked\):\s+(\S+)", log.read_text()).group(1)
        yield f"http://127.0.0.1:{port}", key, log
    finally:
        stop_process(process, group=True, grace=30)


def test_a_burst_of_200_posts_is_served_without_a_connection_reset(make_run):
    url, key, log = make_run
    headers = {"Authorization": f"Api-Key {key}"}
    agent = requests.get(f"{url}/api/agents/?search=Support", headers=headers, timeout=30).json()["results"][0]
    barrier = threading.Barrier(BURST)
    outcomes: list = [None] * BURST

    def post(n):
        barrier.wait(timeout=60)
        try:
            response = requests.post(
                f"{url}/api/agents/{agent['id']}/invocations/",
                json={"prompt": f"Burst {n}"},
                headers=headers,
                timeout=120,
            )
            outcomes[n] = response.status_code
        except requests.RequestException as exc:  # a reset or refused connection
            outcomes[n] = type(exc).__name__ + ": " + str(exc)[:120]

    threads = [threading.Thread(target=post, args=(n,)) for n in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    failures = [o for o in outcomes if o != 202]
    assert failures == [], f"{len(failures)} of {BURST} not accepted, e.g. {failures[:3]}"
    assert "gunicorn" in log.read_text(errors="replace").lower()
