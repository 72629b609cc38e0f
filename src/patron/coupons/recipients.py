"""The lists an operator issues to: member ids, mobiles (pasted, or a file's column), or a CSV or
Excel file with a `member_id` or a `mobile` column. Each entry is resolved to a member, and each
refused entry is answered with what named it: the member id, the mobile, the file's row."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.ids import parse_row_id
from patron.core.reasons import Reason
from patron.core.tabular import DEFAULT_LIMITS, FileLimits, read_records, record_text
from patron.coupons.issuing import issue_coupons
from patron.coupons.models import IssueSource
from patron.members import references
from patron.members.schemas import normalize_mobile

HEADERS = {
    "member_id": "member_id",
    "会员id": "member_id",
    "会员编号": "member_id",
    "mobile": "mobile",
    "手机号": "mobile",
    "手机": "mobile",
    "手机号码": "mobile",
}


@dataclass(frozen=True)
class Recipient:
    """One entry of a list: a member id, or a mobile as written; `row` in a file."""

    member_id: int | None = None
    mobile: str | None = None
    row: int | None = None


@dataclass(frozen=True)
class ListRefusal:
    member_id: int | None
    code: Reason
    mobile: str | None = None
    row: int | None = None


@dataclass
class ListResult:
    issued: int = 0
    refused: list[ListRefusal] = field(default_factory=list)


def issue_to_members(
    session: Session,
    actor: Actor,
    template_id: int,
    member_ids: Sequence[int],
    *,
    store_id: int | None = None,
) -> ListResult:
    """An operator's issue to a list of member ids (source `manual`)."""
    recipients = [Recipient(member_id=i) for i in member_ids]
    return issue_to_list(session, actor, template_id, recipients, store_id=store_id)


def issue_to_mobiles(
    session: Session,
    actor: Actor,
    template_id: int,
    mobiles: Sequence[str],
    *,
    store_id: int | None = None,
) -> ListResult:
    """An operator's issue to a list of mobiles (source `manual`): one that is no mobile is
    refused `not_a_mobile`, one no active member holds `member_not_found`."""
    recipients = [Recipient(mobile=m) for m in mobiles]
    return issue_to_list(session, actor, template_id, recipients, store_id=store_id)


def issue_from_file(
    session: Session,
    actor: Actor,
    template_id: int,
    content: bytes,
    filename: str,
    *,
    store_id: int | None = None,
    limits: FileLimits = DEFAULT_LIMITS,
) -> ListResult:
    """An issue to the rows of a CSV or .xlsx file (source `upload`, the file's name kept as
    the source's reference)."""
    recipients = list(read_recipients(content, filename, limits))
    return issue_to_list(
        session,
        actor,
        template_id,
        recipients,
        source=IssueSource.upload,
        source_ref=filename[:64],
        store_id=store_id,
    )


def read_recipients(content: bytes, filename: str, limits: FileLimits) -> Iterator[Recipient]:
    """The file's rows, from its `member_id` column, else its `mobile` column."""
    for column in ("member_id", "mobile"):
        rows = read_records(content, filename, HEADERS, (column,), (column,), limits)
        try:
            first = next(rows, None)
        except InvalidInput as error:
            if error.extra["errors"][0]["code"] == Reason.columns_missing:
                continue
            raise
        for number, (cell,) in chain([first] if first else [], rows):
            value = record_text(cell)
            if column == "mobile":
                yield Recipient(mobile=value, row=number)
            else:
                yield Recipient(member_id=parse_row_id(value), row=number)
        return
    raise InvalidInput(
        "file", "the header row needs a member_id or a mobile column", code=Reason.columns_missing
    )


def issue_to_list(
    session: Session,
    actor: Actor,
    template_id: int,
    recipients: Sequence[Recipient],
    *,
    source: IssueSource = IssueSource.manual,
    source_ref: str = "",
    store_id: int | None = None,
) -> ListResult:
    """Resolve each entry to a member and issue to them all in one `issue_coupons` call."""
    result = ListResult()
    member_ids: list[int] = []
    asked: list[Recipient] = []  # the entry behind each of member_ids
    by_mobile = _mobiles(session, actor, [r.mobile for r in recipients if r.mobile is not None])
    for recipient in recipients:
        member_id, code = recipient.member_id, None
        if recipient.mobile is not None:
            member_id, code = by_mobile[recipient.mobile]
        if code is not None or member_id is None:
            result.refused.append(_refusal(recipient, None, code or Reason.member_not_found))
            continue
        member_ids.append(member_id)
        asked.append(recipient)
    issued = issue_coupons(
        session,
        actor,
        template_id,
        member_ids,
        source=source,
        source_ref=source_ref,
        store_id=store_id,
    )
    result.issued = len(issued.issued)
    for refusal in issued.refused:
        result.refused.append(_refusal(asked[refusal.index], refusal.member_id, refusal.code))
    result.refused.sort(key=lambda r: r.row or 0)
    return result


def _refusal(recipient: Recipient, member_id: int | None, code: Reason) -> ListRefusal:
    if recipient.mobile is not None:  # the member a mobile named stays unsaid
        member_id = None
    elif member_id is None and recipient.member_id:
        member_id = recipient.member_id
    return ListRefusal(member_id, code, recipient.mobile, recipient.row)


def _mobiles(
    session: Session, actor: Actor, written: list[str]
) -> dict[str, tuple[int | None, Reason | None]]:
    """Each mobile as written: (the active member holding it, None), or (None, why not): no
    mobile at all (`not_a_mobile`), or none the caller may read holds it, active
    (`member_not_found`). Resolved as the members domain resolves any list of references
    (`members.references`: a merged number leads to the survivor)."""
    found: dict[str, tuple[int | None, Reason | None]] = {}
    e164s: dict[str, list[str]] = {}
    for mobile in set(written):
        try:
            e164s.setdefault(normalize_mobile(mobile), []).append(mobile)
        except ValueError:
            found[mobile] = (None, Reason.not_a_mobile)
    numbers = sorted(e164s)
    named = references.resolve_references(session, actor, [f"mobile:{n}" for n in numbers])
    for number, resolved in zip(numbers, named, strict=True):
        for mobile in e164s[number]:
            if resolved.member_id is None:
                found[mobile] = (None, Reason.member_not_found)
            else:
                found[mobile] = (resolved.member_id, None)
    return found
