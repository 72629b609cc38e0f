from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, File, Query, Response, UploadFile

from patron.core import clock, export
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.moments import Day
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.core.reasons import Reason
from patron.core.tabular import FileLimits
from patron.core.uploads import read_capped
from patron.coupons import (
    codes,
    evaluator,
    gifting,
    holding,
    permissions,
    presenters,
    recipients,
    redemption,
    reports,
    templates,
)
from patron.coupons.errors import (
    CouponNotFound,
    CouponNotTransferable,
    CouponUnavailable,
    StatusChangeRefused,
    TemplateExpired,
    TemplateLocked,
    TemplateNotActive,
    TemplateNotFound,
)
from patron.coupons.models import CouponStatus, TemplateStatus
from patron.coupons.schemas import (
    CouponDetailOut,
    CouponOut,
    CouponOutcomeOut,
    CouponReportOut,
    EvaluateIn,
    EvaluateOut,
    IssueIn,
    IssueOut,
    IssueUpload,
    TemplateFiguresOut,
    TemplateIn,
    TemplateOut,
    TemplatePatch,
    TransferIn,
    VoidIn,
)
from patron.deps import ActorDep, IdempotentDep, OneHopRouter, SessionDep, SettingsDep, require
from patron.members import visibility
from patron.members.errors import MemberNotFound
from patron.orders import permissions as order_permissions

router = OneHopRouter(tags=["coupons"])
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
Designer = Annotated[Actor, Depends(require(permissions.EDIT_TEMPLATES))]
Issuer = Annotated[Actor, Depends(require(permissions.ISSUE))]
ReportReader = Annotated[Actor, Depends(require(permissions.VIEW_REPORT))]
Till = Annotated[Actor, Depends(require(order_permissions.RECORD))]
ISSUE_ERRORS = errors(TemplateNotFound, TemplateNotActive, TemplateExpired)


