"""Which failures of a model call are worth retrying.

`run_agent` lets botocore and Strands exceptions propagate unchanged; the
caller (a Celery task) asks `is_retryable` whether to try again.

What reaches the caller, per Strands 1.62:
- `ThrottlingException` from `ConverseStream` becomes
  `strands.types.exceptions.ModelThrottledException` (`BedrockModel._stream`).
- Context-window overflow becomes `ContextWindowOverflowException`.
- Every other `ClientError` is re-raised as is; an error event inside the
  stream arrives as botocore's `EventStreamError` (a `ClientError` whose code
  starts lower-case, e.g. `modelStreamErrorException`).
- Errors raised inside an event-loop cycle may be wrapped in
  `EventLoopException`, which keeps the original as `__cause__`.

`ModelCallTimeout` is this package's own: a turn that outlived its time limit
and was cancelled. It is retried, like Bedrock's own `ModelTimeoutException`.
"""

from __future__ import annotations

from botocore import exceptions as botocore_exceptions
from botocore.exceptions import ClientError
from strands.types.exceptions import (
    ContextWindowOverflowException,
    EventLoopException,
    MaxTokensReachedException,
    ModelThrottledException,
)


class ModelCallTimeout(TimeoutError):
    """The turn ran longer than its time limit and was cancelled."""

    def __init__(self, seconds: float, model_calls: int = 0):
        self.seconds = seconds
        super().__init__(
            f"the turn was cancelled after its time limit of {seconds:g} s ({model_calls} model calls had finished)"
        )


# Bedrock Runtime error codes (lower-cased: the stream spells them `throttlingException`).
RETRYABLE_CODES = {
    "throttlingexception",
    "toomanyrequestsexception",
    "servicequotaexceededexception",
    "modelnotreadyexception",
    "serviceunavailableexception",
    "internalserverexception",
    "internalfailure",
    "modeltimeoutexception",
    "modelstreamerrorexception",
    "requesttimeout",
    "requesttimeoutexception",
}
NOT_RETRYABLE_CODES = {
    "validationexception",
    "accessdeniedexception",
    "unrecognizedclientexception",
    "resourcenotfoundexception",
    "modelerrorexception",
}

# EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError, and the
# standard library's own socket-level failures.
_CONNECTION_ERRORS = (
    botocore_exceptions.ConnectionError,
    botocore_exceptions.HTTPClientError,
    ConnectionError,
    TimeoutError,
)


def _causes(exc: BaseException):
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, EventLoopException):
            current = current.original_exception
        else:
            current = current.__cause__ or current.__context__


def is_retryable(exc: BaseException) -> bool:
    """True for throttling, a model not ready yet, 5xx and connection failures; False for bad requests."""
    for cause in _causes(exc):
        if isinstance(cause, ModelThrottledException):
            return True
        if isinstance(cause, ContextWindowOverflowException | MaxTokensReachedException):
            return False
        if isinstance(cause, ClientError):
            code = str(cause.response.get("Error", {}).get("Code", "")).lower()
            if code in RETRYABLE_CODES:
                return True
            if code in NOT_RETRYABLE_CODES:
                return False
            status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return status == 429 or status >= 500
        if isinstance(cause, _CONNECTION_ERRORS):
            return True
    return False
