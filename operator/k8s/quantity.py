"""Kubernetes resource quantities ("500m", "1Gi", "2e3") as numbers, and back as short text."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_SUFFIX = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def parse(value: str | int | float | None) -> Decimal:
    """The quantity's value in base units (cores for cpu, bytes for memory); 0 when absent."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as error:
        raise ValueError(f"not a Kubernetes quantity: {value!r}") from error
    return number * Decimal(_SUFFIX[match.group(2) or ""])


def format_memory(value: Decimal) -> str:
    """Bytes as the largest binary unit that keeps a whole number ("7Gi", "1536Mi")."""
    number = math.ceil(value)
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _SUFFIX[suffix]
        if number >= unit and number % unit == 0:
            return f"{number // unit}{suffix}"
    return str(number)


def format_memory_floor_mi(value: Decimal) -> str:
    """Bytes rounded down to whole Mi: a request that is guaranteed to be <= the value."""
    return f"{int(value) // 2**20}Mi"


def format_cpu(value: Decimal) -> str:
    """Cores as millicores when fractional ("250m"), whole cores otherwise."""
    millis = math.ceil(value * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_cpu_floor(value: Decimal) -> str:
    """Cores rounded down to millicores: a request that is guaranteed to be <= the value."""
    millis = int(value * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"
