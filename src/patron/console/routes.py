"""The staff web console at /console: server-rendered pages over the same services as the API."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from patron.console import (
    attribute_pages,
    auth_pages,
    campaign_pages,
    catalog_pages,
    check_in_pages,
    checkout_pages,
    count_card_pages,
    counter_sale_pages,
    coupon_issue_pages,
    coupon_pages,
    coupon_report_pages,
    import_pages,
    journey_pages,
    mall_pages,
    member_detail_pages,
    member_pages,
    member_stored_value_pages,
    message_pages,
    order_pages,
    points_pages,
    referral_pages,
    region_pages,
    report_pages,
    schedule_pages,
    segment_pages,
    staff_pages,
    store_pages,
    stored_value_pages,
    stored_value_report_pages,
    tag_pages,
    tier_pages,
    unsubscribe_pages,
    webhook_pages,
)
from patron.console.web import (
    PREFIX,
    STATIC_DIR,
    ConsoleActorDep,
    ErrorPage,
    LoginRequired,
    Tx,
    error_page,
    login_redirect,
    render,
    t_for,
)
from patron.core import clock
from patron.orders import service as orders
from patron.staff import service as staff
from patron.stores import service as stores
from patron.webhooks import permissions as webhook_policy
from patron.webhooks import service as webhooks

home = APIRouter()


@home.get("/")
def dashboard(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    scope_codes = stores.codes_by_id(session, actor.store_ids or ())
    store_count = stores.count_stores(session) if actor.all_stores else len(scope_codes)
    me = staff.get_staff(session, actor, actor.id) if actor.kind == "staff" and actor.id else None
    # Today in the business time zone, over the actor's stores: one aggregate query.
    today = clock.today()
    since = datetime.combine(today, time(), tzinfo=clock.business_tz())
    orders_today, sales_today = orders.sales_summary(
        session, actor, since, since + timedelta(days=1)
    )
    return render(
        request,
        "dashboard.html",
        me=me,
        store_count=store_count,
        scope_codes=sorted(scope_codes.values()),
        orders_today=orders_today,
        sales_today=sales_today,
        today=today.isoformat(),
        overview=report_pages.home_overview(session, actor, t_for(request)),
        # HQ hears here of webhooks Patron disabled after 3 days of failures.
        disabled=webhooks.disabled_for_failures(session)
        if webhook_policy.MANAGE.allows(actor)
        else [],
    )


@home.get("/{_rest:path}")
def unknown_page(_rest: str) -> HTMLResponse:
    raise ErrorPage(404)


def router() -> APIRouter:
    console = APIRouter(prefix=PREFIX, include_in_schema=False)
    for pages in (
        auth_pages.router,
        store_pages.router,
        region_pages.router,
        staff_pages.router,
        member_pages.router,
        member_detail_pages.router,
        import_pages.router,
        attribute_pages.router,
        order_pages.router,
        checkout_pages.router,
        catalog_pages.router,
        points_pages.router,
        coupon_pages.router,
        coupon_issue_pages.router,
        coupon_report_pages.router,
        journey_pages.router,
        stored_value_pages.router,
        member_stored_value_pages.router,
        stored_value_report_pages.router,
        count_card_pages.router,
        mall_pages.router,
        counter_sale_pages.router,
        tier_pages.router,
        check_in_pages.router,
        schedule_pages.router,
        message_pages.router,
        webhook_pages.router,
        segment_pages.router,
        campaign_pages.router,
        tag_pages.router,
        referral_pages.router,
        report_pages.router,
    ):
        console.include_router(pages)
    # Last: the catch-all answers any other /console path with the console's 404 page.
    console.include_router(home)
    return console


def mount(app: FastAPI) -> None:
    # The static files go first so that the catch-all page route does not shadow them.
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(router())
    app.include_router(unsubscribe_pages.router)  # /u/<token>: e-mail List-Unsubscribe links
    app.add_exception_handler(LoginRequired, login_redirect)
    app.add_exception_handler(ErrorPage, error_page)
