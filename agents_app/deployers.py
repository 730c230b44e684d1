"""Deployers: put a `Deployment`'s AGENT_CONFIG_JSON where agents run, and run turns there.

One small interface, plain functions keyed by `Deployment.backend`:

    deploy(deployment) -> DeployResult      push the config; raise to fail (see `is_retryable`)

and, for the invocation pipeline, `runs_in_agentcore(deployment)` and
`run_in_agentcore(deployment, prompt, ...) -> RunResult`.

`local` (DEPLOY_BACKEND=local, the embedded default): the database is the
runtime. Deploying only records the version; Celery workers build the agent
in-process from `Deployment.config` for every turn.

`agentcore`: one AgentCore Runtime per agent, named
`<AGENTCORE_RUNTIME_PREFIX>_t<tenant id>_a<agent id>`, found by that name on
every deploy (so a retried deploy never creates a second one). The first
deploy creates it, later ones update its environment with the new
AGENT_CONFIG_JSON; both then wait, polling `get_agent_runtime`, until it is
READY. Turns go through `bedrock-agentcore` `invoke_agent_runtime` to the
container entrypoint (`agents_app.runtime.agentcore_app`).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import ClientError
from django.conf import settings

from agents_app import inference_profiles
from agents_app.models import Deployment
from agents_app.runtime import agentcore
from agents_app.runtime.config import AgentConfig
from agents_app.runtime.run import RunResult

logger = logging.getLogger(__name__)

LOCAL = "local"
AGENTCORE = "agentcore"

RUNTIME_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$")
READY = "READY"
FAILED_STATES = {"CREATE_FAILED", "UPDATE_FAILED", "DELETING", "DELETE_FAILED"}
# Errors that waiting will not cure: a bad request, missing permissions.
PERMANENT_CODES = {"validationexception", "accessdeniedexception", "unrecognizedclientexception"}


@dataclass(frozen=True)
class DeployResult:
    runtime_arn: str = ""


class DeployError(Exception):
    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def deploy(deployment: Deployment) -> DeployResult:
    try:
        backend = DEPLOYERS[deployment.backend]
    except KeyError:
        raise DeployError(f"Unknown deploy backend {deployment.backend!r}.", retryable=False) from None
    # With BEDROCK_TENANT_INFERENCE_PROFILES, the config that ships names the tenant's profile (made once).
    inference_profiles.deployment_profile_apply(deployment)
    return backend(deployment)


def is_retryable(exc: BaseException) -> bool:
    """Every deploy failure is worth another try, except those waiting cannot cure."""
    if isinstance(exc, DeployError):
        return exc.retryable
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")).lower() not in PERMANENT_CODES
    return not isinstance(exc, agentcore.ConfigTooLarge)


def config_json(deployment: Deployment) -> str:
    return json.dumps(deployment.config, sort_keys=True, separators=(",", ":"))


# --- local ----------------------------------------------------------------------------------------


def deploy_local(deployment: Deployment) -> DeployResult:
    AgentConfig.from_json(deployment.config)  # the workers will parse it: refuse a config they could not run
    return DeployResult()


# --- agentcore ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _client(service: str, endpoint_url: str, region: str, read_timeout: int | None = None) -> Any:
    """One client per process and settings, shared by the worker's threads (clients are thread-safe).

    Built from a session of its own: boto3's default session is not safe to share between threads.
    """
    timeouts = {"read_timeout": read_timeout} if read_timeout else {}
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url or None,
        config=BotocoreConfig(retries={"max_attempts": 3, "mode": "standard"}, **timeouts),
    )


def control_client() -> Any:
    return _client("bedrock-agentcore-control", settings.AGENTCORE_CONTROL_ENDPOINT_URL, settings.AWS_REGION)


def runtime_client() -> Any:
    return _client(
        "bedrock-agentcore", settings.AGENTCORE_ENDPOINT_URL, settings.AWS_REGION, settings.INVOCATION_TIME_LIMIT
    )


def runtime_name(deployment: Deployment) -> str:
    name = f"{settings.AGENTCORE_RUNTIME_PREFIX}_t{deployment.tenant_id}_a{deployment.agent_id}"
    if not RUNTIME_NAME.match(name):
        raise DeployError(
            f"AgentCore runtime name {name!r} is not valid (a letter, then up to 47 letters, digits or _); "
            "shorten AGENTCORE_RUNTIME_PREFIX.",
            retryable=False,
        )
    return name


def find_runtime(client, name: str) -> dict | None:
    for page in client.get_paginator("list_agent_runtimes").paginate():
        for runtime in page.get("agentRuntimes", []):
            if runtime["agentRuntimeName"] == name:
                return runtime
    return None


def deploy_agentcore(deployment: Deployment) -> DeployResult:
    if not (settings.AGENTCORE_ROLE_ARN and settings.AGENTCORE_CONTAINER_URI):
        raise DeployError("AGENTCORE_ROLE_ARN and AGENTCORE_CONTAINER_URI must be set.", retryable=False)
    client = control_client()
    name = runtime_name(deployment)
    environment = agentcore.config_environment(config_json(deployment))
    spec = {
        "agentRuntimeArtifact": {"containerConfiguration": {"containerUri": settings.AGENTCORE_CONTAINER_URI}},
        "roleArn": settings.AGENTCORE_ROLE_ARN,
        "networkConfiguration": {"networkMode": settings.AGENTCORE_NETWORK_MODE},
        "protocolConfiguration": {"serverProtocol": "HTTP"},
        "environmentVariables": environment,
        "description": f"Agent {deployment.agent_id} of tenant {deployment.tenant_id}, version {deployment.version}",
    }
    existing = find_runtime(client, name)
    if existing is None:
        created = client.create_agent_runtime(agentRuntimeName=name, **spec)
        runtime_id = created["agentRuntimeId"]
        logger.info("deployment %s: created AgentCore runtime %s (%s)", deployment.pk, name, runtime_id)
    else:
        runtime_id = existing["agentRuntimeId"]
        current = client.get_agent_runtime(agentRuntimeId=runtime_id)
        # A retry after an update that went through only has to wait for it.
        if current.get("environmentVariables") != environment:
            client.update_agent_runtime(agentRuntimeId=runtime_id, **spec)
            logger.info("deployment %s: updated AgentCore runtime %s (%s)", deployment.pk, name, runtime_id)
    runtime = wait_until_ready(client, runtime_id)
    return DeployResult(runtime_arn=runtime["agentRuntimeArn"])


def wait_until_ready(client, runtime_id: str) -> dict:
    deadline = time.monotonic() + settings.AGENTCORE_READY_TIMEOUT
    while True:
        runtime = client.get_agent_runtime(agentRuntimeId=runtime_id)
        status = runtime.get("status")
        if status == READY:
            return runtime
        if status in FAILED_STATES:
            reason = runtime.get("failureReason") or "no reason given"
            raise DeployError(f"AgentCore runtime {runtime_id} is {status}: {reason}", retryable=False)
        if time.monotonic() >= deadline:
            raise DeployError(
                f"AgentCore runtime {runtime_id} is still {status} after {settings.AGENTCORE_READY_TIMEOUT} s.",
                retryable=True,
            )
        time.sleep(settings.AGENTCORE_POLL_INTERVAL)


DEPLOYERS = {LOCAL: deploy_local, AGENTCORE: deploy_agentcore}


# --- Running a turn in AgentCore ----------------------------------------------------------------


def runs_in_agentcore(deployment: Deployment | None) -> bool:
    """Whether turns with this deployment go to AgentCore (else the worker runs them in-process)."""
    return deployment is not None and deployment.backend == AGENTCORE


def run_in_agentcore(deployment: Deployment, prompt: str, *, messages: list, session_key: str) -> RunResult:
    """One turn in the deployment's AgentCore runtime, as the `RunResult` a local run gives.

    `session_key` names the conversation (the AgentCore runtime session id is derived from it).
    Errors propagate; `agents_app.runtime.is_retryable` reads them like a local run's.
    """
    result, ran_version = agentcore.invoke_agent_runtime(
        runtime_arn=deployment.runtime_arn,
        prompt=prompt,
        messages=messages,
        session_id=agentcore.runtime_session_id(deployment.agent_id, session_key),
        qualifier=settings.AGENTCORE_QUALIFIER,
        client=runtime_client(),
    )
    if ran_version != deployment.version:
        result.warnings.append(
            f"AgentCore ran config version {ran_version} while version {deployment.version} is the deployed one."
        )
    return result
