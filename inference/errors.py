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


class Unavailable(InferenceError):
    """No usable answer, through no fault of the request: the sidecar cannot be reached, says nothing
    within the client's read timeout, or fails (a 5xx). Worth retrying later, unlike the errors above,
    which would come back the same; `reason` names the case as a Kubernetes condition reason."""

    status = 503
    code = "unavailable"
    reason = "SidecarUnreachable"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class QueueFull(Unavailable):
    status = 429
    code = "queue_full"
    reason = "SidecarBusy"

    def __init__(self, retry_after_s: int, message: str | None = None) -> None:
        super().__init__(message or f"the queue is full; retry in {retry_after_s}s")
        self.retry_after_s = retry_after_s


class NotReady(Unavailable):
    status = 503
    code = "not_ready"
    reason = "SidecarNotReady"


class TimedOut(InferenceError):
    """The request's own `timeout_s` passed at the sidecar: it answered, late. Not `Unavailable`: asking
    again with the same budget would end the same way."""

    status = 504
    code = "timeout"


class Cancelled(InferenceError):
    """The caller went away; its work was dropped."""

    status = 499
    code = "cancelled"
