"""The HTTP face of the sandbox: Kubernetes REST paths over the Store, served with aiohttp.

cluster.py (`Sandbox`) and the API tests build the application here. This module only assembles it:
the error and fault middleware, the access middleware (authentication and RBAC, routes/authorization.py),
and the routes of each concern from the routes/ modules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from .authn import Authenticator
from .authz import Authorizer
from .errors import ApiError, method_not_allowed
from .faults import Faults
from .logs import PodLogs
from .routes.authorization import ReviewRoutes, access_middleware
from .routes.discovery import DiscoveryRoutes
from .routes.faults import fault_routes
from .routes.resources import ResourceRoutes
from .routes.rest import json_response, unknown_path
from .routes.subresources import SubresourceRoutes
from .routes.watch import WatchRoutes
from .store import Store

logger = logging.getLogger(__name__)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(request: web.Request, error: ApiError) -> web.Response:
    """An ApiError as the Status document (and Retry-After) clients expect."""
    if error.code >= 500 or error.code == 429:
        logger.info("api error code=%s method=%s path=%s", error.code, request.method, request.path)
    response = json_response(error.status(), error.code)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _middleware(faults: Faults) -> Callable[[web.Request, _Handler], Awaitable[web.StreamResponse]]:
    """Armed latency before every API request; every failure answered as a Kubernetes Status."""

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            if not request.path.startswith("/sandbox/"):
                delay = faults.latency_for(request.path)
                if delay:
                    await asyncio.sleep(delay)
            return await handler(request)
        except ApiError as error:
            return _error(request, error)
        except web.HTTPNotFound:
            return _error(request, unknown_path())
        except web.HTTPMethodNotAllowed:
            return _error(
                request,
                method_not_allowed(
                    f"the server does not allow this method on the requested resource ({request.method})"
                ),
            )
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:
            logger.exception("unhandled error method=%s path=%s", request.method, request.path)
            return _error(request, ApiError(500, "InternalError", f"Internal error occurred: {exc}"))

    return middleware


def build_app(
    store: Store,
    logs: PodLogs,
    faults: Faults,
    *,
    bookmark_interval: float = 10.0,
    authenticator: Authenticator | None = None,
) -> web.Application:
    """The API server application; ``bookmark_interval`` is how often quiet watches get BOOKMARKs.

    ``authenticator`` holds the users' tokens (by default only the administrator's).
    """
    authorizer = Authorizer(store)
    middlewares = [_middleware(faults), access_middleware(authenticator or Authenticator(), authorizer)]
    app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=middlewares)
    resources = ResourceRoutes(
        store, faults, WatchRoutes(store, bookmark_interval), SubresourceRoutes(store, logs)
    )
    app.add_routes(DiscoveryRoutes(store, faults).routes())
    app.add_routes(ReviewRoutes(store, authorizer).routes())
    app.add_routes(fault_routes(store, faults))
    app.add_routes(resources.routes())
    return app
