"""A GET runs in a read-only transaction (on SQLite a deferred one, which fails with "database is
locked" if it comes to write after another writer committed) unless its route declares
`WriteSessionDep`. This walks every GET route of the API and the console, as HQ and as store
staff, over one set of rows, and fails when a read-only request tries to write: a new GET that
writes (an audit row, a stamp) must declare the write transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from patron.app import create_app
from patron.campaigns import service as campaigns
from patron.campaigns.schemas import CampaignIn
from patron.catalog.models import Product
from patron.checkout import service as checkout
from patron.checkout.schemas import CommitRequest, QuoteRequest
from patron.console.web import SESSION_COOKIE
from patron.core import clock, db
from patron.core.actor import SYSTEM, Role
from patron.core.security import issue_member_token
from patron.core.settings import Settings
from patron.count_cards import cards, products
from patron.deps import _needs, write_session
from patron.imports import runner
from patron.imports import service as imports
from patron.imports.models import ImportKind
from patron.journeys import service as journeys
from patron.journeys.schemas import JourneyIn
from patron.mall import items as mall_items
from patron.mall import redemption
from patron.member_page.web import MEMBER_COOKIE
from patron.members import attributes, codes, identities
from patron.members.models import AttributeType, ConsentChannel, IdentityType
from patron.members.schemas import AttributeCreate, IdentityIn
from patron.messages import unsubscribe
from patron.messages.models import MessageTemplate
from patron.points import grants, rules
from patron.points.schemas import RuleIn
from patron.profiles import service as profiles
from patron.profiles.models import ClvFit
from patron.segments import service as segments
from patron.segments.schemas import SegmentIn
from patron.staff import service as staff
from patron.stored_value import packages
from patron.tags import service as tags
from patron.tags.schemas import TagCreate
from patron.tiers import ladder, paid
from patron.webhooks import service as webhooks
from patron.webhooks.schemas import WebhookCreate
from tests.conftest import _session_on
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_order,
    make_region,
    make_staff,
    make_store,
)

MOBILE = "13912340001"
CARD = "CARD0001"
PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _trapped(session: Session, writes: list[str]) -> Session:
    """Note every statement or flush that would write while the request is read-only."""

    @event.listens_for(session, "do_orm_execute")
    def _statement(state: ORMExecuteState) -> None:
        if session.info.get(db.READ_ONLY) and (
            state.is_insert or state.is_update or state.is_delete
        ):
            writes.append(str(state.statement).split("(")[0])

    @event.listens_for(session, "before_flush")
    def _flush(flushed: Session, _context: UOWTransaction, _instances: Any) -> None:
        if flushed.info.get(db.READ_ONLY) and (flushed.new or flushed.dirty or flushed.deleted):
            writes.append(f"flush of {[type(o).__name__ for o in (*flushed.new, *flushed.dirty)]}")

    return session


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)


def _get_routes(app: FastAPI) -> dict[str, APIRoute]:
    """Every GET route by its full path (included routers keep the path under their prefix)."""
    found = {}
    for route in _routes(app.router.routes):
        if "GET" not in (route.methods or ()):
            continue
        module = route.endpoint.__module__
        prefix = "/console" if module.startswith("patron.console") else "/api/v1"
        if module.startswith("patron.member_page"):
            prefix = "/m"
        at_root = module in ("patron.app", "patron.console.unsubscribe_pages")
        found[("" if at_root else prefix) + route.path] = route
    return found


@pytest.fixture
def guarded(connection: Connection, settings: Settings) -> tuple[FastAPI, list[str]]:
    writes: list[str] = []
    app = create_app(settings, session_factory=lambda: _trapped(_session_on(connection), writes))
    return app, writes


@pytest.fixture
def rows(session: Session) -> dict[str, Any]:
    store = make_store(session)
    member = make_member(session, store, mobile=MOBILE)
    identities.add_identity(
        session, SYSTEM, member, IdentityIn(type=IdentityType.card_no, value=CARD)
    )
    source = make_member(session, store)
    order = make_order(session, store, member)
    # A profile refresh: profiles, and a CLV model for /analytics/clv (too little data to fit).
    profiles.refresh(session, clock.now())
    session.add(
        ClvFit(
            model="bgnbd+gamma_gamma",
            params={"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0},
            spend_params={"p": 1.0, "q": 2.0, "gamma": 1.0},
            customers=1,
            fitted_at=clock.now(),
            data_until=clock.now(),
        )
    )
    product = session.scalars(select(Product).where(Product.sku == "SKU-1")).one()
    rule = rules.save_rule(
        session,
        SYSTEM,
        RuleIn.model_validate({"name": "x2", "effect": "multiply", "amount": 200}).model_dump(
            mode="json"
        ),
    )
    attribute = attributes.create_attribute(
        session, SYSTEM, AttributeCreate(code="skin", label="肤质", type=AttributeType.text)
    )
    template = make_coupon_template(session)
    package = packages.save_package(session, SYSTEM, {"name": "充500送50", "pay": 50000})
    coupon = issue_coupon(session, template, member)
    card_product = products.save_product(
        session, SYSTEM, {"name": "洗车10次", "uses": 10, "price": 30000}
    )
    card = cards.sell(session, SYSTEM, member.id, store.id, card_product.id, cards.Payment("cash"))
    message_template = _message_template(session)
    tier = ladder.save_tier(session, SYSTEM, {"code": "normal", "name": "普通", "rank": 0})
    item = mall_items.save_item(
        session,
        SYSTEM,
        {"kind": "product", "name": "保温杯", "points_price": 10, "fulfilment": ["pickup"]},
    )
    grants.grant_points(
        session, SYSTEM, member.id, 100, reason="test", store_id=None, source_ref="test:1"
    )
    mall_redemption = redemption.redeem(
        session, SYSTEM, member.id, item.id, 1, redemption.Delivery("pickup", store.id)
    )
    # An import page shows an import of its own kind.
    import_ids = {
        kind: imports.create(session, SYSTEM, kind, f"{kind.value}.csv", True, runner.owner()).id
        for kind in ImportKind
    }
    return {
        "store": store,
        "member": member,
        "source": source,
        # Pages whose parameters differ from the shared ones below: an import page, a coupon's.
        "pages": {
            f"/console/{kind.value}/import/{{import_id}}": {"import_id": import_id}
            for kind, import_id in import_ids.items()
        }
        | {"/api/v1/coupons/{code}": {"code": coupon.code}}
        | {
            path: {"template_id": message_template}
            for path in (
                "/api/v1/message-templates/{template_id}",
                "/console/messages/templates/{template_id:int}/edit",
            )
        }
        | {"/console/checkout/receipts/{quote_id}": {"quote_id": _sold(session, store.id)}},
        "params": {
            "name": "overview",
            "store_id": store.id,
            "region_id": make_region(session, [store]).id,
            "staff_id": make_staff(session, Role.cashier, [store]).id,
            "member_id": member.id,
            "order_id": order.id,
            "product_id": product.id,
            "category_id": product.category_id,
            "rule_id": rule.id,
            "attribute_id": attribute.id,
            "template_id": template.id,
            "package_id": package.id,
            "card_product_id": card_product.id,
            "card_id": card.id,
            "tier_id": tier.id,
            "item_id": item.id,
            "redemption_id": mall_redemption.id,
            "tag_id": tags.create_tag(session, SYSTEM, TagCreate(name="VIP")).id,
            "job_name": "points",
            "webhook_id": webhooks.create(
                session,
                SYSTEM,
                WebhookCreate(url="http://127.0.0.1:9/hook", event_types=["*"]),
                allow_private=True,
            )[0].id,
            "plan_id": paid.save_plan(
                session,
                SYSTEM,
                {
                    "name": "Plus",
                    "term": "month",
                    "price": 1_000,
                    "benefits": {"discount_percent": 5},
                },
            ).id,
            "code": codes.issue_code(session, SYSTEM, member.id).code,
            "import_id": import_ids[ImportKind.orders],
            "quote_id": checkout.quote(
                session,
                SYSTEM,
                QuoteRequest.model_validate(
                    {
                        "store_id": store.id,
                        "channel": "pos",
                        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 100}],
                    }
                ),
            ).quote_id,
            "segment_id": segments.create(
                session,
                SYSTEM,
                SegmentIn(name="沉睡", rule='lifecycle = "dormant"'),
                clock.now(),
            ).id,
            "campaign_id": campaigns.create(
                session,
                SYSTEM,
                CampaignIn.model_validate(
                    {
                        "name": "会员日",
                        "rule": "registered_days >= 0",
                        "actions": [{"type": "issue_coupon", "template_id": template.id}],
                    }
                ),
            ).id,
            "journey_id": journeys.create(
                session,
                SYSTEM,
                JourneyIn.model_validate(
                    {
                        "name": "新客礼",
                        "trigger": {"event": "member.registered"},
                        "steps": [{"key": "end", "type": "exit"}],
                    }
                ),
            ).id,
            "lang": "en",
            "_rest": "nowhere",
            "channel": "sms",
            "channel_name": "sms",
            "token": unsubscribe.token_for(member.id, ConsentChannel.email),
        },
    }


def _message_template(session: Session) -> int:
    template = MessageTemplate(code="hello", channel="sms", purpose="marketing", body="hi")
    session.add(template)
    session.flush()
    return template.id


def _sold(session: Session, store_id: int) -> str:
    """A committed quote: the cashier screen's receipt shows one."""
    sold = checkout.quote(
        session,
        SYSTEM,
        QuoteRequest.model_validate(
            {
                "store_id": store_id,
                "channel": "pos",
                "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 100}],
            }
        ),
    )
    body = {
        "quote_id": sold.quote_id,
        "external_id": "T-RECEIPT",
        "payments": [{"method": "cash", "amount": 100}],
    }
    checkout.commit(session, SYSTEM, CommitRequest.model_validate(body))
    return sold.quote_id