@router.get("/coupon-templates", response_model=Page[TemplateOut])
def list_templates(
    session: SessionDep,
    actor: Viewer,
    status: TemplateStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[TemplateOut]:
    page = templates.list_templates(session, status, cursor, limit)
    return Page(
        items=[presenters.template_out(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.post("/coupon-templates", response_model=TemplateOut, status_code=201)
def create_template(data: TemplateIn, session: SessionDep, actor: Designer) -> TemplateOut:
    """A draft, unless the body says `"status": "active"`."""
    template = templates.create_template(session, actor, data.model_dump(mode="json"))
    return presenters.template_out(template)


@router.get(
    "/coupon-templates/report",
    response_model=CouponReportOut,
    responses={
        200: {
            "content": {media: {} for media in export.MEDIA_TYPES.values()},
            "description": "JSON, or with `format` the same rows as a CSV or .xlsx file",
        }
    },
)
def template_report(
    session: SessionDep,
    actor: ReportReader,
    issued_from: Annotated[
        Day | None, Query(description="first business day of issue included")
    ] = None,
    issued_until: Annotated[
        Day | None, Query(description="last business day of issue included")
    ] = None,
    store_id: Annotated[
        int | None, Query(description="coupons issued by this store or redeemed there")
    ] = None,
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
) -> CouponReportOut | Response:
    filters = reports.ReportFilter(issued_from, issued_until, store_id)
    figures = reports.template_report(session, actor, filters)
    if file_format is not None:
        stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
        return export.download(
            file_format, f"coupon-report-{stamp}", reports.COLUMNS, reports.rows(figures)
        )
    return CouponReportOut(
        items=[
            TemplateFiguresOut(
                **{c: getattr(f, c) for c in reports.COLUMNS if c != "redemption_rate"},
                redemption_rate=f.redemption_rate,
            )
            for f in figures
        ]
    )


@router.get(
    "/coupon-templates/{template_id}",
    response_model=TemplateOut,
    responses=errors(TemplateNotFound),
)
def get_template(template_id: int, session: SessionDep, actor: Viewer) -> TemplateOut:
    return presenters.template_out(templates.get_template(session, template_id))


@router.patch(
    "/coupon-templates/{template_id}",
    response_model=TemplateOut,
    responses=errors(TemplateNotFound, TemplateLocked, StatusChangeRefused),
)
def update_template(
    template_id: int, data: TemplatePatch, session: SessionDep, actor: Designer
) -> TemplateOut:
    """Statuses move draft → active ⇄ paused → ended (a draft may end too; ended is final). An
    active or paused template changes only its status, a higher stock, name and description."""
    changes = data.model_dump(mode="json", exclude_unset=True)
    return presenters.template_out(templates.update_template(session, actor, template_id, changes))


@router.post(
    "/coupon-templates/{template_id}/issue",
    response_model=IssueOut,
    status_code=201,
    responses=ISSUE_ERRORS,
)
def issue(
    template_id: int, data: IssueIn, session: SessionDep, actor: Issuer, once: IdempotentDep
) -> Response:
    """One coupon for each member named (by id, or by mobile); the refused ones are listed
    with why: `member_not_found`, `not_a_mobile`, `limit_reached`, `out_of_stock`."""

    def work() -> IssueOut:
        if data.member_ids is not None:
            result = recipients.issue_to_members(
                session, actor, template_id, data.member_ids, store_id=data.store_id
            )
        else:
            assert data.mobiles is not None
            result = recipients.issue_to_mobiles(
                session, actor, template_id, data.mobiles, store_id=data.store_id
            )
        return presenters.issue_out(result)

    return once(actor, data, work)


@router.post(
    "/coupon-templates/{template_id}/issue/upload",
    response_model=IssueOut,
    status_code=201,
    responses=ISSUE_ERRORS,
)
def issue_upload(
    template_id: int,
    session: SessionDep,
    settings: SettingsDep,
    actor: Issuer,
    once: IdempotentDep,
    file: Annotated[
        UploadFile, File(description="CSV or .xlsx with a `member_id` or a `mobile` column")
    ],
    store_id: int | None = None,
) -> Response:
    """As `issue`, to the rows of a file; a refusal names its row. `store_id` (the issuing
    store, if any) is a query parameter beside the form's file."""
    content = read_capped(file, settings)
    filename = file.filename or "members.csv"
    key = IssueUpload(
        filename=filename, sha256=hashlib.sha256(content).hexdigest(), store_id=store_id
    )

    def work() -> IssueOut:
        result = recipients.issue_from_file(
            session,
            actor,
            template_id,
            content,
            filename,
            store_id=store_id,
            limits=FileLimits.of(settings),
        )
        return presenters.issue_out(result)

    return once(actor, key, work)


@router.get(
    "/members/{member_id}/coupons",
    response_model=Page[CouponOut],
    responses=errors(MemberNotFound),
)
def member_coupons(
    member_id: int,
    session: SessionDep,
    actor: ActorDep,
    status: CouponStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[CouponOut]:
    """The member's coupons, newest first; `expired` includes available ones past validity."""
    member = visibility.get_member(session, actor, member_id)
    page = holding.member_coupons(session, member.id, status, cursor, limit)
    items = presenters.coupons_out(session, list(page.items), clock.now())
    return Page(items=items, next_cursor=page.next_cursor)


@router.get("/coupons/{code}", response_model=CouponDetailOut, responses=errors(CouponNotFound))
def get_coupon(code: str, session: SessionDep, actor: ActorDep) -> CouponDetailOut:
    coupon = holding.get_coupon(session, actor, code)
    return presenters.coupon_detail(session, coupon, clock.now())


@router.post(
    "/coupons/{code}/transfer",
    response_model=CouponDetailOut,
    status_code=201,
    responses=errors(CouponNotFound, CouponUnavailable, CouponNotTransferable),
)
def transfer_coupon(
    code: str,
    data: TransferIn,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.TRANSFER))],
    once: IdempotentDep,
) -> Response:
    """Give the coupon to another active member (转赠); its validity stays."""

    def work() -> CouponDetailOut:
        coupon = gifting.transfer_coupon(session, actor, code, data.to_member_id)
        return presenters.coupon_detail(session, coupon, clock.now())

    return once(actor, data, work)


@router.post(
    "/coupons/{code}/void",
    response_model=CouponDetailOut,
    status_code=201,
    responses=errors(CouponNotFound, CouponUnavailable),
)
def void_coupon(
    code: str,
    data: VoidIn,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.VOID))],
    once: IdempotentDep,
) -> Response:
    def work() -> CouponDetailOut:
        coupon = gifting.void_coupon(session, actor, code, data.reason)
        return presenters.coupon_detail(session, coupon, clock.now())

    return once(actor, data, work)


@router.post("/coupons/evaluate", response_model=EvaluateOut)
def evaluate_coupons(data: EvaluateIn, session: SessionDep, actor: Till) -> EvaluateOut:
    if not actor.sees_store(data.store_id):
        raise InvalidInput(
            "store_id", f"no store {data.store_id} in your scope", code=Reason.unknown_store
        )
    lines = [
        evaluator.Line(ln.sku, ln.category_code, ln.quantity, ln.unit_price, ln.amount)
        for ln in data.lines
    ]
    where = redemption.context(
        data.member_id,
        data.store_id,
        data.channel.value,
        data.occurred_at or clock.now(),
        points_pay=data.points_pay,
        tier_discount=data.tier_discount,
    )
    outcomes = redemption.preview(
        session, list(dict.fromkeys(map(codes.normalized, data.codes))), lines, where
    )
    chosen = evaluator.best((h.terms, o) for h, o in outcomes.values() if h is not None)
    return EvaluateOut(
        coupons=[
            CouponOutcomeOut(
                code=code,
                applies=outcome.applies,
                discount=outcome.discount,
                reason=outcome.refusal.value if outcome.refusal else None,
                unavailable=bool(outcome.refusal and outcome.refusal.unavailable),
            )
            for code, (_, outcome) in outcomes.items()
        ],
        best=chosen.code if chosen else None,
    )
