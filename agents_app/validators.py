"""Checks of what callers send, shared by every door.

The API's serializers, the admin's pages and the management commands call the
same functions before they call a service, so an input is refused in the same
words whichever way it came in. The messages are DRF's where DRF has one.
"""

from __future__ import annotations

import re

from django.conf import settings

from agent_platform.errors import ApplicationError

SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
SESSION_ID_MESSAGE = "session_id must be 1-100 letters, digits or . _ : -"


def text_check(value: str, field: str) -> None:
    """Text a database can store: PostgreSQL refuses NUL, and no encoder takes a lone surrogate."""
    if "\x00" in value:
        raise ApplicationError("Null characters are not allowed.", field)
    if surrogate := next((char for char in value if 0xD800 <= ord(char) <= 0xDFFF), None):
        raise ApplicationError(f"Surrogate characters are not allowed: U+{ord(surrogate):X}.", field)


def prompt_check(prompt) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApplicationError("prompt must not be blank.", "prompt")
    if len(prompt) > settings.MAX_PROMPT_CHARS:
        raise ApplicationError(f"prompt is longer than {settings.MAX_PROMPT_CHARS} characters.", "prompt")
    text_check(prompt, "prompt")


def session_id_check(session_id: str | None) -> None:
    """None asks for a new session; anything else must be a session id."""
    if session_id is not None and not (isinstance(session_id, str) and SESSION_ID.match(session_id)):
        raise ApplicationError(SESSION_ID_MESSAGE, "session_id")


def invocation_input_check(*, prompt, session_id: str | None = None) -> None:
    """What `invocation_create` takes: a prompt and, to continue a session, its id."""
    prompt_check(prompt)
    session_id_check(session_id)
