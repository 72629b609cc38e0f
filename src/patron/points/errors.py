"""The points domain's errors."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    title = "Not enough available points"


class AdjustmentNotFound(NotFound):
    code = "adjustment_not_found"
    title = "Adjustment not found"


class RuleNotFound(NotFound):
    code = "rule_not_found"
    title = "Points rule not found"


class RuleInUse(Conflict):
    code = "rule_in_use"
    title = "This rule has awarded points; switch it off instead"
