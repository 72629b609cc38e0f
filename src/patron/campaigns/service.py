"""One-off campaigns: an audience (a saved segment or a rule), actions (issue a coupon, grant
points, send a message), a control group held out by a seeded draw, budgets, and a schedule.

A campaign is built as a draft, previewed (audience, control, expected cost, who is skipped
and why), then launched: at once (its audience frozen now, `launch.start`) or at `schedule_at`
(the minute job starts it). The treatment itself runs in batches, each its own transaction
(`launch`)."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.campaigns import launch as launching
from patron.campaigns import permissions
from patron.campaigns.errors import (
    AlreadyLaunched,
    BudgetBelowCost,
    CampaignNotEditable,
    CampaignNotFound,
    ChainWideOnly,
    UnknownSegment,
    UnknownTemplate,
)
from patron.campaigns.models import Campaign, CampaignMember, CampaignOutcome, CampaignStatus
from patron.campaigns.schemas import (
    ActionPreview,
    CampaignIn,
    CampaignPatch,
    CampaignPreview,
    CampaignPreviewIn,
    Cost,
    OutcomeOut,
)
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.coupons.models import TemplateStatus
from patron.coupons.templates import get_template as coupon_template
from patron.members import contacts
from patron.messages import bulk as messages
from patron.messages.kinds import Channel, Status
from patron.segments import rules
from patron.segments import service as segments
from patron.segments.errors import SegmentNotFound

EDITABLE = (CampaignStatus.draft.value, CampaignStatus.scheduled.value)
CANCELLABLE = (*EDITABLE, CampaignStatus.running.value)
REACHED = (Status.queued.value, Status.deferred.value)
BUDGETS = {"issue_coupon": "coupons", "grant_points": "points", "send_message": "messages"}


def _chain_wide(actor: Actor) -> None:
    permissions.MANAGE.check(actor)
    if not actor.all_stores:
        raise ChainWideOnly("a campaign's audience is drawn from every store's members")


def get_campaign(session: Session, campaign_id: int, *, for_update: bool = False) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=for_update or None)
    if campaign is None:
        raise CampaignNotFound(f"no campaign {campaign_id}")
    return campaign


def list_campaigns(
    session: Session, cursor: str | None, limit: int, status: CampaignStatus | None = None
) -> PageResult[Campaign]:
    query = select(Campaign)
    if status is not None:
        query = query.where(Campaign.status == status.value)
    return paginate(session, query, Campaign.id, cursor, limit)


def all_campaigns(session: Session) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id)))


# Checking what a campaign names ------------------------------------------------------------


def audience_rule(session: Session, segment_id: int | None, rule: str | None) -> str:
    """The rule the audience is drawn with: the segment's (as saved now) or the campaign's own.
    InvalidRule when it does not parse; exactly one of the two is given."""
    if (segment_id is None) == (rule is None):
        raise InvalidInput(
            "segment_id", "give a segment_id or a rule, not both", code=Reason.segment_or_rule
        )
    if segment_id is not None:
        try:
            rule = segments.get_segment(session, segment_id).rule
        except SegmentNotFound as exc:
            raise UnknownSegment("segment_id", f"no segment {segment_id}") from exc
    assert rule is not None
    rules.parse(rule)
    return rule


def check_actions(session: Session, actions: Sequence[dict[str, Any]]) -> None:
    """Each action's template exists and is active (a message template: for its channel, naming
    no variable but the member's own): else 422 unknown_template."""
    for index, action in enumerate(actions):
        if action["type"] == "issue_coupon":
            _check_coupon_template(session, index, action["template_id"])
        elif action["type"] == "send_message":
            try:
                messages.campaign_template(session, action["template"], Channel(action["channel"]))
            except (NotFound, PatronError) as exc:
                raise UnknownTemplate(f"actions.{index}.template", exc.detail) from exc


def _check_coupon_template(session: Session, index: int, template_id: int) -> None:
    try:
        template = coupon_template(session, template_id)
    except NotFound as exc:
        raise UnknownTemplate(
            f"actions.{index}.template_id", f"no coupon template {template_id}"
        ) from exc
    if template.status != TemplateStatus.active.value:
        raise UnknownTemplate(
            f"actions.{index}.template_id", f"coupon template {template_id} is {template.status}"
        )


def _check_control(percent: int, reason: str) -> None:
    if percent == 0 and not reason.strip():
        raise InvalidInput(
            "control_reason",
            "a campaign without a control group says why it is not measured",
            code=Reason.control_reason_missing,
        )


# Building --------------------------------------------------------------------------------------

AUDITED = (
    "name",
    "segment_id",
    "rule",
    "actions",
    "control_percent",
    "control_reason",
    "schedule_at",
    "attribution_days",
    "budget_coupons",
    "budget_points",
    "budget_messages",
)


