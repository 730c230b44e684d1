"""The one error the services raise to their Celery tasks rather than to a caller."""


class RetryLater(Exception):
    """The work cannot be done now; the task should run again after `countdown` seconds."""

    def __init__(self, *, countdown: float, reason: str):
        super().__init__(reason)
        self.countdown = countdown
