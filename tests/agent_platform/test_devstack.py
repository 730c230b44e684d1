"""`stop_process`, which every test and benchmark stack relies on to leave no process behind."""

import os
import subprocess
import time

from agent_platform.devstack import stop_process, wait_until


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_group_is_stopped_with_the_children_that_outlive_their_parent():
    # The child ignores SIGTERM and is left behind when the shell exits: only the SIGKILL to the group ends it.
    shell = subprocess.Popen(
        ["sh", "-c", "(trap '' TERM; sleep 60) & echo started; wait"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert shell.stdout.readline() == b"started\n"
    started = time.monotonic()
    stop_process(shell, group=True, grace=1)
    assert shell.returncode is not None
    assert time.monotonic() - started < 10
    # The killed child is a zombie until init, its new parent, reaps it.
    wait_until(lambda: not group_alive(shell.pid), timeout=5, what="the child to be gone")


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period():
    process = subprocess.Popen(["sh", "-c", "trap '' TERM; echo started; sleep 60"], stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"started\n"
    stop_process(process, grace=0.5)
    assert process.returncode == -9


def test_stopping_a_process_that_has_already_exited_does_nothing():
    process = subprocess.Popen(["true"])
    wait_until(lambda: process.poll() is not None, timeout=10, what="true to exit")
    stop_process(process)
    stop_process(process, group=True)
    assert process.returncode == 0
