"""The campaigns domain's errors."""

from patron.core.errors import Conflict, Forbidden, NotFound, PatronError
from patron.core.reasons import Reason
from patron.segments.rules import InvalidRule


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    title = "Campaign not found"


class AlreadyLaunched(Conflict):
    """Launching a campaign that is scheduled, running, done or cancelled."""

    code = "already_launched"
    title = "Campaign already launched"


class CampaignNotEditable(Conflict):
    """Only a draft or scheduled campaign changes; a cancelled or done one stays as it was."""

    code = "campaign_not_editable"
    title = "Campaign cannot change now"


class _FieldRefusal(PatronError):
    """A 422 with its own problem code that also names the field, as a field error with the same
    reason (what a schema cannot say: the OpenAPI document lists it as beyond the schema)."""

    status = 422
    reason: Reason

    def __init__(self, field: str, detail: str) -> None:
        error = {"field": field, "code": self.reason.value, "message": detail}
        super().__init__(detail, errors=[error])


class UnknownTemplate(_FieldRefusal):
    """An action names a coupon template or message template that does not exist (or is not
    active, or needs variables a campaign cannot give)."""

    code = "unknown_template"
    title = "Unknown template"
    reason = Reason.unknown_template


class UnknownSegment(_FieldRefusal):
    code = "unknown_segment"
    title = "Unknown segment"
    reason = Reason.unknown_segment


class BudgetBelowCost(_FieldRefusal):
    """The expected cost (coupons, points or messages) exceeds the campaign's budget."""

    code = "budget_below_cost"
    title = "Budget below expected cost"
    reason = Reason.budget_below_cost


class ChainWideOnly(Forbidden):
    """A campaign's audience is drawn chain-wide: store-scoped callers may not build one."""

    code = "campaign_chain_wide"
    title = "Campaigns are chain-wide"


__all__ = [
    "AlreadyLaunched",
    "BudgetBelowCost",
    "CampaignNotEditable",
    "CampaignNotFound",
    "ChainWideOnly",
    "InvalidRule",
    "UnknownSegment",
    "UnknownTemplate",
]
