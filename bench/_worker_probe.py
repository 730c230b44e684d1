"""Loaded into a benchmarked worker (bench/_probe_settings.py): the CPU each task took in its own threads.

A pool of threads leaves no per-task CPU in /proc, so this measures it where it is spent: the pool thread
running the task (between Celery's `task_prerun` and `task_postrun`) plus the thread Strands streams from,
which belongs to that pool thread's own event loop (`agents_app.runtime.run.thread_loop`). Work the worker
does for all tasks at once (Celery's consumer, acknowledgements, the collector) is left out: the benchmark
gets it as the process's CPU less the tasks' own. One line per task, "<task name> <seconds>", appended to
the file named by BENCH_TASK_CPU_FILE. Not part of the service: nothing outside bench/ imports it.
"""

import os
import threading
import time

from celery.signals import task_postrun, task_prerun

_OUT = os.environ.get("BENCH_TASK_CPU_FILE", "")
_lock = threading.Lock()
_local = threading.local()


def _reader_threads() -> list[threading.Thread]:
    from agents_app.runtime.run import thread_loop

    executor = getattr(thread_loop(), "_default_executor", None)
    return list(getattr(executor, "_threads", ()) or ())


def _cpu(thread: threading.Thread) -> float:
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (OSError, ProcessLookupError, TypeError):
        return 0.0


@task_prerun.connect
def _started(**kwargs) -> None:
    _local.started = (time.thread_time(), {thread.ident: _cpu(thread) for thread in _reader_threads()})


@task_postrun.connect
def _finished(task=None, **kwargs) -> None:
    started = getattr(_local, "started", None)
    if started is None or not _OUT:
        return
    own = time.thread_time() - started[0]
    # A reader thread made during the task counts from zero: all its CPU is this task's.
    own += sum(_cpu(thread) - started[1].get(thread.ident, 0.0) for thread in _reader_threads())
    with _lock, open(_OUT, "a") as out:
        out.write(f"{task.name if task else '?'} {own:.6f}\n")
