"""Failures a caller can act on, each with the HTTP status the server answers with."""

from __future__ import annotations

from collections.abc import Callable

Checkpoint = Callable[[], None]
"""Called by the engine between tokens; raises Cancelled or TimedOut to abandon the work."""


class InferenceError(Exception):
    status = 500
    code = "internal"


class InvalidRequest(InferenceError):
    """The request itself is wrong (bad schema, prompt too long for the context)."""

    status = 400
    code = "invalid_request"


class Unprocessable(InferenceError):
    """The model's answer is truncated or does not validate; never returned as a success."""

    status = 422
    code = "unprocessable"


class InvalidOutput(Unprocessable):
    """Complete JSON that does not validate against its schema; the validation-failure metric counts these."""


class QueueFull(InferenceError):
    status = 429
    code = "queue_full"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"the queue is full; retry in {retry_after_s}s")
        self.retry_after_s = retry_after_s


class NotReady(InferenceError):
    status = 503
    code = "not_ready"


class TimedOut(InferenceError):
    status = 504
    code = "timeout"


class Cancelled(InferenceError):
    """The caller went away; its work was dropped."""

    status = 499
    code = "cancelled"
