"""The one application error type, and how the API reports it."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions


class ApplicationError(Exception):
    """A request the service refuses for a reason the caller can fix.

    `field` names the input that was wrong (`model_id`, `agents[2].max_tokens`),
    so the API can answer `{"field": ["message"]}` like DRF's own validation.
    """

    def __init__(self, message: str, field: str = "non_field_errors", *, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.errors = {field: [message]}

    @classmethod
    def from_errors(cls, errors: dict[str, list[str]]) -> "ApplicationError":
        """Several fields at once (an import reports every bad agent, not only the first)."""
        field, messages = next(iter(errors.items()))
        error = cls(messages[0], field)
        error.errors = errors
        return error


class RequestTooLarge(exceptions.APIException):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE: the documented 413, in the API's JSON error shape."""

    status_code = 413
    default_code = "request_too_large"

    def __init__(self):
        super().__init__(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")


def api_exception_handler(exc, context):
    # Imported here: DRF's views module loads the parser classes of the settings, and the parser imports this one.
    from rest_framework.views import exception_handler

    if isinstance(exc, RequestDataTooBig):  # Django's form parsing refuses it with an HTML 400 otherwise
        exc = RequestTooLarge()
    if isinstance(exc, ApplicationError):
        status = exc.status
        exc = exceptions.ValidationError(exc.errors)
        exc.status_code = status
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    return exception_handler(exc, context)
