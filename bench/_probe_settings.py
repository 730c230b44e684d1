"""The service's settings, plus `bench/_worker_probe.py` imported by the worker (the benchmark's workers only)."""

from agent_platform.settings import *  # noqa: F403

CELERY_IMPORTS = ("_worker_probe",)
