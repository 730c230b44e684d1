"""Loopback stand-ins for AWS Bedrock AgentCore, for the deployment and entrypoint tests.

- Control plane: moto's own server (`moto.server.ThreadedMotoServer`), a real
  HTTP endpoint for boto3's `bedrock-agentcore-control`. moto 5.2.5 implements
  create/get/update/list_agent_runtimes with their environment variables, but
  models an update as `UPDATING` forever (its state transitions list only
  CREATING -> READY), where AgentCore moves UPDATING -> READY. `moto_agentcore`
  adds that one transition, in this process, and nothing else.
- Data plane: moto 5.2.5 does not implement `InvokeAgentRuntime` (it raises
  NotImplementedError). `AgentCoreDataPlane` stands in for it: an ASGI app that
  takes boto3's `POST /runtimes/{arn}/invocations`, looks the runtime up on
  the moto server, gives the real container entrypoint
  (`agents_app.runtime.agentcore_app`) that runtime's environment, and passes
  the request on as `POST /invocations`, as AgentCore does with a container.
  One process stands for every container, so the environment is swapped per
  request: fine for tests that invoke one at a time.
- `serve_asgi` runs an ASGI app under uvicorn on a free loopback port.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from contextlib import contextmanager
from urllib.parse import unquote

import boto3
import uvicorn
from moto.bedrockagentcorecontrol.models import AgentRuntime
from moto.server import ThreadedMotoServer
from starlette.concurrency import run_in_threadpool

from agents_app.runtime.agentcore import CONFIG_ENV

RUNTIME_STATE_MODEL = "bedrock-agentcore-control::agent_runtime"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/agentcore-runtime"
CONTAINER_URI = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/agent-platform-runtime:test"


class MotoAgentCore:
    def __init__(self, url: str):
        self.url = url

    def control(self):
        return boto3.client("bedrock-agentcore-control", endpoint_url=self.url, region_name="us-east-1")

    def runtimes(self) -> list[dict]:
        return self.control().list_agent_runtimes()["agentRuntimes"]

    def runtime(self, name: str) -> dict:
        (summary,) = [r for r in self.runtimes() if r["agentRuntimeName"] == name]
        return self.control().get_agent_runtime(agentRuntimeId=summary["agentRuntimeId"])

    def _moto_api(self, path: str, body: dict | None = None) -> None:
        import urllib.request

        data = json.dumps(body or {}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/{path}", data=data, method="POST"))

    def reset(self) -> None:
        self._moto_api("reset")

    def transitions(self, *, times: int) -> None:
        """Make a runtime need `times` get_agent_runtime calls before it is READY (moto's manual progression)."""
        self._moto_api(
            "state-manager/set-transition",
            {"model_name": RUNTIME_STATE_MODEL, "transition": {"progression": "manual", "times": times}},
        )

    def immediate(self) -> None:
        self._moto_api("state-manager/unset-transition", {"model_name": RUNTIME_STATE_MODEL})


@contextmanager
def moto_agentcore():
    original_init = AgentRuntime.__init__

    def init_with_update_transition(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._transitions = [*self._transitions, ("UPDATING", "READY")]

    AgentRuntime.__init__ = init_with_update_transition
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto = MotoAgentCore(f"http://{host}:{port}")
    moto.reset()
    try:
        yield moto
    finally:
        moto.immediate()
        moto.reset()
        server.stop()
        AgentRuntime.__init__ = original_init


class AgentCoreDataPlane:
    """`POST /runtimes/{arn}/invocations` -> the container app's `POST /invocations`, with the runtime's environment."""

    PATH = re.compile(r"^/runtimes/(?P<arn>.+)/invocations/?$")

    def __init__(self, container_app, moto: MotoAgentCore):
        self.container_app = container_app
        self.moto = moto
        self.invoked: list[str] = []

    def environment(self, arn: str) -> dict | None:
        def unversioned(value: str) -> str:  # moto's runtime ARNs end in ":<runtime version>"
            return value.rsplit(":", 1)[0]

        for summary in self.moto.runtimes():
            if unversioned(summary["agentRuntimeArn"]) == unversioned(arn):
                runtime = self.moto.control().get_agent_runtime(agentRuntimeId=summary["agentRuntimeId"])
                return runtime.get("environmentVariables", {})
        return None

    async def __call__(self, scope, receive, send):
        match = self.PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.container_app(scope, receive, send)
            return
        arn = unquote(match["arn"])
        environment = await run_in_threadpool(self.environment, arn)
        if environment is None:
            body = json.dumps({"message": f"No agent runtime {arn}"}).encode()
            headers = [(b"content-type", b"application/json"), (b"x-amzn-errortype", b"ResourceNotFoundException")]
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        for name in [n for n in os.environ if n.startswith(CONFIG_ENV)]:
            del os.environ[name]
        os.environ.update(environment)
        self.invoked.append(arn)
        await self.container_app(dict(scope, path="/invocations", raw_path=b"/invocations"), receive, send)


@contextmanager
def serve_asgi(app):
    """Run `app` under uvicorn on a free loopback port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def config_environment_restored():
    """Put back the AGENT_CONFIG_JSON* variables as they were (the data plane swaps them per request)."""
    saved = {name: value for name, value in os.environ.items() if name.startswith(CONFIG_ENV)}
    try:
        yield
    finally:
        for name in [n for n in os.environ if n.startswith(CONFIG_ENV)]:
            del os.environ[name]
        os.environ.update(saved)
