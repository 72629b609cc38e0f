"""The console's gettext catalogs agree with the code, with each other and with their .mo files;
and Babel formats numbers, money and times for each language. No browser needed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from patron.catalog.service import PRODUCT_HEADERS
from patron.console import i18n
from patron.console.i18n import LOCALE_DIR, LOCALES, translator
from patron.console.web import templates
from patron.core import clock
from patron.core.actor import Role
from patron.members.models import (
    AttributeType,
    Channel,
    ConsentChannel,
    Gender,
    IdentityType,
    MemberStatus,
)
from patron.orders import importer
from patron.orders.models import OrderChannel, OrderStatus, PaymentMethod
from patron.points.models import EntryKind, ExpiryPolicy, RuleEffect
from patron.stores.models import StoreStatus, StoreType
from patron.tags.models import TagKind
from patron.tags.service import SOURCE

ROOT = Path(__file__).parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def po_path(lang: str) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / "messages.po"


def read_catalog(lang: str) -> Catalog:
    with po_path(lang).open("rb") as source:
        return read_po(source, locale=LOCALES[lang])


def messages(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)


def key(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def forms(message: Message) -> tuple[str, ...]:
    """The translation's forms: one, or one per plural form (a list when read from a .mo)."""
    string = message.string
    return tuple(string) if isinstance(string, list | tuple) else (string,)


