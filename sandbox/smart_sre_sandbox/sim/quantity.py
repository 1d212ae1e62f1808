"""Resource quantities for the simulation: parsed by the kubernetes client's own parser, so the sandbox
shares no code with the product it tests; written back the way the kubelet reports node capacity."""

from __future__ import annotations

import math
from decimal import Decimal

from kubernetes.utils import parse_quantity


def parse(value: str | int | float | None) -> Decimal:
    """The quantity in base units (cores, bytes); 0 when absent; ValueError when malformed."""
    if value is None or value == "":
        return Decimal(0)
    return parse_quantity(value)


def kubelet_cpu(cores: Decimal) -> str:
    """Cores as a node reports them: whole cores, else millicores."""
    millis = math.ceil(cores * 1000)
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def kubelet_memory(size: Decimal) -> str:
    """Bytes as a node reports them: Ki, as the kubelet does, unless a larger binary unit divides them."""
    number = math.ceil(size)
    for suffix, unit in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if number >= unit and number % unit == 0:
            return f"{number // unit}{suffix}"
    return str(number)
