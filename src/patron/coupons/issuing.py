"""Issuing coupons: the one function every path calls (an operator's list or file, and later
segments, campaigns, purchase rewards, the points mall, recharge packages, tier benefits, a
member's claim), for one member or a million.

Set-based: members are checked and held a batch at a time (one query), the coupons each already
holds of the template counted with one GROUP BY per limit, the codes drawn in bulk, and the rows
written by one statement per batch: on PostgreSQL an INSERT from `unnest` of three arrays (ids,
codes, members) with the columns every row shares given once, so the client does no work per
row beyond drawing its code (COPY cost 14 µs of client CPU a row, in psycopg's row writer and the
column types' bind processors); executemany on SQLite.

Under concurrent issuing the template's row lock (held to the end of the transaction) makes
issues of one template take turns: the stock (`issued_count`, with a check constraint behind it)
and the per-member and per-day limits are counted by one issue at a time. The members are held
as every other domain holds them (key share, in id order, after the template: `merge.hold`, or
on PostgreSQL `registry.is_active` in the statement that checks them), so no coupon lands on a
member a concurrent merge is retiring."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import bulk, clock, events
from patron.core.actor import Actor
from patron.core.reasons import Reason
from patron.core.statements import Prepared
from patron.coupons import codes
from patron.coupons.errors import TemplateExpired, TemplateNotActive
from patron.coupons.events import COUPON_ISSUED
from patron.coupons.models import (
    Coupon,
    CouponEvent,
    CouponEventKind,
    CouponStatus,
    CouponTemplate,
    IssueSource,
    TemplateStatus,
)
from patron.coupons.permissions import ISSUE
from patron.coupons.templates import get_template
from patron.members import merge as member_merge
from patron.members import registry
from patron.members.models import MemberStatus
from patron.stores import service as stores

COUPONS = cast(Table, Coupon.__table__)
BATCH = 10_000
CODE_ATTEMPTS = 3
# An operator picks these members: the ISSUE permission and the operator's stores apply. Other
# sources are the program's own rules (a campaign, a purchase reward, a claim), their callers'
# to check.
OPERATOR_SOURCES = frozenset({IssueSource.manual, IssueSource.upload})
COLUMNS = (
    "id",
    "code",
    "template_id",
    "member_id",
    "status",
    "source",
    "source_ref",
    "store_id",
    "issued_by",
    "issued_at",
    "issue_day",
    "valid_from",
    "valid_until",
    "void_reason",
)


def _listed(name: str | None, values: list[Any] | None = None, type_: Any = Integer) -> Any:
    """An array parameter on PostgreSQL sent as one text of comma-separated values, split by the
    server: psycopg dumps a list element by element in Python (10 µs a coupon for the three
    arrays of a batch), joining ints or codes (letters and digits only) costs next to nothing."""
    text = bindparam(name, None if values is None else ",".join(map(str, values)), type_=String)
    return sql_cast(func.string_to_array(text, ","), ARRAY(type_))


def _insert_unnested(_: Session) -> Any:
    """INSERT of a batch on PostgreSQL: ids, codes and members as arrays, the rest once."""
    rows = (
        func.unnest(_listed("ids"), _listed("codes", type_=String), _listed("member_ids"))
        .table_valued("id", "code", "member_id")
        .render_derived()
    )
    shared = [bindparam(name, type_=COUPONS.c[name].type) for name in COLUMNS[4:]]
    return insert(COUPONS).from_select(
        COLUMNS,
        select(
            rows.c.id,
            rows.c.code,
            bindparam("template_id", type_=Integer),
            rows.c.member_id,
            *shared,
        ),
    )


INSERT_UNNESTED = Prepared(_insert_unnested)


class IssuedCoupon(NamedTuple):
    id: int
    member_id: int
    code: str


@dataclass(frozen=True)
class IssueRefusal:
    """One member left out: `index` is their position in the list asked for."""

    index: int
    member_id: int
    code: Reason


@dataclass
class IssueResult:
    issued: list[IssuedCoupon] = field(default_factory=list)
    refused: list[IssueRefusal] = field(default_factory=list)


def coupon_validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    """(valid_from, valid_until) of a coupon issued at `now`: the template's fixed dates, or
    from now to 23:59:59 business time of the valid_days-th day, the day of issue being the
    first (a chain's "valid 7 days" issued on Monday ends Sunday night)."""
    if template.valid_days is None:
        start, end = template.valid_from, template.valid_until
        assert start is not None
        assert end is not None
        return start, end
    tz = clock.business_tz()
    last_day = now.astimezone(tz).date() + timedelta(days=template.valid_days - 1)
    return now, datetime.combine(last_day, time(23, 59, 59), tz)


def issue_coupons(
    session: Session,
    actor: Actor,
    template_id: int,
    member_ids: Sequence[int],
    *,
    source: IssueSource,
    source_ref: str = "",
    store_id: int | None = None,
) -> IssueResult:
    """One coupon of the template for each entry of `member_ids` (a member named twice gets
    two, within the limits), in one transaction with the caller's. Refused entries, with why:
    `member_not_found` (no such active member, or outside an operator's stores),
    `limit_reached` (per_member_limit, or per_day_limit on today's business day; void coupons
    do not count), `out_of_stock`. The template must be active (`template_not_active`) and its
    fixed validity not over (`template_expired`). One audit entry for the whole call."""
    if source in OPERATOR_SOURCES:
        ISSUE.check(actor)
    stores.check_bookable(session, actor, store_id)
    template = get_template(session, template_id, for_update=True)
    if template.status != TemplateStatus.active:
        raise TemplateNotActive(f"template {template_id} is {template.status}")
    now, today = clock.now(), clock.today()
    valid_from, valid_until = coupon_validity(template, now)
    if valid_until < now:
        raise TemplateExpired(f"template {template_id}'s coupons expired at {valid_until}")
    stock = None if template.total_stock is None else template.total_stock - template.issued_count
    run = _Run(session, actor, template, source, source_ref, store_id, now, today, stock)
    result = IssueResult()
    for offset, batch in _batches(member_ids):
        run.issue(batch, offset, result, (valid_from, valid_until))
    template.issued_count += len(result.issued)
    session.flush()
    audit.record(
        session,
        actor,
        "coupon.issue",
        "coupon_template",
        template.id,
        store_id=store_id,
        after={
            "issued": len(result.issued),
            "refused": len(result.refused),
            "source": source.value,
            "source_ref": source_ref,
        },
    )
    return result


def _active_members(session: Session, member_ids: list[int]) -> set[int]:
    """On PostgreSQL: the active members among `member_ids` (sorted), each held as `hold` holds
    them (`registry.is_active`, in the order given), answered as one text: a row per member cost
    more client CPU than the rest of the issue."""
    listed = func.unnest(_listed(None, member_ids)).table_valued("id").render_derived()
    found = session.scalar(
        select(func.string_agg(sql_cast(listed.c.id, String), ",")).where(
            registry.is_active(listed.c.id)
        )
    )
    return {int(i) for i in found.split(",")} if found else set()


def _any_of(session: Session, column: Any, member_ids: list[int]) -> ColumnElement[bool]:
    """`column` is one of `member_ids`: as `bulk.any_of`, the array sent as one text."""
    if session.get_bind().dialect.name != "postgresql":
        return cast(ColumnElement[bool], column.in_(member_ids))
    return cast(ColumnElement[bool], column == any_(_listed(None, member_ids)))


def _batches(member_ids: Sequence[int]) -> Iterator[tuple[int, Sequence[int]]]:
    for offset in range(0, len(member_ids), BATCH):
        yield offset, member_ids[offset : offset + BATCH]


@dataclass
class _Run:
    session: Session
    actor: Actor
    template: CouponTemplate
    source: IssueSource
    source_ref: str
    store_id: int | None
    now: datetime
    today: date
    stock: int | None  # left to issue; None: no limit

    def issue(
        self,
        batch: Sequence[int],
        offset: int,
        result: IssueResult,
        validity: tuple[datetime, datetime],
    ) -> None:
        wanted = sorted(set(batch))
        found = self._issuable(wanted)
        held = self._held(wanted, per_day=False) if self.template.per_member_limit else None
        today = self._held(wanted, per_day=True) if self.template.per_day_limit else None
        granted = self._all_granted(batch, found, held, today)
        if granted is None:
            granted = self._granted_in_turn(batch, offset, result, found, held, today)
        issued = self._insert(granted, validity)
        result.issued += issued
        self._publish([c.id for c in issued], validity)

    def _publish(self, coupon_ids: list[int], validity: tuple[datetime, datetime]) -> None:
        """`coupon.issued` for each coupon of the batch: one INSERT … SELECT."""
        if not coupon_ids:
            return
        valid_from, valid_until = validity
        payload = events.json_object(
            self.session,
            {
                "coupon_id": COUPONS.c.id,
                "member_id": COUPONS.c.member_id,
                "template_id": self.template.id,
                "source": self.source.value,
                "source_ref": self.source_ref,
                "store_id": self.store_id,
                "valid_from": _jsonable(valid_from),
                "valid_until": _jsonable(valid_until),
                "occurred_at": _jsonable(self.now),
            },
        )
        query = (
            select(COUPONS.c.id, payload)
            .where(bulk.any_of(self.session, Coupon.id, coupon_ids))
            .order_by(COUPONS.c.id)
        )
        events.publish_from(self.session, COUPON_ISSUED, query, self.now)

    def _granted_in_turn(
        self,
        batch: Sequence[int],
        offset: int,
        result: IssueResult,
        found: set[int],
        held: Counter[int] | None,
        today: Counter[int] | None,
    ) -> list[int]:
        """The members granted a coupon, entry by entry in the order given, the refused ones
        added to `result` with why."""
        granted = []
        for i, member_id in enumerate(batch, offset):
            reason = self._refusal(member_id, found, held, today)
            if reason is not None:
                result.refused.append(IssueRefusal(i, member_id, reason))
                continue
            granted.append(member_id)
            for counts in (held, today):
                if counts is not None:
                    counts[member_id] += 1
            if self.stock is not None:
                self.stock -= 1
        return granted

    def _all_granted(
        self,
        batch: Sequence[int],
        found: set[int],
        held: Counter[int] | None,
        today: Counter[int] | None,
    ) -> list[int] | None:
        """The whole batch when it names each member once and none is refused, judged at C
        speed (entry by entry cost 2 µs a member of a million); None to take them in turn."""
        blocked: set[int] = set()
        for counts, limit in (
            (held, self.template.per_member_limit),
            (today, self.template.per_day_limit),
        ):
            if counts is not None:
                blocked.update(m for m, n in counts.items() if n >= (limit or 0))
        if len(found) < len(batch) or not blocked.isdisjoint(batch):
            return None  # someone refused; a member named twice is never in `found` twice
        if self.stock is not None:
            if self.stock < len(batch):
                return None
            self.stock -= len(batch)
        return list(batch)

    def _refusal(
        self,
        member_id: int,
        found: set[int],
        held: Counter[int] | None,
        today: Counter[int] | None,
    ) -> Reason | None:
        template = self.template
        if member_id not in found:
            return Reason.member_not_found
        if held is not None and held[member_id] >= (template.per_member_limit or 0):
            return Reason.limit_reached
        if today is not None and today[member_id] >= (template.per_day_limit or 0):
            return Reason.limit_reached
        if self.stock is not None and self.stock <= 0:
            return Reason.out_of_stock
        return None

    def _issuable(self, member_ids: list[int]) -> set[int]:
        """The active members among `member_ids` (sorted), held (key share, in id order); for an
        operator of some stores, only the members registered at those stores."""
        if self.session.get_bind().dialect.name == "postgresql":
            found = _active_members(self.session, member_ids)
        else:
            members = member_merge.hold(self.session, member_ids)
            found = {i for i, m in members.items() if m.status == MemberStatus.active}
        if self.source in OPERATOR_SOURCES and self.actor.store_ids is not None:
            visible = registry.members_by_id(self.session, found)
            found = {i for i, m in visible.items() if registry.visible(self.actor, m)}
        return found

    def _held(self, member_ids: list[int], *, per_day: bool) -> Counter[int]:
        """How many coupons of the template (void ones aside) were issued to each member: all
        of them, or those issued today. A coupon given away counts for the member it was issued
        to, not for the one who received it: gifting frees no one's quota. Those held now,
        counted by the members' index, then each transfer (few) moves one back to its giver."""
        kept = [
            Coupon.template_id == self.template.id,
            Coupon.status != CouponStatus.void.value,
        ]
        if per_day:
            kept.append(Coupon.issue_day == self.today)
        held = select(Coupon.member_id, func.count()).where(
            _any_of(self.session, Coupon.member_id, member_ids), *kept
        )
        rows = self.session.execute(held.group_by(Coupon.member_id))
        counts = Counter({member_id: count for member_id, count in rows})
        transfers = (
            select(CouponEvent.from_member_id, CouponEvent.to_member_id)
            .join(Coupon, Coupon.id == CouponEvent.coupon_id)
            .where(
                CouponEvent.kind == CouponEventKind.transfer.value,
                or_(
                    _any_of(self.session, CouponEvent.from_member_id, member_ids),
                    _any_of(self.session, CouponEvent.to_member_id, member_ids),
                ),
                *kept,
            )
        )
        for giver, receiver in self.session.execute(transfers):
            counts[cast(int, giver)] += 1
            counts[cast(int, receiver)] -= 1
        return counts

    def _insert(
        self, member_ids: list[int], validity: tuple[datetime, datetime]
    ) -> list[IssuedCoupon]:
        if not member_ids:
            return []
        ids = bulk.reserve_ids(self.session, COUPONS, len(member_ids))
        # The columns after member_id, the same on every row.
        rest = (
            CouponStatus.available.value,
            self.source.value,
            self.source_ref,
            self.store_id,
            self.actor.name,
            self.now,
            self.today,
            *validity,
            "",
        )
        dbapi: Any = self.session.get_bind().dialect.loaded_dbapi
        refused = (dbapi.IntegrityError, IntegrityError)  # the driver's, or as SQLAlchemy's
        postgresql = self.session.get_bind().dialect.name == "postgresql"
        attempt = 1
        while True:
            fresh = codes.new_codes(len(member_ids))
            savepoint = self.session.begin_nested()
            try:
                if postgresql:
                    shared = dict(zip(COLUMNS[4:], rest, strict=True))
                    arrays = {
                        name: ",".join(map(str, values))
                        for name, values in (
                            ("ids", ids),
                            ("codes", fresh),
                            ("member_ids", member_ids),
                        )
                    }
                    INSERT_UNNESTED.run(
                        self.session, {**shared, **arrays, "template_id": self.template.id}
                    )
                else:
                    rows = (
                        (coupon_id, code, self.template.id, member_id, *rest)
                        for coupon_id, code, member_id in zip(ids, fresh, member_ids, strict=True)
                    )
                    bulk.copy_rows(self.session, COUPONS, COLUMNS, rows)
            except refused:
                # A code drawn that another issue drew before (about 1 in 10^17 for a million
                # coupons among a million): draw the batch's codes again.
                savepoint.rollback()
                if attempt == CODE_ATTEMPTS:
                    raise
                attempt += 1
                continue
            savepoint.commit()
            return list(map(IssuedCoupon, ids, member_ids, fresh))


def _jsonable(value: datetime) -> str:
    """A time as the outbox's JSON writes it (pydantic's ISO form)."""
    return str(to_jsonable_python(value))
