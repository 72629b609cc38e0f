"""Demo members: realistic Chinese names, valid-format mobiles and birthdays, spread over the
last three years across the demo stores, their guides and channels. Reproducible by seed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from rich.progress import Progress
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.members.importer import ParsedRow, write_members
from patron.members.models import Channel, Gender
from patron.members.schemas import ImportReport
from patron.staff import service as staff
from patron.stores import service as stores
from patron.stores.service import StoreFilter

# The most common surnames, weighted roughly by frequency (王李张刘陈 cover about a third).
SURNAMES = (
    "王" * 72
    + "李" * 72
    + "张" * 68
    + "刘" * 53
    + "陈" * 45
    + "杨" * 31
    + "黄" * 25
    + "赵" * 22
    + "吴" * 20
    + "周" * 19
    + "徐" * 15
    + "孙" * 15
    + "马" * 14
    + "朱" * 13
    + "胡" * 12
    + "郭" * 11
    + "何" * 11
    + "高" * 10
    + "林" * 10
    + "罗" * 9
    + "郑" * 9
    + "梁" * 9
    + "谢" * 8
    + "宋" * 7
    + "唐" * 7
    + "许" * 7
    + "韩" * 6
    + "冯" * 6
    + "邓" * 6
    + "曹" * 6
    + "彭" * 5
    + "曾" * 5
    + "肖" * 5
    + "田" * 5
    + "董" * 5
    + "袁" * 5
    + "潘" * 4
    + "于" * 4
    + "蒋" * 4
    + "蔡" * 4
    + "余" * 4
    + "杜" * 4
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方")
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲桂兰萍红梅琳雪婷晶颖倩欣怡佳悦涵诗雨梦瑶琪璐"
GIVEN_MALE = "伟强磊军洋勇杰涛明超斌鹏辉刚平健浩宇轩博文俊凯泽睿哲晨阳昊然"
GIVEN_ANY = "子一思嘉志建国海春晓丹云天小新宁安若"
MOBILE_PREFIXES = (
    *("130", "131", "132", "133", "134", "135", "136", "137", "138", "139"),
    *("150", "151", "152", "153", "155", "156", "157", "158", "159", "166"),
    *("173", "176", "177", "178", "180", "181", "182", "183", "185", "186"),
    *("187", "188", "189", "191", "198", "199"),
)
CHANNELS = (Channel.store, Channel.mini_program, Channel.online)
CHANNEL_WEIGHTS = (70, 20, 10)
DEMO_MEMBERS = 20_000
YEARS = 3


def _name(rng: random.Random, gender: Gender) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choice(SURNAMES)
    pool = GIVEN_FEMALE if gender is Gender.female else GIVEN_MALE
    given = rng.choice(pool) + (rng.choice(pool + GIVEN_ANY) if rng.random() < 0.7 else "")
    return surname + given


def _birthday(rng: random.Random, today: date) -> date | None:
    if rng.random() < 0.15:
        return None  # not everyone tells
    age_days = int(rng.triangular(18, 70, 33) * 365.25)
    return today - timedelta(days=age_days)


def _registered_at(rng: random.Random, now: datetime) -> datetime:
    # Registrations grow over time: sqrt skews toward the recent end of the three years.
    fraction = rng.random() ** 0.7
    start = now - timedelta(days=365 * YEARS)
    moment = start + (now - start) * fraction
    at_hour = moment.replace(hour=rng.randint(2, 13), minute=rng.randint(0, 59))
    return at_hour if at_hour <= now else at_hour - timedelta(days=1)  # today's, not yet come


def generate(
    rng: random.Random, count: int, store_ids: list[int], guides: dict[int, list[int]]
) -> Iterator[ParsedRow]:
    now, today = clock.now(), clock.today()
    mobiles: set[str] = set()
    weights = [rng.paretovariate(1.5) for _ in store_ids]
    for number in range(1, count + 1):
        mobile = ""
        while not mobile or mobile in mobiles:
            mobile = f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randint(0, 99_999_999):08d}"
        mobiles.add(mobile)
        gender = Gender.female if rng.random() < 0.62 else Gender.male
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        store_id = None if channel is Channel.online else rng.choices(store_ids, weights)[0]
        store_guides = guides.get(store_id or 0, [])
        fields = {
            "name": _name(rng, gender),
            "gender": gender.value,
            "birthday": _birthday(rng, today),
            "store_id": store_id,
            "guide_id": rng.choice(store_guides) if store_guides and rng.random() < 0.8 else None,
            "channel": channel.value,
            "registered_at": _registered_at(rng, now),
        }
        consents = {"sms": rng.random() < 0.7, "wechat": rng.random() < 0.5}
        if rng.random() < 0.3:
            consents["email"] = rng.random() < 0.6
        yield ParsedRow(
            number=number,
            mobile=mobile,
            fields={k: v for k, v in fields.items() if v is not None},
            card_no=f"HM{number:08d}" if rng.random() < 0.4 else None,
            consents=consents,
        )


def load(session: Session, count: int = DEMO_MEMBERS, seed: int = 2026) -> ImportReport:
    rng = random.Random(seed)
    store_ids = [s.id for s in stores.list_stores(session, SYSTEM, StoreFilter(), None, 200).items]
    guides: dict[int, list[int]] = {}
    for user in staff.list_staff(session, SYSTEM, None, 200, role=Role.guide).items:
        for store_id in user.store_ids:
            guides.setdefault(store_id, []).append(user.id)
    report = ImportReport(dry_run=False, rows=count, created=0, updated=0, skipped=0, errors=[])
    with Progress(transient=True) as progress:
        task = progress.add_task("demo members", total=count)

        def tracked() -> Iterator[ParsedRow]:
            for row in generate(rng, count, store_ids, guides):
                progress.advance(task)
                yield row

        write_members(session, SYSTEM, tracked(), report, dry_run=False)
    return report
