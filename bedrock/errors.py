"""Bedrock's error types, and how they travel: the engine raises them, the emulator sends them.

Outside a stream an error is an HTTP status, an ``x-amzn-ErrorType`` header and
a JSON body ``{"message": ...}``; botocore maps the header to
``client.exceptions.<Name>``. Inside a ConverseStream response it is an event
with ``:message-type: exception`` and ``:exception-type: <camelCaseName>``.
"""

from __future__ import annotations

# name -> HTTP status, from botocore's bedrock-runtime service model.
STATUS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
    # The control plane's (botocore's bedrock model): creating a resource that exists.
    "ConflictException": 400,
}

# Exceptions ConverseStream can carry as stream events (members of ConverseStreamOutput).
STREAM_EXCEPTIONS = {
    "InternalServerException",
    "ModelStreamErrorException",
    "ValidationException",
    "ThrottlingException",
    "ServiceUnavailableException",
}

DEFAULT_MESSAGES = {
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ModelNotReadyException": "Model is not ready for inference. Wait and try your request again.",
    "ServiceUnavailableException": "Service is unavailable. Try your request again.",
    "InternalServerException": "The server encountered an internal error. Try your request again.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ModelStreamErrorException": "The model stream was interrupted. Try your request again.",
}

ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


class BedrockError(Exception):
    """An error as Bedrock returns it: a type name, its HTTP status and a message."""

    def __init__(self, name: str, message: str | None = None):
        if name not in STATUS:
            raise ValueError(f"unknown Bedrock error type: {name}")
        self.name = name
        self.status = STATUS[name]
        self.message = message or DEFAULT_MESSAGES.get(name, name)
        super().__init__(f"{name}: {self.message}")

    @property
    def stream_name(self) -> str:
        """The ``:exception-type`` of this error inside an event stream (``throttlingException``)."""
        return self.name[0].lower() + self.name[1:]


def validation(message: str) -> BedrockError:
    return BedrockError("ValidationException", message)
