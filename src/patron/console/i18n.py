"""The console's languages: Simplified Chinese (the default) and English.

The words live in gettext catalogs under `locale/` (see the Makefile's `messages-*` targets);
message ids are symbolic ("nav.dashboard") and both catalogs carry the real text. Numbers, money
and times are formatted by Babel for the page's locale, in the business time zone.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal, format_percent
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from patron.core import clock

DEFAULT_LANG = "zh"
LOCALES = {"zh": "zh_CN", "en": "en"}
LANG_NAMES = {"zh": "简体中文", "en": "English"}
HTML_LANG = {"zh": "zh-CN", "en": "en"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
NOTHING = "—"


@cache
def catalog(lang: str) -> gettext.GNUTranslations:
    """The compiled catalog of `lang`; a missing .mo file is an error, not English."""
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[LOCALES[lang]])


@cache
def babel_locale(lang: str) -> Locale:
    return Locale.parse(LOCALES[lang])


@dataclass(frozen=True)
class Translator:
    """The words and formats of one language: `t(key, **params)`, `t.ngettext(...)`, `t.num(...)`.

    Messages take `%(name)s` placeholders, as gettext and Jinja's `_()` do.
    """

    lang: str

    def __call__(self, key: str, **params: Any) -> str:
        return catalog(self.lang).gettext(key) % params

    def ngettext(self, singular: str, plural: str, count: int, **params: Any) -> str:
        return catalog(self.lang).ngettext(singular, plural, count) % params

    @property
    def locale(self) -> Locale:
        return babel_locale(self.lang)

    def num(self, value: int | None) -> str:
        """A whole number with the locale's grouping: 12,500."""
        return NOTHING if value is None else format_decimal(value, locale=self.locale)

    def yuan(self, fen: int | None) -> str:
        """An amount in fen as money in yuan: ¥12,500.50. The chain's staff read ¥ in either
        language, so the symbol is not CLDR's English "CN¥"."""
        if fen is None:
            return NOTHING
        amount = format_decimal(Decimal(abs(fen)) / 100, "#,##0.00", locale=self.locale)
        return f"{'-' if fen < 0 else ''}¥{amount}"

    def percent(self, value: float) -> str:
        """A share given in per cent, to one decimal: 12.5%."""
        return format_percent(value / 100, "#,##0.0%", locale=self.locale)

    def moment(self, value: datetime | None) -> str:
        """An instant in the business time zone, to the minute: 2025年6月18日 10:00."""
        if value is None:
            return NOTHING
        local = value.astimezone(clock.business_tz())
        glue = self.locale.datetime_formats["medium"]
        return str(glue).format(
            format_time(local, "short", locale=self.locale),
            format_date(local, "medium", locale=self.locale),
        )

    def day(self, value: datetime | None) -> str:
        """The calendar day of an instant in the business time zone: 2025年6月18日."""
        if value is None:
            return NOTHING
        return format_date(value.astimezone(clock.business_tz()), "medium", locale=self.locale)


@cache
def translator(lang: str) -> Translator:
    return Translator(lang if lang in LOCALES else DEFAULT_LANG)


def has_key(key: str) -> bool:
    """Whether the catalogs know `key`: gettext answers an unknown id with the id itself."""
    return catalog(DEFAULT_LANG).gettext(key) != key


def num(value: int | None) -> str:
    """A whole number for texts built without a translator at hand; the console's languages
    group digits alike."""
    return translator(DEFAULT_LANG).num(value)


# The page's language comes from its context, so pages in both languages render at once.
@pass_context
def _gettext(context: Context, message: str) -> str:
    return catalog(context["lang"]).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return catalog(context["lang"]).ngettext(singular, plural, count)


def install_gettext(env: Environment) -> None:
    """`_` and `ngettext` in the templates of `env`, in the language of the page rendered."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
