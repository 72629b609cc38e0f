"""The segments domain's errors."""

from patron.core.errors import Conflict, Forbidden, NotFound
from patron.segments.rules import InvalidRule


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    title = "Segment not found"


class SegmentNameTaken(Conflict):
    code = "segment_name_taken"
    title = "Segment name taken"


class ChainWideOnly(Forbidden):
    """A saved segment's stored counts are chain-wide: store-scoped callers count live."""

    code = "segment_history_chain_wide"
    title = "Count history is chain-wide"


__all__ = ["ChainWideOnly", "InvalidRule", "SegmentNameTaken", "SegmentNotFound"]
