"""Turn AGENT_CONFIG_JSON into a running, caching-aware Strands agent.

No Django here: the Celery workers and the AgentCore container entrypoint both
use this package alone, with the Django-free `bedrock` library for Bedrock's
field names and limits. Public API:

    AgentConfig.from_json(data) -> AgentConfig        (raises ConfigError)
    checkpoint_plan(config, has_tools) -> dict
    build_agent(config, *, messages=None, tools=None, callback_handler=None,
                boto_client_config=None, retry_strategy=None) -> BuiltAgent
    run_agent(config, prompt, *, messages=None, ..., timeout=None) -> RunResult   (and run_agent_async)
    bedrock_client(boto_client_config=None) -> the process's shared bedrock-runtime client
    retries_recorded() -> context manager: the retries botocore made inside it
    strip_cache_points(messages) -> list
    is_retryable(exc) -> bool;  ModelCallTimeout (a turn cancelled at its time limit)
"""

from .build import BuiltAgent, build_agent
from .checkpoints import checkpoint_plan, strip_cache_points
from .clients import bedrock_client, retries_recorded
from .config import AgentConfig, ConfigError, Integration, ModelCapabilities
from .errors import ModelCallTimeout, is_retryable
from .run import RunResult, run_agent, run_agent_async

__all__ = [
    "AgentConfig",
    "BuiltAgent",
    "ConfigError",
    "Integration",
    "ModelCallTimeout",
    "ModelCapabilities",
    "RunResult",
    "bedrock_client",
    "build_agent",
    "checkpoint_plan",
    "is_retryable",
    "run_agent",
    "run_agent_async",
    "retries_recorded",
    "strip_cache_points",
]
