import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, EventStreamError, ReadTimeoutError
from strands.types.exceptions import ContextWindowOverflowException, EventLoopException, ModelThrottledException

from agents_app.runtime import is_retryable


def client_error(code: str, status: int, cls=ClientError) -> ClientError:
    response = {"Error": {"Code": code, "Message": "..."}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return cls(response, "ConverseStream")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ModelThrottledException("slow down"), True),
        (client_error("ThrottlingException", 429), True),
        (client_error("ModelNotReadyException", 429), True),
        (client_error("ServiceUnavailableException", 503), True),
        (client_error("InternalServerException", 500), True),
        (client_error("ModelTimeoutException", 408), True),
        (client_error("SomethingNew", 502), True),
        (client_error("SomethingNew", 429), True),
        (client_error("modelStreamErrorException", 200, EventStreamError), True),
        (client_error("throttlingException", 200, EventStreamError), True),
        (client_error("internalServerException", 200, EventStreamError), True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (ConnectionResetError(), True),
        (client_error("ValidationException", 400), False),
        (client_error("validationException", 200, EventStreamError), False),
        (client_error("AccessDeniedException", 403), False),
        (client_error("ResourceNotFoundException", 404), False),
        (client_error("SomethingNew", 400), False),
        (ContextWindowOverflowException("too long"), False),
        (ValueError("bug"), False),
    ],
)
def test_is_retryable(exc, expected):
    assert is_retryable(exc) is expected


def wrapped(inner: BaseException) -> EventLoopException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise EventLoopException(exc) from exc
    except EventLoopException as outer:
        return outer


def test_looks_through_strands_wrappers():
    assert is_retryable(wrapped(client_error("ServiceUnavailableException", 503))) is True
    assert is_retryable(wrapped(ModelThrottledException("x"))) is True
    assert is_retryable(wrapped(client_error("ValidationException", 400))) is False
    assert is_retryable(EventLoopException(ValueError("bug"))) is False