def _url(path: str, params: dict[str, Any]) -> str:
    return PARAM.sub(lambda m: str(params[m.group(1)]), path)


def test_no_read_only_get_writes(
    guarded: tuple[FastAPI, list[str]], session: Session, settings: Settings, rows: dict[str, Any]
) -> None:
    app, writes = guarded
    admin = staff.issue_token(make_staff(session, Role.hq_admin), settings).token
    manager = staff.issue_token(
        make_staff(session, Role.store_manager, [make_store(session)]), settings
    ).token
    routes = _get_routes(app)
    # The member's own API and pages answer a member token (staff ones are refused there).
    member = issue_member_token(settings.secret_key, rows["member"].id, timedelta(days=1)).token
    # The identity lookups and the merge preview need their query to do what they do.
    queries: dict[str, list[dict[str, Any]]] = {
        "/api/v1/members": [{}, {"mobile": MOBILE}, {"card_no": CARD}],
        "/console/members": [{}, {"q": MOBILE}, {"q": CARD}],
        "/console/members/{member_id:int}/merge": [{"source": rows["source"].id}],
        "/console/products/export": [{"format": "csv"}, {"format": "xlsx"}],
        "/api/v1/segments/{segment_id}/export": [{"format": "csv"}, {"format": "xlsx"}],
        "/api/v1/stored-value/settlement": [
            {"from": "2026-01-01", "to": "2026-12-31"},
            {"from": "2026-01-01", "to": "2026-12-31", "store_id": "hq", "format": "xlsx"},
        ],
        "/api/v1/check-ins/report": [
            {"from": "2026-01-01", "to": "2026-12-31"},
            {"from": "2026-01-01", "to": "2026-12-31", "format": "xlsx", "table": "streaks"},
        ],
        "/api/v1/me/check-ins": [{}, {"month": "2026-02"}],
        "/api/v1/referrals/report": [
            {"from": "2026-01-01", "to": "2026-12-31"},
            {"from": "2026-01-01", "to": "2026-12-31", "format": "xlsx"},
        ],
        "/api/v1/reports/{name}": [
            {},
            {"from": "2026-01-01", "to": "2026-12-31", "compare": "true"},
            {"format": "csv", "table": "daily"},
            {"format": "xlsx", "channel": "pos"},
        ],
    }
    refused: dict[str, list[str]] = {}
    answered: dict[str, set[int]] = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, route in sorted(routes.items()):
            declared = _needs(route.dependant, write_session)
            url = _url(path, {**rows["params"], **rows["pages"].get(path, {})})
            own = path == "/api/v1/me" or path.startswith(("/m/", "/api/v1/me/"))
            for token in (member,) if own else (admin, manager):
                for query in queries.get(path, [{}]):
                    writes.clear()
                    client.cookies.set(SESSION_COOKIE, token, path="/console")
                    client.cookies.set(MEMBER_COOKIE, token, path="/")
                    response = client.get(
                        url, params=query, headers={"Authorization": f"Bearer {token}"}
                    )
                    assert response.status_code < 500, (url, query, response.text[:300])
                    if token in (admin, member):
                        answered.setdefault(path, set()).add(response.status_code)
                    if writes and not declared:
                        refused.setdefault(f"GET {path} {query}", []).extend(writes)
    assert refused == {}
    # Every page did its work for HQ (the walk reached the handlers), but the catch-all 404.
    assert {path for path, codes in answered.items() if codes != {200}} == {"/console/{_rest:path}"}
