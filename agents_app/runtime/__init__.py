"""Turn AGENT_CONFIG_JSON into a running, caching-aware Strands agent.

No Django here: the Celery workers and the AgentCore container entrypoint both
use this package alone, with the Django-free `bedrock` library for Bedrock's
field names and limits. Public API:

    AgentConfig.from_json(data) -> AgentConfig        (raises ConfigError)
    checkpoint_plan(config, has_tools) -> dict
    build_agent(config, *, messages=None, tools=None, callback_handler=None,
                boto_client_config=None, retry_strategy=None) -> BuiltAgent
    run_agent(config, prompt, *, messages=None, ...) -> RunResult   (and run_agent_async)
    strip_cache_points(messages) -> list
    is_retryable(exc) -> bool
"""

from .build import BuiltAgent, build_agent
from .checkpoints import checkpoint_plan, strip_cache_points
from .config import AgentConfig, ConfigError, Integration, ModelCapabilities
from .errors import is_retryable
from .run import RunResult, run_agent, run_agent_async

__all__ = [
    "AgentConfig",
    "BuiltAgent",
    "ConfigError",
    "Integration",
    "ModelCapabilities",
    "RunResult",
    "build_agent",
    "checkpoint_plan",
    "is_retryable",
    "run_agent",
    "run_agent_async",
    "strip_cache_points",
]
