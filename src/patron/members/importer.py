"""Member import from CSV or Excel: header mapping, row validation, batched idempotent writes,
each batch committed on its own (a run stopped midway is finished by running the file again)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache, partial
from itertools import islice
from typing import Any, cast

from pydantic_core import PydanticCustomError, to_jsonable_python
from sqlalchemy import (
    Column,
    MetaData,
    Table,
    select,
)
from sqlalchemy.orm import Session, defer
from sqlalchemy.types import NullType

from patron.audit import service as audit
from patron.core import bulk, clock, crypto, events
from patron.core.actor import Actor
from patron.core.batches import Batches, Lookups
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.tabular import DEFAULT_LIMITS, FileLimits, RowError, cell_text, read_table
from patron.members.codes import new_code_secrets
from patron.members.events import (
    MEMBER_REGISTERED,
    MEMBER_UPDATED,
    MemberUpdated,
)
from patron.members.guides import guide_refusal, may_guide
from patron.members.identities import identity_hash
from patron.members.models import (
    Channel,
    Gender,
    GuideAssignment,
    IdentityType,
    Member,
    MemberConsent,
    MemberConsentEvent,
    MemberIdentity,
    MemberStatus,
)
from patron.members.registration import default_store, name_index, set_birthday, set_name
from patron.members.registry import visible
from patron.members.schemas import (
    ImportReport,
    ImportRowError,
    normalize_email,
    normalize_mobile,
)
from patron.staff import service as staff
from patron.stores import service as stores

# Rows per batch when the caller's transaction takes them all (the demo's members).
BATCH = 1000
MEMBERS = cast(Table, Member.__table__)
IDENTITIES = cast(Table, MemberIdentity.__table__)
CONSENTS = cast(Table, MemberConsent.__table__)
CONSENT_EVENTS = cast(Table, MemberConsentEvent.__table__)
GUIDE_ASSIGNMENTS = cast(Table, GuideAssignment.__table__)
# Fields whose values an update's audit entry may show: none of them is personal data.
AUDITED_VALUES = ("store_id", "guide_id")
HEADERS = {
    "mobile": "mobile",
    "手机号": "mobile",
    "手机": "mobile",
    "手机号码": "mobile",
    "name": "name",
    "姓名": "name",
    "birthday": "birthday",
    "生日": "birthday",
    "出生日期": "birthday",
    "gender": "gender",
    "性别": "gender",
    "store": "store",
    "store_code": "store",
    "开卡门店": "store",
    "门店": "store",
    "email": "email",
    "邮箱": "email",
    "guide": "guide",
    "导购": "guide",
    "归属导购": "guide",
    "card_no": "card_no",
    "卡号": "card_no",
    "会员卡号": "card_no",
    "registered_at": "registered_at",
    "注册时间": "registered_at",
    "开卡时间": "registered_at",
}
GENDERS = {
    "男": Gender.male,
    "m": Gender.male,
    "male": Gender.male,
    "女": Gender.female,
    "f": Gender.female,
    "female": Gender.female,
    "": Gender.unknown,
    "未知": Gender.unknown,
    "unknown": Gender.unknown,
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")


# --- reading files ----------------------------------------------------------------------------


def read_rows(
    content: bytes, filename: str, limits: FileLimits = DEFAULT_LIMITS
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number as the operator sees it, {field: value}) for each data row of a CSV or .xlsx."""
    return read_table(content, filename, HEADERS, ("mobile",), limits)


# --- validating rows ---------------------------------------------------------------------------


@dataclass(slots=True)
class ParsedRow:
    number: int
    mobile: str
    fields: dict[str, Any] = field(default_factory=dict)
    card_no: str | None = None
    consents: dict[str, bool] = field(default_factory=dict)


def _calendar_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    if len(text) == 10 and text[4] == text[7] == "-":  # 2022-01-03, without strptime's cost
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return None


def _parse_date(value: Any, field_name: str) -> date:
    day = _calendar_date(value)
    if day is None:
        raise RowError(field_name, f"not a date: {cell_text(value)!r}", code=Reason.not_a_date)
    return day