def create(session: Session, actor: Actor, data: CampaignIn) -> Campaign:
    _chain_wide(actor)
    audience_rule(session, data.segment_id, data.rule)
    actions = [a.model_dump(mode="json") for a in data.actions]
    check_actions(session, actions)
    _check_control(data.control_percent, data.control_reason)
    campaign = Campaign(
        name=data.name,
        description=data.description,
        segment_id=data.segment_id,
        rule=data.rule,
        actions=actions,
        control_percent=data.control_percent,
        control_reason=data.control_reason,
        seed=secrets.randbelow(launching.MAX_SEED),
        attribution_days=data.attribution_days,
        budget_coupons=data.budget_coupons,
        budget_points=data.budget_points,
        budget_messages=data.budget_messages,
        status=CampaignStatus.draft.value,
        schedule_at=data.schedule_at,
        created_by=actor.name,
    )
    session.add(campaign)
    session.flush()
    after = {field: getattr(campaign, field) for field in AUDITED} | {"seed": campaign.seed}
    audit.record(
        session, actor, "campaign.create", "campaign", campaign.id, after=to_jsonable_python(after)
    )
    return campaign


def update(session: Session, actor: Actor, campaign_id: int, data: CampaignPatch) -> Campaign:
    """Change a draft or scheduled campaign (409 campaign_not_editable otherwise)."""
    _chain_wide(actor)
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status not in EDITABLE:
        raise CampaignNotEditable(f"campaign {campaign_id} is {campaign.status}")
    changes = data.model_dump(exclude_unset=True, mode="json")
    nullable = {"schedule_at", "budget_coupons", "budget_points", "budget_messages"}
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise InvalidInput(field, "cannot be null", code=Reason.missing)
    if "schedule_at" in changes:
        changes["schedule_at"] = data.schedule_at
    if "segment_id" in changes or "rule" in changes:
        audience_rule(session, changes.get("segment_id"), changes.get("rule"))
        changes.setdefault("segment_id", None)
        changes.setdefault("rule", None)
    if "actions" in changes:
        check_actions(session, changes["actions"])
    _check_control(
        changes.get("control_percent", campaign.control_percent),
        changes.get("control_reason", campaign.control_reason),
    )
    before, after = audit.changed_fields({k: getattr(campaign, k) for k in changes}, changes)
    if not after:
        return campaign
    for field, value in after.items():
        setattr(campaign, field, value)
    session.flush()
    audit.record(
        session,
        actor,
        "campaign.update",
        "campaign",
        campaign.id,
        before=to_jsonable_python(before),
        after=to_jsonable_python(after),
    )
    return campaign


def cancel(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    """Stop a draft, scheduled or running campaign: members treated so far keep what they got,
    the rest get nothing."""
    _chain_wide(actor)
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status not in CANCELLABLE:
        raise CampaignNotEditable(f"campaign {campaign_id} is {campaign.status}")
    before = campaign.status
    campaign.status = CampaignStatus.cancelled.value
    campaign.cancelled_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        "campaign.cancel",
        "campaign",
        campaign.id,
        before={"status": before},
        after={"status": campaign.status},
    )
    return campaign


# Preview and budgets ---------------------------------------------------------------------------


def preview(session: Session, actor: Actor, data: CampaignPreviewIn) -> CampaignPreview:
    """What launching this now would do: the audience, the control share (as drawn for a new
    campaign: the expected size), who would be skipped and why, the expected cost against the
    budgets."""
    _chain_wide(actor)
    rule = audience_rule(session, data.segment_id, data.rule)
    actions = [a.model_dump(mode="json") for a in data.actions]
    check_actions(session, actions)
    budgets = _budgets(data.budget_coupons, data.budget_points, data.budget_messages)
    seed = secrets.randbelow(launching.MAX_SEED)
    now = clock.now()
    audience = segments.member_ids(session, actor, rule, now)
    return forecast(session, audience, actions, data.control_percent, seed, budgets, now)


def preview_campaign(session: Session, actor: Actor, campaign_id: int) -> CampaignPreview:
    """The preview of a saved campaign, its control drawn with its own seed (exact)."""
    _chain_wide(actor)
    campaign = get_campaign(session, campaign_id)
    if campaign.status not in EDITABLE:
        return frozen_forecast(session, campaign, clock.now())
    rule = audience_rule(session, campaign.segment_id, campaign.rule)
    now = clock.now()
    audience = segments.member_ids(session, actor, rule, now)
    return forecast(
        session,
        audience,
        campaign.actions,
        campaign.control_percent,
        campaign.seed,
        _budgets_of(campaign),
        now,
    )


def frozen_forecast(session: Session, campaign: Campaign, now: datetime) -> CampaignPreview:
    """The forecast over a launched campaign's frozen audience."""
    audience = select(CampaignMember.member_id).where(CampaignMember.campaign_id == campaign.id)
    return forecast(
        session,
        audience,
        campaign.actions,
        campaign.control_percent,
        campaign.seed,
        _budgets_of(campaign),
        now,
    )


def _budgets(coupons: int | None, points: int | None, messages: int | None) -> dict[str, int]:
    given = {"coupons": coupons, "points": points, "messages": messages}
    return {name: value for name, value in given.items() if value is not None}


def _budgets_of(campaign: Campaign) -> dict[str, int]:
    return _budgets(campaign.budget_coupons, campaign.budget_points, campaign.budget_messages)


