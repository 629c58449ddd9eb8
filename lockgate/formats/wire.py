"""Small helpers shared by the format encoders."""

from __future__ import annotations

from typing import Any

__all__ = ["present"]


def present(**fields: Any) -> dict[str, Any]:
    """The fields that are set (not None), in the order given: wire objects leave unset
    fields out rather than sending nulls, and key order is kept for byte-stable output."""
    return {k: v for k, v in fields.items() if v is not None}
