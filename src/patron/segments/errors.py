"""The segments domain's errors."""

from patron.segments.rules import InvalidRule

__all__ = ["InvalidRule"]
