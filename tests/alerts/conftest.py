"""A real HTTP receiver for webhooks (a thread running http.server), and helpers that build traffic through the
real invocation path (Strands, boto3, the emulator) and move it back in time."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

import pytest
from django.db.models import F

from agent_platform.models import Role
from agent_platform.services import member_ensure
from agent_platform.tenancy import KeyPrincipal
from agents_app.models import AgentSession, Deployment, Invocation
from agents_app.services import invocations as invocation_services
from alerts.models import Webhook


class Receiver:
    """Records every POST; answers the statuses queued in `answers` first, then 200."""

    def __init__(self):
        self.received: list[dict] = []
        self.answers: list[int] = []
        self.always: int | None = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.always or (receiver.answers.pop(0) if receiver.answers else 200)
                receiver.received.append({"path": self.path, "status": status, "body": body})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")  # what Slack answers

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    @property
    def delivered(self) -> list[dict]:
        """The requests it accepted, their JSON bodies."""
        return [json.loads(r["body"]) for r in self.received if r["status"] == 200]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def alerting(settings, eager, mailoutbox):
    """Deliveries retried at once, mail in memory."""
    settings.ALERT_DELIVERY_RETRY_BACKOFF = 0
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 4
    return mailoutbox


@pytest.fixture
def tenant_admin(tenant):
    return member_ensure(
        tenant=tenant, username="ada", password="pw-ada-12345", role=Role.ADMIN, email="ada@acme.test"
    ).user


def json_webhook(tenant, receiver, name="ops", secret="s3cr3t-token-abcdef") -> Webhook:
    return Webhook.objects.create(tenant=tenant, name=name, kind="json", url=f"{receiver.base}/hooks/{secret}")


def invoke(agent, prompt="Hello there", session_id=None, key=None) -> Invocation:
    actor = KeyPrincipal(tenant=agent.tenant, role=Role.ADMIN, key_prefix=key.prefix, key_id=key.pk) if key else None
    invocation = invocation_services.invocation_create(agent=agent, prompt=prompt, session_id=session_id, actor=actor)
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    assert invocation.status == "succeeded", invocation.error
    return invocation


def age(*, hours: float = 0, days: float = 0) -> None:
    """Everything stored so far happened this much earlier (the emulator's cache is left as it is)."""
    back = dt.timedelta(hours=hours, days=days)
    Invocation.objects.update(
        **{name: F(name) - back for name in ("queued_at", "enqueued_at", "started_at", "finished_at")}
    )
    AgentSession.objects.filter(last_invoked_at__isnull=False).update(last_invoked_at=F("last_invoked_at") - back)
    Deployment.objects.filter(finished_at__isnull=False).update(finished_at=F("finished_at") - back)