def _parse_moment(value: Any, field_name: str) -> datetime:
    """A date (midnight, business time) or an ISO date-time (business time when it names no
    zone): `2022-01-03`, `2022/01/03`, `2022-01-03T09:00:00+08:00`, an Excel date cell."""
    if isinstance(value, datetime):
        moment = value
    elif (day := _calendar_date(value)) is not None:
        moment = datetime.combine(day, time())
    else:
        try:
            moment = datetime.fromisoformat(cell_text(value))
        except ValueError as exc:
            reason = f"not a date or date-time: {cell_text(value)!r}"
            raise RowError(field_name, reason, code=Reason.not_a_datetime) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.business_tz())
    try:
        moment.astimezone(UTC)
    except OverflowError as exc:
        raise RowError(field_name, "is out of range", code=Reason.out_of_range) from exc
    return moment


def _personal_fields(row: dict[str, Any], fields: dict[str, Any]) -> None:
    """Name, birthday, gender and e-mail address into `fields`."""
    if name := cell_text(row.get("name")):
        if len(name) > 50:
            raise RowError("name", "longer than 50 characters", code=Reason.too_long)
        fields["name"] = name
    raw = row.get("birthday")
    if text := cell_text(raw):
        birthday = _parse_date(text if isinstance(raw, str) else raw, "birthday")
        if birthday > clock.today():
            raise RowError("birthday", "is in the future", code=Reason.in_future)
        fields["birthday"] = birthday
    if "gender" in row:
        text = cell_text(row["gender"])
        gender = GENDERS.get(text.lower())
        if gender is None:
            raise RowError("gender", f"not a gender: {text!r} (男/女)", code=Reason.not_a_gender)
        fields["gender"] = gender.value
    if email := cell_text(row.get("email")):
        try:
            fields["email"] = normalize_email(email)
        except PydanticCustomError as exc:
            raise RowError.coded("email", exc) from exc


class RowParser:
    """Rows to members; a store code or a guide is looked up once, in a short transaction of
    its own (`lookups`), so that reading the file holds no lock."""

    def __init__(self, lookups: Lookups, actor: Actor) -> None:
        self.lookups, self.actor = lookups, actor
        self._stores: dict[str, int | None] = {}
        self._guides: dict[str, int | None] = {}

    def parse(self, number: int, row: dict[str, Any]) -> ParsedRow:
        """The row's fields, each cell read once; RowError for the first field refused."""
        try:
            mobile = normalize_mobile(cell_text(row.get("mobile")))
        except PydanticCustomError as exc:
            raise RowError.coded("mobile", exc) from exc
        parsed = ParsedRow(number, mobile, card_no=cell_text(row.get("card_no")) or None)
        _personal_fields(row, parsed.fields)
        if store := cell_text(row.get("store")):
            parsed.fields["store_id"] = self._store(store)
        if guide := cell_text(row.get("guide")):
            parsed.fields["guide_id"] = self._guide(guide)
        if cell_text(row.get("registered_at")):
            parsed.fields["registered_at"] = _parse_moment(row["registered_at"], "registered_at")
        return parsed

    def _store(self, code: str) -> int:
        if code not in self._stores:
            try:
                with self.lookups() as session:
                    self._stores[code] = stores.ids_for_codes(session, [code])[0]
            except InvalidInput:
                self._stores[code] = None
        store_id = self._stores[code]
        if store_id is None or not self.actor.sees_store(store_id):
            raise RowError("store", f"no store {code!r} in your scope", code=Reason.unknown_store)
        return store_id

    def _guide(self, username: str) -> int:
        """An active store staff user; whether they work in the member's store is checked when
        the row is written, once the registering store is known."""
        if username not in self._guides:
            with self.lookups() as session:
                user = staff.find_by_username(session, username)
                self._guides[username] = user.id if user is not None and may_guide(user) else None
        guide_id = self._guides[username]
        if guide_id is None:
            raise RowError(
                "guide", f"no active store staff user {username!r}", code=Reason.unknown_guide
            )
        return guide_id


# --- writing -------------------------------------------------------------------------------------


