# The package is `agent_platform`, not `platform`: a top-level `platform`
# package would shadow the standard library module that `uuid` imports.
from agent_platform.celery import app as celery_app

__all__ = ("celery_app",)
