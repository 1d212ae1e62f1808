"""Fault injection for reliability tests: failing requests, added latency, dropped watch streams.

Set through ``POST /sandbox/faults`` (a :class:`FaultRequest` JSON body) and cleared with
``DELETE /sandbox/faults``; tests in the same process may call the methods directly.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from .errors import ApiError

logger = logging.getLogger(__name__)


class ErrorFault(BaseModel):
    """Answer the next ``count`` matching requests with ``code`` (500 or 429)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    code: int = Field(500, description="HTTP status: 500 InternalError or 429 TooManyRequests")
    count: int = Field(1, ge=1)
    path_prefix: str = Field("", alias="pathPrefix", description="only requests whose path starts with this")
    verb: str = Field(
        "", description="only this Kubernetes verb: get, list, watch, create, update, patch, delete"
    )
    retry_after: int = Field(1, alias="retryAfter", ge=0, description="Retry-After seconds sent with 429")


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    errors: list[ErrorFault] = Field(default_factory=list)
    latency_seconds: float = Field(0.0, alias="latencySeconds", ge=0)
    latency_path_prefix: str = Field("", alias="latencyPathPrefix")
    drop_watches: bool = Field(False, alias="dropWatches", description="close every open watch stream now")
    compact_history: bool = Field(
        False, alias="compactHistory", description="forget watch history: older resourceVersions get 410 Gone"
    )


class Faults:
    """The faults currently armed; the server consults it on every API request."""

    def __init__(self) -> None:
        self.errors: list[ErrorFault] = []
        self.latency_seconds = 0.0
        self.latency_path_prefix = ""

    def arm(self, request: FaultRequest) -> None:
        self.errors.extend(request.errors)
        if request.latency_seconds or request.latency_path_prefix:
            self.latency_seconds = request.latency_seconds
            self.latency_path_prefix = request.latency_path_prefix
        logger.info(
            "faults armed errors=%d latency=%.3fs drop_watches=%s",
            len(self.errors),
            self.latency_seconds,
            request.drop_watches,
        )

    def clear(self) -> None:
        self.errors.clear()
        self.latency_seconds = 0.0
        self.latency_path_prefix = ""

    def latency_for(self, path: str) -> float:
        return self.latency_seconds if path.startswith(self.latency_path_prefix) else 0.0

    def check(self, verb: str, path: str) -> None:
        """Raise the armed error for this request, consuming one of its count."""
        for fault in self.errors:
            if path.startswith(fault.path_prefix) and (not fault.verb or fault.verb == verb):
                fault.count -= 1
                if fault.count <= 0:
                    self.errors.remove(fault)
                if fault.code == 429:
                    raise ApiError(
                        429,
                        "TooManyRequests",
                        "the server has received too many requests and has asked us to try again later",
                        retry_after=fault.retry_after,
                    )
                raise ApiError(
                    fault.code,
                    "InternalError",
                    "Internal error occurred: injected fault (sandbox fault injection)",
                )
