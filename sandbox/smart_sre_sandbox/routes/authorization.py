"""Who may do what: the access middleware in front of every API request, and the review endpoints.

server.py installs `access_middleware` (inside the error middleware, so its 401 and 403 are Status
bodies) and mounts `ReviewRoutes` before the resource routes. The middleware authenticates the
request (authn.py), authorizes what its URL asks (authz.py) and leaves the user on the request for
the resource routes, which hand it to the store's admission policies. The sandbox-only
``/sandbox/...`` endpoints are outside the API and skip both.

The reviews answer with the authorizer the middleware uses, so what ``kubectl auth can-i`` and a
SubjectAccessReview say is what a request by that user would meet:

- POST /apis/authorization.k8s.io/v1/subjectaccessreviews: may ``spec.user`` (in ``spec.groups``)
  do ``spec.resourceAttributes`` or ``spec.nonResourceAttributes``; the caller needs ``create`` on
  subjectaccessreviews.
- POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: the same for the caller itself
  (``kubectl auth can-i``).
- POST /apis/authentication.k8s.io/v1/selfsubjectreviews: who the caller is (``kubectl auth whoami``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..authn import Authenticator, UserInfo
from ..authz import Attributes, Authorizer, Decision, forbidden, request_attributes
from ..errors import bad_request, invalid, invalid_value
from ..resources import ResourceType
from ..store import Store
from .rest import json_response, read_body

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Middleware = Callable[[web.Request, _Handler], Awaitable[web.StreamResponse]]
_USER = web.RequestKey("user", UserInfo)  # where the middleware leaves the requester for the routes


def access_middleware(authenticator: Authenticator, authorizer: Authorizer) -> _Middleware:
    """Authenticate, then authorize, every API request; 401 and 403 as the real API server words them."""

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path.startswith("/sandbox/"):
            return await handler(request)
        user = authenticator.authenticate(request.headers.get("Authorization"), secure=request.secure)
        attributes = request_attributes(user, request.method, request.path, request.query)
        decision = authorizer.authorize(attributes)
        if not decision.allowed:
            raise forbidden(attributes, decision.reason)
        request[_USER] = user
        return await handler(request)

    return middleware


def requester(request: web.Request) -> UserInfo:
    """The authenticated user of an API request, as the access middleware left it."""
    return request[_USER]


def _attributes(spec: dict, user: UserInfo) -> Attributes:
    """A review's resourceAttributes or nonResourceAttributes as the attributes of a request."""
    resource = spec.get("resourceAttributes")
    if resource is None:
        other = spec.get("nonResourceAttributes") or {}
        return Attributes(user, other.get("verb", ""), resource_request=False, path=other.get("path", ""))
    return Attributes(
        user,
        resource.get("verb", ""),
        resource_request=True,
        group=resource.get("group", ""),
        version=resource.get("version", ""),
        resource=resource.get("resource", ""),
        subresource=resource.get("subresource", ""),
        namespace=resource.get("namespace", ""),
        name=resource.get("name", ""),
    )


def _attribute_causes(spec: dict) -> list[dict]:
    """ValidateSelfSubjectAccessReviewSpec: exactly one of the two kinds of attributes."""
    if spec.get("resourceAttributes") is not None and spec.get("nonResourceAttributes") is not None:
        return [
            invalid_value(
                "spec.nonResourceAttributes",
                spec["nonResourceAttributes"],
                "cannot be specified in combination with resourceAttributes",
            )
        ]
    if spec.get("resourceAttributes") is None and spec.get("nonResourceAttributes") is None:
        return [
            invalid_value(
                "spec.resourceAttributes",
                "null",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        ]
    return []


def _status(decision: Decision) -> dict[str, Any]:
    """SubjectAccessReviewStatus: ``allowed``, and ``reason`` when the authorizer gave one."""
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


class ReviewRoutes:
    """The create-only review resources of authorization.k8s.io and authentication.k8s.io."""

    def __init__(self, store: Store, authorizer: Authorizer) -> None:
        self.store = store
        self.authorizer = authorizer

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", self.subject_access_review),
            web.post(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self.self_subject_access_review
            ),
            web.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", self.self_subject_review),
        ]

    async def _spec(self, request: web.Request, rt: ResourceType) -> dict:
        body = await read_body(request)
        if not isinstance(body, dict):
            raise bad_request(
                f"the body of the request was in an unknown format: expected a {rt.kind} object"
            )
        spec = body.get("spec")
        return spec if isinstance(spec, dict) else {}

    def _reviewed(self, rt: ResourceType, **fields: dict[str, Any]) -> web.Response:
        """The review echoed back with its status, 201 Created (nothing is stored)."""
        header = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {"creationTimestamp": None}}
        return json_response({**header, **fields}, 201)

    async def subject_access_review(self, request: web.Request) -> web.Response:
        rt = self.store.resource("subjectaccessreviews", "authorization.k8s.io")
        spec = await self._spec(request, rt)
        causes = _attribute_causes(spec)
        if not spec.get("user") and not spec.get("groups"):
            causes.append(
                invalid_value(
                    "spec.user", spec.get("user", ""), "at least one of user or group must be specified"
                )
            )
        if causes:
            raise invalid(rt, "", causes)
        subject = UserInfo(
            spec.get("user", ""),
            uid=spec.get("uid", ""),
            groups=tuple(spec.get("groups") or ()),
            extra={key: tuple(values) for key, values in (spec.get("extra") or {}).items()},
        )
        decision = self.authorizer.authorize(_attributes(spec, subject))
        return self._reviewed(rt, spec=spec, status=_status(decision))

    async def self_subject_access_review(self, request: web.Request) -> web.Response:
        rt = self.store.resource("selfsubjectaccessreviews", "authorization.k8s.io")
        spec = await self._spec(request, rt)
        if causes := _attribute_causes(spec):
            raise invalid(rt, "", causes)
        decision = self.authorizer.authorize(_attributes(spec, requester(request)))
        return self._reviewed(rt, spec=spec, status=_status(decision))

    async def self_subject_review(self, request: web.Request) -> web.Response:
        rt = self.store.resource("selfsubjectreviews", "authentication.k8s.io")
        await read_body(request)
        return self._reviewed(rt, status={"userInfo": requester(request).document()})