def extracted_ids() -> set[str]:
    """The ids `make messages-extract` finds, with the mapping and keywords it uses."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    makefile = (ROOT / "Makefile").read_text()
    keywords_line = re.search(r"^EXTRACT_KEYWORDS := (.*)$", makefile, re.MULTILINE)
    assert keywords_line is not None
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update(parse_keywords(keywords_line[1].replace("-k ", "").split()))
    found = extract_from_dir(ROOT, method_map, options_map, keywords)
    return {m if isinstance(m, str) else m[0] for _file, _line, m, _comments, _ctx in found}


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {lang: read_catalog(lang) for lang in LOCALES}


def test_every_message_id_is_translated_in_both_catalogs(catalogs: dict[str, Catalog]) -> None:
    used = extracted_ids()
    for lang, catalog in catalogs.items():
        ids = {key(m) for m in messages(catalog)}
        assert used - ids == set(), f"missing from {lang}"
        # What extraction does not find, `make messages-update` would retire.
        assert ids - used == set(), f"not found in the code, {lang}"
        assert [key(m) for m in messages(catalog) if m.fuzzy] == [], f"fuzzy in {lang}"
        untranslated = [key(m) for m in messages(catalog) if not all(forms(m))]
        assert untranslated == [], f"untranslated in {lang}"


def test_both_languages_take_the_same_placeholders(catalogs: dict[str, Catalog]) -> None:
    def placeholders(message: Message) -> set[str]:
        return {name for form in forms(message) for name in PLACEHOLDER.findall(form)}

    zh = {key(m): m for m in messages(catalogs["zh"])}
    for message in messages(catalogs["en"]):
        assert placeholders(message) == placeholders(zh[key(message)]), key(message)
        # A "{name}" placeholder from before the catalogs would show as written.
        assert not any(re.search(r"\{\w+\}", form) for form in forms(message)), key(message)


def test_every_message_survives_the_formatting_its_caller_applies(
    catalogs: dict[str, Catalog],
) -> None:
    """Every message goes through `%` with its parameters: a bare `%` ("20% of buyers") must
    be written `%%`, or the page answers 500."""
    for catalog in catalogs.values():
        for message in messages(catalog):
            for form in forms(message):
                bare = PLACEHOLDER.sub("", form).replace("%%", "")
                assert "%" not in bare, key(message)


def test_plural_messages_have_every_form_of_their_language(
    catalogs: dict[str, Catalog],
) -> None:
    for catalog in catalogs.values():
        plurals = [m for m in messages(catalog) if m.pluralizable]
        assert plurals
        assert {len(forms(m)) for m in plurals} == {catalog.num_plurals}


def test_compiled_catalogs_match_their_sources(catalogs: dict[str, Catalog]) -> None:
    for lang, catalog in catalogs.items():
        with po_path(lang).with_suffix(".mo").open("rb") as compiled:
            mo = read_mo(compiled)
        assert {key(m): forms(m) for m in messages(mo)} == {
            key(m): forms(m) for m in messages(catalog)
        }, f"run make messages-compile ({lang})"


def test_ids_built_from_values_exist() -> None:
    """Ids pages build from a value, as in _("role." ~ user.role): one per value."""
    built = {f"role.{r}" for r in Role}
    built |= {f"store_type.{k}" for k in StoreType} | {f"store_status.{s}" for s in StoreStatus}
    built |= {f"gender.{g}" for g in Gender} | {f"channel.{c}" for c in Channel}
    built |= {f"consent_channel.{c}" for c in ConsentChannel}
    built |= {f"identity_type.{i}" for i in IdentityType}
    built |= {f"member_status.{s}" for s in MemberStatus}
    built |= {f"attr_type.{a}" for a in AttributeType}
    built |= {f"points.rules.attr_hint.{a}" for a in AttributeType}
    built |= {f"order_status.{s}" for s in OrderStatus}
    built |= {f"order_channel.{c}" for c in OrderChannel}
    built |= {f"payment_method.{m}" for m in PaymentMethod}
    built |= {f"column.{name}" for name in (*importer.HEADERS.values(), *PRODUCT_HEADERS.values())}
    built |= {f"points.kind.{k}" for k in EntryKind}
    built |= {f"expiry_policy.{p}" for p in ExpiryPolicy}
    built |= {f"expiry_policy.{p}.hint" for p in ExpiryPolicy}
    built |= {f"rule.effect.{e}" for e in RuleEffect} | {
        f"rule.effect_text.{e}" for e in RuleEffect
    }
    built |= {f"weekday.{d}" for d in range(1, 8)}
    built |= {f"tag_kind.{k}" for k in TagKind} | {f"tag_source.{s}" for s in SOURCE.values()}
    for lang in LOCALES:
        assert {k for k in built if i18n.catalog(lang).gettext(k) == k} == set(), lang


def test_plurals_follow_the_language() -> None:
    en, zh = translator("en"), translator("zh")
    one = en.ngettext("timeline.points", "timeline.points", 1, kind="Spent", points="-1")
    many = en.ngettext("timeline.points", "timeline.points", 500, kind="Spent", points="-500")
    assert (one, many) == ("Spent -1 point", "Spent -500 points")
    assert zh.ngettext("timeline.points", "timeline.points", 1, kind="使用", points="-1") == (
        "使用 -1 分"
    )


def test_numbers_money_and_times_follow_the_language() -> None:
    en, zh = translator("en"), translator("zh")
    assert (zh.num(12500), en.num(12500)) == ("12,500", "12,500")
    assert (zh.yuan(1250050), en.yuan(1250050)) == ("¥12,500.50", "¥12,500.50")
    assert en.yuan(-1250) == "-¥12.50"
    assert zh.yuan(None) == "—"
    assert (zh.percent(12.25), en.percent(100)) == ("12.2%", "100.0%")
    # 02:05 UTC is 10:05 in Shanghai, the business time zone.
    at = datetime(2025, 6, 18, 2, 5, tzinfo=UTC)
    # CLDR puts a narrow no-break space before AM.
    assert (zh.moment(at), en.moment(at)) == ("2025年6月18日 10:05", "Jun 18, 2025, 10:05\u202fAM")
    assert (zh.day(at), en.day(at)) == ("2025年6月18日", "Jun 18, 2025")
    clock.set_business_timezone("Europe/London")
    try:
        assert en.moment(at) == "Jun 18, 2025, 3:05\u202fAM"
    finally:
        clock.set_business_timezone("Asia/Shanghai")


def test_pages_in_both_languages_render_at_once() -> None:
    """The template's `_` follows the language of the page it renders, not a global."""
    page = templates.env.from_string(
        '{{ _("nav.dashboard") }}|{{ ngettext("timeline.points", "timeline.points", n,'
        ' kind=_("points.kind.burn"), points=n) }}'
    )
    expected = {"zh": "概览|使用 2 分", "en": "Dashboard|Spent 2 points"}

    def render(lang: str) -> tuple[str, str]:
        return lang, page.render(lang=lang, n=2)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(render, ["zh", "en"] * 200))
    assert all(text == expected[lang] for lang, text in results)