def _batches(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def import_members(
    batches: Batches, actor: Actor, rows: Iterable[tuple[int, dict[str, Any]]], dry_run: bool
) -> ImportReport:
    """Create members by mobile, update those whose file values differ, skip the rest,
    `batches.size` rows per transaction.

    Idempotent: a second run of the same file finds every row unchanged. Invalid rows are
    reported with row number, field and reason and never written.
    """
    parser = RowParser(batches.read, actor)
    report = ImportReport(dry_run=dry_run, rows=0, created=0, updated=0, skipped=0, errors=[])
    rows_read = 0  # counted here, not on the report (a model): it is read once per batch

    def parsed_rows() -> Iterator[ParsedRow]:
        nonlocal rows_read
        for number, row in rows:
            rows_read += 1
            try:
                yield parser.parse(number, row)
            except RowError as error:
                _row_error(report.errors, number, error)

    repeats, names, statistics = Repeats(), NameIndexes(), _statistics()
    for batch in _batches(parsed_rows(), batches.size):
        report.rows = rows_read
        work = partial(
            _write_batch,
            actor=actor,
            parsed=repeats.first_of(batch, report),
            dry_run=dry_run,
            names=names,
            statistics=statistics,
        )
        batches.write(work, report.rows).add_to(report)
    report.rows = rows_read
    report.errors.sort(key=lambda error: error.row)
    if not dry_run:
        batches.write(lambda session: _audit(session, actor, report), report.rows)
    return report


def write_members(
    session: Session,
    actor: Actor,
    parsed: Iterable[ParsedRow],
    report: ImportReport,
    dry_run: bool,
) -> None:
    """Write validated rows in the caller's transaction, in batches of BATCH."""
    repeats, names, statistics = Repeats(), NameIndexes(), _statistics()
    for batch in _batches(parsed, BATCH):
        unique = repeats.first_of(batch, report)
        _write_batch(session, actor, unique, dry_run, names, statistics).add_to(report)
    report.errors.sort(key=lambda error: error.row)
    if not dry_run:
        _audit(session, actor, report)


@dataclass
class Repeats:
    """A mobile or card number a file repeats is an error on the later row, in a dry run as in
    a real one."""

    mobiles: dict[str, int] = field(default_factory=dict)
    cards: dict[str, int] = field(default_factory=dict)

    def first_of(self, batch: list[ParsedRow], report: ImportReport) -> list[ParsedRow]:
        unique = []
        for item in batch:
            if item.mobile in self.mobiles:
                reason = f"same mobile as row {self.mobiles[item.mobile]}"
                error = RowError("mobile", reason, code=Reason.duplicate_row)
                _row_error(report.errors, item.number, error)
                continue
            self.mobiles[item.mobile] = item.number
            if item.card_no is not None:
                if item.card_no in self.cards:
                    reason = f"same card number as row {self.cards[item.card_no]}"
                    error = RowError("card_no", reason, code=Reason.duplicate_row)
                    _row_error(report.errors, item.number, error)
                    continue
                self.cards[item.card_no] = item.number
            unique.append(item)
        return unique


class NameIndexes:
    """`name_index` for the names of one run, each prefix hashed once: surnames and the
    common first characters of given names repeat. At most LIMIT hashes are kept, so that a
    million-row file stays within memory."""

    LIMIT = 1 << 16

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}

    def __call__(self, name: str | None) -> dict[str, str | None]:
        return name_index(name, self._index)

    def _index(self, kind: str, value: str) -> str:
        found = self._known.get((kind, value))
        if found is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            found = self._known[kind, value] = crypto.blind_index(kind, value)
        return found


def _audit(session: Session, actor: Actor, report: ImportReport) -> None:
    """The import's own entry, with its counts (each member written has its own)."""
    audit.record(
        session,
        actor,
        "member.import",
        "member_import",
        clock.now().strftime("%Y%m%dT%H%M%S"),
        after=report.model_dump(include={"rows", "created", "updated", "skipped"})
        | {"errors": len(report.errors)},
    )


def _row_error(errors: list[ImportRowError], number: int, error: RowError) -> None:
    errors.append(ImportRowError.model_validate(error.as_report(number)))


