"""The campaigns domain's errors."""

from patron.core.errors import Conflict, Forbidden, NotFound, PatronError
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


class UnknownTemplate(PatronError):
    """An action names a coupon template or message template that does not exist (or is not
    active, or needs variables a campaign cannot give)."""

    status = 422
    code = "unknown_template"
    title = "Unknown template"


class UnknownSegment(PatronError):
    status = 422
    code = "unknown_segment"
    title = "Unknown segment"


class BudgetBelowCost(PatronError):
    """The expected cost (coupons, points or messages) exceeds the campaign's budget."""

    status = 422
    code = "budget_below_cost"
    title = "Budget below expected cost"


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
