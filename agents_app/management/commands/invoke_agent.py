import json
import time

from django.core.management.base import BaseCommand, CommandError

from agent_platform.errors import ApplicationError
from agents_app.models import Agent, Invocation
from agents_app.serializers import InvocationOutputSerializer
from agents_app.services import invocations as invocation_services


class Command(BaseCommand):
    help = "Queue an invocation of an agent (a Celery worker runs it) and print it as JSON."

    def add_arguments(self, parser):
        parser.add_argument("agent_id", type=int)
        parser.add_argument("prompt")
        parser.add_argument("--session", dest="session_id", help="Continue this session (default: a new one).")
        parser.add_argument("--wait", action="store_true", help="Wait until it has finished, then print it.")
        parser.add_argument("--timeout", type=float, default=300, help="Seconds --wait waits (default 300).")

    def handle(self, *args, agent_id, prompt, session_id, wait, timeout, **options):
        try:
            agent = Agent.objects.select_related("model").get(pk=agent_id)
        except Agent.DoesNotExist:
            raise CommandError(f"No agent with id {agent_id}.") from None
        try:
            invocation = invocation_services.invocation_create(agent=agent, prompt=prompt, session_id=session_id)
        except ApplicationError as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from None
        if wait:
            invocation = self._wait(invocation, timeout)
        self.stdout.write(json.dumps(InvocationOutputSerializer(invocation).data, indent=2))
        if invocation.status == Invocation.Status.FAILED:
            raise CommandError(f"Invocation {invocation.pk} failed: {invocation.error}")

    def _wait(self, invocation, timeout):
        deadline = time.monotonic() + timeout
        while invocation.status not in (Invocation.Status.SUCCEEDED, Invocation.Status.FAILED):
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Invocation {invocation.pk} is still {invocation.status} after {timeout:.0f} s; "
                    "is a Celery worker running?"
                )
            time.sleep(0.2)
            invocation.refresh_from_db()
        return invocation