@dataclass
class BatchOutcome:
    """What one batch did, added to the report once its transaction commits (a batch run
    again after losing a race counts once)."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[ImportRowError] = field(default_factory=list)

    def add_to(self, report: ImportReport) -> None:
        report.created += self.created
        report.updated += self.updated
        report.skipped += self.skipped
        report.errors += self.errors


@dataclass
class _Batch:
    """What one batch writes besides the members themselves, for one statement per table."""

    session: Session
    actor: Actor
    # One time for the batch's rows: one transaction, and one value to process for the column.
    now: datetime = field(default_factory=clock.now)
    guides: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    # Guides looked up once per batch, not once per row.
    staff_by_id: dict[int, Any] = field(default_factory=dict)

    def check_guide(self, guide_id: int, store_id: int | None) -> None:
        """The API's rule for a member's guide (`guide_refusal`)."""
        if guide_id not in self.staff_by_id:
            self.staff_by_id[guide_id] = staff.find_active(self.session, guide_id)
        refusal = guide_refusal(self.staff_by_id[guide_id], guide_id, store_id)
        if refusal:
            code, reason = refusal
            raise RowError("guide", reason, code=code)

    def guide(self, member_id: int, guide_id: int | None, previous: int | None, why: str) -> None:
        self.guides.append(
            {
                "member_id": member_id,
                "guide_id": guide_id,
                "previous_guide_id": previous,
                "assigned_by": self.actor.name,
                "reason": why,
                "assigned_at": self.now,
            }
        )

    def audit(
        self,
        action: str,
        member_id: int,
        store_id: int | None,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        self.audits.append(
            audit.entry_values(
                self.actor,
                action,
                "member",
                member_id,
                store_id=store_id,
                before=before,
                after=after,
            )
        )

    def flush(self) -> None:
        _insert(self.session, GUIDE_ASSIGNMENTS, self.guides)
        _insert(self.session, audit.ENTRIES, self.audits)


def _statistics() -> bulk.FreshStatistics:
    return bulk.FreshStatistics(MEMBERS, cast(Table, MemberIdentity.__table__))


def _write_batch(
    session: Session,
    actor: Actor,
    parsed: list[ParsedRow],
    dry_run: bool,
    names: NameIndexes,
    statistics: bulk.FreshStatistics,
) -> BatchOutcome:
    with events.batched(session):  # the updated members' events in one statement
        return _write_rows(session, actor, parsed, dry_run, names, statistics)


def _write_rows(
    session: Session,
    actor: Actor,
    parsed: list[ParsedRow],
    dry_run: bool,
    names: NameIndexes,
    statistics: bulk.FreshStatistics,
) -> BatchOutcome:
    statistics.before_lookups(session)
    mobile_hashes = crypto.cipher().blind_indexes("mobile", [item.mobile for item in parsed])
    hashes = dict(zip(mobile_hashes, parsed, strict=True))
    existing = {
        member.mobile_hash: member
        for member in session.scalars(
            # A row never compares or changes these two: not decrypted.
            select(Member)
            .options(defer(Member.mobile), defer(Member.code_secret))
            .where(bulk.any_of(session, Member.mobile_hash, list(hashes)))
        )
    }
    cards = {i.card_no: identity_hash(IdentityType.card_no, i.card_no) for i in parsed if i.card_no}
    taken_cards = _taken_cards(session, cards)
    writes = _Batch(session, actor)
    outcome = BatchOutcome()
    new_rows = []
    for mobile_hash, item in hashes.items():
        member = existing.get(mobile_hash)
        try:
            if member is None:
                new_rows.append(
                    _new_member_row(actor, item, mobile_hash, taken_cards, names, writes)
                )
            else:
                _update_member(session, actor, member, item, outcome, writes, dry_run)
        except RowError as error:
            _row_error(outcome.errors, item.number, error)
    outcome.created = len(new_rows)
    if dry_run:
        return outcome
    if new_rows:
        _insert_members(session, new_rows, hashes, cards, writes)
        statistics.grew(len(new_rows))
    writes.flush()
    # The updated members' events (collected by the batch), then the new members' (set-based).
    events.write_pending(session)
    if new_rows:
        _publish_registered(session, [row["id"] for row in new_rows], writes.now)
    return outcome


def _publish_registered(session: Session, member_ids: list[int], now: datetime) -> None:
    """`member.registered` for each member the batch created, in one INSERT … SELECT: ids, store
    and channel; the mobile and name (encrypted in the rows) are not carried from an import."""
    payload = events.json_object(
        session,
        {
            "member_id": MEMBERS.c.id,
            "store_id": MEMBERS.c.store_id,
            "channel": MEMBERS.c.channel,
            "source": "import",
            "mobile": None,
            "name": None,
            "occurred_at": str(to_jsonable_python(now)),
        },
    )
    query = (
        select(MEMBERS.c.id, payload)
        .where(bulk.any_of(session, Member.id, member_ids))
        .order_by(MEMBERS.c.id)
    )
    # Journeys welcome members who register, not a file of members migrated from elsewhere.
    events.publish_from(session, MEMBER_REGISTERED, query, now, subscribers_skipped=True)


def _update_member(
    session: Session,
    actor: Actor,
    member: Member,
    item: ParsedRow,
    outcome: BatchOutcome,
    writes: _Batch,
    dry_run: bool,
) -> None:
    # Mobiles are unique chain-wide: a row may only touch a member in the caller's scope.
    if not visible(actor, member):
        raise RowError(
            "mobile",
            "already registered: belongs to a member of another store",
            code=Reason.member_of_other_store,
        )
    changes = {k: v for k, v in _comparable(item.fields).items() if _current(member, k) != v}
    if not changes or member.status != MemberStatus.active:
        outcome.skipped += 1
        return
    if "guide_id" in item.fields and ("guide_id" in changes or "store_id" in changes):
        writes.check_guide(item.fields["guide_id"], item.fields.get("store_id", member.store_id))
    outcome.updated += 1
    if dry_run:
        return
    before = {k: _current(member, k) for k in AUDITED_VALUES if k in changes}
    if "guide_id" in changes:
        writes.guide(member.id, changes["guide_id"], member.guide_id, "import")
    _apply(member, changes)
    update = MemberUpdated(
        member_id=member.id,
        store_id=member.store_id,
        fields=tuple(sorted(changes)),
        mobile=None,  # an import finds members by their mobile: it never changes one
        name=changes.get("name"),
        occurred_at=writes.now,
    )
    events.publish(session, MEMBER_UPDATED, member.id, update)
    writes.audit(
        "member.update",
        member.id,
        member.store_id,
        before or None,
        {"fields": sorted(changes)} | {k: changes[k] for k in AUDITED_VALUES if k in changes},
    )


def _insert_members(
    session: Session,
    new_rows: list[dict[str, Any]],
    hashes: dict[str, ParsedRow],
    cards: dict[str, str],
    writes: _Batch,
) -> None:
    # The ids are taken first, so that the rows that name the new members are built without
    # reading them back; then one COPY or executemany per table.
    identities, created = [], []
    ids, secrets = (
        bulk.reserve_ids(session, MEMBERS, len(new_rows)),
        new_code_secrets(len(new_rows)),
    )
    for member_id, secret, row in zip(ids, secrets, new_rows, strict=True):
        row["id"], row["code_secret"] = member_id, secret
        item = hashes[row["mobile_hash"]]
        created.append((member_id, item))
        store_id, guide_id = row["store_id"], row["guide_id"]
        if guide_id is not None:
            writes.guide(member_id, guide_id, None, "开卡")
        writes.audit(
            "member.register",
            member_id,
            store_id,
            None,
            {"channel": row["channel"], "store_id": store_id, "guide_id": guide_id},
        )
        if item.card_no:
            identities.append(
                {
                    "member_id": member_id,
                    "type": IdentityType.card_no.value,
                    "issuer": "",
                    "value_hash": cards[item.card_no],
                    "value": item.card_no,
                    "created_at": writes.now,
                }
            )
    _insert(session, MEMBERS, new_rows)
    _insert(session, IDENTITIES, identities)
    _insert_consents(session, created, writes.now)


def _insert_consents(session: Session, created: list[tuple[int, ParsedRow]], now: datetime) -> None:
    def rows() -> list[dict[str, Any]]:
        return [
            {
                "member_id": member_id,
                "channel": channel,
                "granted": granted,
                "source": "import",
                "recorded_at": item.fields.get("registered_at") or now,
            }
            for member_id, item in created
            for channel, granted in item.consents.items()
        ]

    _insert(session, CONSENTS, rows())
    _insert(session, CONSENT_EVENTS, rows())


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """`bulk.insert_rows`, the column types' bind processing done first, in place, a column
    at a time: the PII encrypted as one batch (`PiiCipher.encrypt_many`), any other value once
    per distinct value (a batch's times are mostly one), then the rows inserted as stored."""
    if not rows:
        return
    dialect = session.connection().dialect
    for column in table.columns:
        if column.name not in rows[0]:
            continue
        if isinstance(column.type, crypto.EncryptedString):
            sealed = crypto.cipher().encrypt_many([row[column.name] for row in rows])
            for row, value in zip(rows, sealed, strict=True):
                row[column.name] = value
        elif (process := column.type._cached_bind_processor(dialect)) is not None:  # noqa: SLF001
            _process_column(rows, column.name, process)
    bulk.insert_rows(session, _stored_form(table), rows)


def _process_column(rows: list[dict[str, Any]], name: str, process: Callable[[Any], Any]) -> None:
    done: dict[tuple[type, Any], Any] = {}
    for row in rows:
        value = row[name]
        # A flat JSON object is keyed by its items; a deeper one is processed each time.
        key = (dict, tuple(value.items())) if isinstance(value, dict) else (type(value), value)
        try:
            row[name] = done[key]
        except KeyError:
            row[name] = done[key] = process(value)
        except TypeError:  # unhashable
            row[name] = process(value)


@cache
def _stored_form(table: Table) -> Table:
    """`table`'s columns as their values are stored: nothing left for a bind processor."""
    return Table(table.name, MetaData(), *(Column(c.name, NullType()) for c in table.columns))


def _taken_cards(session: Session, cards: dict[str, str]) -> set[str]:
    """The card numbers (of {card number: its identity hash}) another member holds."""
    by_hash = {value_hash: card for card, value_hash in cards.items()}
    taken = session.scalars(
        select(MemberIdentity.value_hash).where(
            MemberIdentity.type == IdentityType.card_no.value,
            bulk.any_of(session, MemberIdentity.value_hash, list(by_hash)),
        )
    )
    return {by_hash[h] for h in taken}


def _comparable(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "birthday" in out:
        out["birthday"] = out["birthday"].isoformat()
    out.pop("registered_at", None)  # the registration time of an existing member stays
    return out


def _current(member: Member, key: str) -> Any:
    return getattr(member, key)


def _apply(member: Member, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if key == "name":
            set_name(member, value)
        elif key == "birthday":
            set_birthday(member, date.fromisoformat(value))
        else:
            setattr(member, key, value)


def _new_member_row(
    actor: Actor,
    item: ParsedRow,
    mobile_hash: str,
    taken_cards: set[str],
    names: NameIndexes,
    writes: _Batch,
) -> dict[str, Any]:
    """The row of a member to create, or RowError: the API's rules for a registration."""
    fields = item.fields
    if item.card_no in taken_cards:
        raise RowError(
            "card_no", "card number belongs to another member", code=Reason.identity_taken
        )
    if "store_id" in fields:
        store_id = fields["store_id"]
    else:
        try:
            store_id = default_store(actor)
        except InvalidInput as exc:
            reason = "choose the registering store (开卡门店)"
            raise RowError("store", reason, code=Reason.missing) from exc
    if fields.get("guide_id") is not None:
        writes.check_guide(fields["guide_id"], store_id)
    name = fields.get("name")
    birthday: date | None = fields.get("birthday")
    now = writes.now
    return {
        "status": "active",
        "mobile_hash": mobile_hash,
        "mobile": item.mobile,
        "name": name,
        **names(name),
        "gender": fields.get("gender", Gender.unknown.value),
        "birthday": birthday.isoformat() if birthday else None,
        "birthday_md": birthday.strftime("%m-%d") if birthday else None,
        "email": fields.get("email"),
        "store_id": store_id,
        "opening_guide_id": fields.get("guide_id"),
        "guide_id": fields.get("guide_id"),
        "channel": fields.get("channel", Channel.import_.value),
        "registered_at": fields.get("registered_at", now),
        "created_at": now,
        "updated_at": now,
    }