def forecast(
    session: Session,
    audience: Select[Any],
    actions: Sequence[dict[str, Any]],
    control_percent: int,
    seed: int,
    budgets: dict[str, int],
    now: datetime,
) -> CampaignPreview:
    """Counted in SQL over the audience (one column of member ids), nothing written: the control
    drawn with `seed` as a launch draws it, the members of the treated group who refuse
    marketing, and each message action's outcome by the message service's rules."""
    listed = audience.subquery()
    member = listed.c[0]
    drawn = launching.control_draw(member, seed, control_percent)
    total, control = session.execute(
        select(func.count(), func.coalesce(func.sum(launching.as_int(drawn)), 0)).select_from(
            listed
        )
    ).one()
    treated = select(member).where(~drawn)
    refusing = session.scalar(
        select(func.count()).select_from(
            treated.where(contacts.refuses_marketing(member)).subquery()
        )
    )
    reachable = treated.where(~contacts.refuses_marketing(member))
    members = int(total) - int(control) - int(refusing or 0)
    cost = Counter[str]()
    skipped = Counter[str]({"no_marketing": int(refusing or 0)} if refusing else {})
    previews = []
    for index, action in enumerate(actions):
        kind = action["type"]
        skips: Counter[str] = Counter()
        if kind == "send_message":
            outcomes = messages.reach(session, reachable, Channel(action["channel"]), now)
            units = sum(outcomes[name] for name in REACHED)
            skips = Counter({k: v for k, v in outcomes.items() if k not in REACHED})
            skipped.update(skips)
        elif kind == "grant_points":
            units = members * int(action["points"])
        else:
            units = members
        cost[BUDGETS[kind]] += units
        previews.append(ActionPreview(index=index, type=kind, expected_units=units, skipped=skips))
    over = [name for name, budget in budgets.items() if cost[name] > budget]
    return CampaignPreview(
        audience=int(total),
        control=int(control),
        treated=int(total) - int(control),
        expected_cost=Cost(
            coupons=cost["coupons"], points=cost["points"], messages=cost["messages"]
        ),
        skipped=dict(skipped),
        actions=previews,
        budget_ok=not over,
        over_budget=over,
    )


def _refuse_over_budget(found: CampaignPreview) -> None:
    if not found.budget_ok:
        cost = found.expected_cost.model_dump()
        named = ", ".join(f"{name} {cost[name]}" for name in found.over_budget)
        field = f"budget_{found.over_budget[0]}"
        raise BudgetBelowCost(field, f"the expected cost exceeds the budget: {named}")


# Launching -------------------------------------------------------------------------------------


def launch(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    """Launch a draft: scheduled when `schedule_at` is still ahead, else running now, its
    treatment queued after the commit; the queued task freezes the audience (`audience_size`
    stays None until then) and treats it. 409 already_launched for any other status; 422
    budget_below_cost when the expected cost (over the audience as it is now) exceeds a
    budget."""
    _chain_wide(actor)
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status != CampaignStatus.draft.value:
        raise AlreadyLaunched(f"campaign {campaign_id} is {campaign.status}")
    audience_rule(session, campaign.segment_id, campaign.rule)  # its segment may be gone
    check_actions(session, campaign.actions)
    if _budgets_of(campaign):
        _refuse_over_budget(preview_campaign(session, actor, campaign_id))
    now = clock.now()
    if campaign.schedule_at is not None and campaign.schedule_at > now:
        campaign.status = CampaignStatus.scheduled.value
    else:
        launching.start(session, campaign, now)
        launching.queue(session, campaign.id)
    session.flush()
    audit.record(
        session,
        actor,
        "campaign.launch",
        "campaign",
        campaign.id,
        after={
            "status": campaign.status,
            "schedule_at": to_jsonable_python(campaign.schedule_at),
        },
    )
    return campaign


# The frozen audience and the outcomes ---------------------------------------------------------


def group_members(
    session: Session, campaign_id: int, group: str, cursor: str | None, limit: int
) -> PageResult[CampaignMember]:
    """The treated (`treated`) or control (`control`) members of a launched campaign, newest
    member first."""
    get_campaign(session, campaign_id)
    query = select(CampaignMember).where(
        CampaignMember.campaign_id == campaign_id,
        CampaignMember.in_control.is_(group == "control"),
    )
    return paginate(session, query, CampaignMember.member_id, cursor, limit)


def treated_count(session: Session, campaign_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                CampaignMember.campaign_id == campaign_id,
                CampaignMember.in_control.is_(False),
                CampaignMember.treated_at.is_not(None),
            )
        )
        or 0
    )


def outcomes(session: Session, campaign_id: int) -> list[OutcomeOut]:
    """What each action did: `done` (members reached, units given) and each skip reason."""
    campaign = get_campaign(session, campaign_id)
    rows = session.scalars(
        select(CampaignOutcome)
        .where(CampaignOutcome.campaign_id == campaign_id)
        .order_by(CampaignOutcome.action_index, CampaignOutcome.outcome)
    )
    return [
        OutcomeOut(
            action_index=row.action_index,
            type=campaign.actions[row.action_index]["type"],
            outcome=row.outcome,
            members=row.members,
            units=row.units,
        )
        for row in rows
    ]
