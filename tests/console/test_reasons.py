"""The console says field errors by their stable codes, and ledger facts from their columns."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from patron.console.forms import form_errors
from patron.console.i18n import translator
from patron.console.member_forms import member_errors
from patron.console.points_view import reason_text
from patron.core.errors import InvalidInput
from patron.core.reasons import PYDANTIC_TYPES, Reason, for_pydantic
from patron.members.schemas import MemberCreate
from patron.points.models import EntryKind


def test_every_code_is_snake_case_and_says_itself() -> None:
    for reason in Reason:
        assert reason.value == reason.name
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", reason.value)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_console_has_words_for_every_code(lang: str) -> None:
    t = translator(lang)
    assert [r.value for r in Reason if t(f"error.{r.value}") in ("", f"error.{r.value}")] == []


def test_pydantic_types_and_custom_codes_map_to_codes() -> None:
    assert for_pydantic("string_too_long") is Reason.too_long
    assert for_pydantic("not_a_mobile") is Reason.not_a_mobile
    assert for_pydantic("a_type_pydantic_adds_later") is Reason.invalid
    assert set(PYDANTIC_TYPES.values()) <= set(Reason)


def test_a_service_refusal_is_said_by_its_code_not_its_words() -> None:
    zh, en = translator("zh"), translator("en")
    error = InvalidInput("birthday", "words that may change", code=Reason.in_future)
    assert form_errors(error, zh).fields == {"birthday": zh("error.in_future")}
    assert form_errors(error, en).fields == {"birthday": en("error.in_future")}


def test_a_schema_rule_is_said_by_its_code() -> None:
    with pytest.raises(ValidationError) as caught:
        MemberCreate(mobile="12345", name="张三", email="nope")
    en = translator("en")
    fields = member_errors(caught.value, en).fields
    assert (fields["mobile"], fields["email"]) == (
        en("error.not_a_mobile"),
        en("error.not_an_email"),
    )


def test_ledger_reasons_come_from_the_entry_columns() -> None:
    en = translator("en")
    merge_out, merge_in = EntryKind.merge_out.value, EntryKind.merge_in.value
    assert reason_text(merge_out, "", 12, 0, en) == "Merged into member #12"
    assert reason_text(merge_in, "", 11, 0, en) == "Merged from member #11"
    assert reason_text(EntryKind.earn.value, "", None, 300, en) == "300 of them paid off debt"
    assert reason_text(EntryKind.adjust.value, "投诉补偿", None, 0, en) == "投诉补偿"
    assert reason_text(EntryKind.expire.value, "expired", None, 0, en) == ""
