"""The fault-injection routes, ``POST`` and ``DELETE /sandbox/faults``: how reliability tests arm faults.

server.py mounts them; armed faults then apply to every API request (see faults.py).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from ..errors import bad_request
from ..faults import FaultRequest, Faults
from ..store import Store
from .rest import json_response, read_body


def fault_routes(store: Store, faults: Faults) -> list[web.RouteDef]:
    """Arm faults (and drop watches or compact history at once), or clear them."""

    async def set_faults(request: web.Request) -> web.Response:
        try:
            fault = FaultRequest.model_validate(await read_body(request) or {})
        except ValidationError as exc:
            raise bad_request(f"invalid fault request: {exc}") from None
        faults.arm(fault)
        if fault.compact_history:
            store.compact()
        dropped = store.close_watches() if fault.drop_watches else 0
        return json_response({"armedErrors": len(faults.errors), "droppedWatches": dropped})

    async def clear_faults(request: web.Request) -> web.Response:
        faults.clear()
        return json_response({"armedErrors": 0})

    return [web.post("/sandbox/faults", set_faults), web.delete("/sandbox/faults", clear_faults)]
