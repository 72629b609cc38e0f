"""The demo brand 禾木生活 (Hemu Life): stores in nine cities and staff of every role."""

from __future__ import annotations

from rich.console import Console
from rich.progress import track
from rich.table import Table
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM, Role
from patron.messages import channels
from patron.messages import templates as message_templates
from patron.messages.kinds import Channel, Purpose
from patron.messages.models import MessageTemplate
from patron.staff import service as staff
from patron.staff.schemas import StaffCreate
from patron.stores import regions
from patron.stores import service as stores
from patron.stores.models import StoreStatus, StoreType
from patron.stores.schemas import RegionCreate, StoreCreate

DEMO_PASSWORD = "Demo@2026"
HQ_LOGINS = (
    ("admin", Role.hq_admin, "总部管理员"),
    ("marketing", Role.hq_marketing, "总部运营"),
    ("finance", Role.hq_finance, "财务"),
)

# (code, name, type, city, district address, phone)
STORES: tuple[tuple[str, str, StoreType, str, str, str], ...] = (
    (
        "SH001",
        "上海南京西路旗舰店",
        StoreType.owned,
        "上海",
        "静安区南京西路1266号",
        "021-62880001",
    ),
    ("SH002", "上海徐家汇店", StoreType.owned, "上海", "徐汇区虹桥路1号", "021-64070002"),
    ("SH003", "上海五角场店", StoreType.owned, "上海", "杨浦区淞沪路8号", "021-65110003"),
    ("SH004", "上海七宝店", StoreType.franchise, "上海", "闵行区漕宝路3366号", "021-64780004"),
    ("SH005", "上海浦东陆家嘴店", StoreType.owned, "上海", "浦东新区世纪大道8号", "021-68880005"),
    ("SH006", "上海嘉定店", StoreType.franchise, "上海", "嘉定区城中路123号", "021-59520006"),
    ("BJ001", "北京三里屯店", StoreType.owned, "北京", "朝阳区三里屯路19号", "010-64170001"),
    ("BJ002", "北京西单店", StoreType.owned, "北京", "西城区西单北大街131号", "010-66020002"),
    ("BJ003", "北京望京店", StoreType.franchise, "北京", "朝阳区望京街9号", "010-84720003"),
    ("BJ004", "北京五道口店", StoreType.franchise, "北京", "海淀区成府路28号", "010-62610004"),
    ("HZ001", "杭州湖滨店", StoreType.owned, "杭州", "上城区延安路258号", "0571-87010001"),
    ("HZ002", "杭州滨江店", StoreType.franchise, "杭州", "滨江区江南大道228号", "0571-86690002"),
    ("HZ003", "杭州西溪店", StoreType.franchise, "杭州", "余杭区五常大道1号", "0571-88730003"),
    ("NJ001", "南京新街口店", StoreType.owned, "南京", "秦淮区中山南路1号", "025-84700001"),
    ("NJ002", "南京河西店", StoreType.franchise, "南京", "建邺区江东中路98号", "025-86630002"),
    ("SZ001", "苏州观前街店", StoreType.owned, "苏州", "姑苏区观前街245号", "0512-67270001"),
    ("SZ002", "苏州园区店", StoreType.franchise, "苏州", "工业园区苏州大道东1号", "0512-62880002"),
    ("CD001", "成都春熙路店", StoreType.owned, "成都", "锦江区春熙路99号", "028-86650001"),
    ("CD002", "成都太古里店", StoreType.owned, "成都", "锦江区中纱帽街8号", "028-86660002"),
    (
        "CD003",
        "成都高新店",
        StoreType.franchise,
        "成都",
        "高新区天府大道北段1700号",
        "028-85180003",
    ),
    ("SZN001", "深圳万象城店", StoreType.owned, "深圳", "罗湖区宝安南路1881号", "0755-82660001"),
    ("SZN002", "深圳南山店", StoreType.franchise, "深圳", "南山区科苑南路2666号", "0755-86360002"),
    ("SZN003", "深圳福田店", StoreType.franchise, "深圳", "福田区福华三路268号", "0755-82930003"),
    ("GZ001", "广州天河城店", StoreType.owned, "广州", "天河区天河路208号", "020-85590001"),
    ("GZ002", "广州北京路店", StoreType.franchise, "广州", "越秀区北京路188号", "020-83330002"),
    ("WH001", "武汉江汉路店", StoreType.owned, "武汉", "江汉区江汉路118号", "027-82790001"),
    ("WH002", "武汉光谷店", StoreType.franchise, "武汉", "洪山区珞喻路889号", "027-87880002"),
    ("EC001", "禾木生活官方商城", StoreType.owned, "线上", "小程序与官方商城", "400-820-0001"),
)
ONLINE_STORE = "EC001"
CLOSED_STORE = "SH006"
STORE_ROLES = (
    ("manager", Role.store_manager, "店长"),
    ("cashier", Role.cashier, "收银员"),
    ("guide1", Role.guide, "导购"),
    ("guide2", Role.guide, "导购"),
)
SAMPLE_STORE = "SH001"
# (code, name, its stores, its regional manager's login); the other stores are in no region.
REGIONS = (
    (
        "EAST",
        "华东区",
        (
            "SH001",
            "SH002",
            "SH003",
            "SH004",
            "SH005",
            "SH006",
            "HZ001",
            "HZ002",
            "HZ003",
            "NJ001",
            "NJ002",
            "SZ001",
            "SZ002",
        ),
        "region.east",
    ),
    ("NORTH", "华北区", ("BJ001", "BJ002", "BJ003", "BJ004"), "region.north"),
    ("SOUTH", "华南区", ("SZN001", "SZN002", "SZN003", "GZ001", "GZ002"), "region.south"),
)
SAMPLE_REGION = "EAST"


def store_login(prefix: str, code: str) -> str:
    return f"{prefix}.{code.lower()}"


def load(session: Session, only_if_empty: bool = False) -> bool:
    """Load the demo brand; False when `only_if_empty` and stores exist already."""
    if only_if_empty and stores.count_stores(session) > 0:
        return False
    store_ids: dict[str, int] = {}
    for code, name, kind, city, address, phone in STORES:
        store = stores.create_store(
            session,
            SYSTEM,
            StoreCreate(
                code=code,
                name=name,
                type=kind,
                city=city,
                address=address,
                phone=phone,
                status=StoreStatus.closed if code == CLOSED_STORE else StoreStatus.open,
            ),
        )
        store_ids[code] = store.id

    people = [
        StaffCreate(username=u, password=DEMO_PASSWORD, display_name=n, role=r, all_stores=True)
        for u, r, n in HQ_LOGINS
    ]
    people += [
        StaffCreate(
            username=store_login(prefix, code),
            password=DEMO_PASSWORD,
            display_name=f"{name[:2]}{title}",
            role=role,
            store_ids=[store_ids[code]],
        )
        for code, name, *_ in STORES
        for prefix, role, title in STORE_ROLES
    ]
    people += _regions(session, store_ids)
    for person in track(people, description="demo staff", transient=True):
        staff.create_staff(session, SYSTEM, person)
    _messages(session)
    return True


def _regions(session: Session, store_ids: dict[str, int]) -> list[StaffCreate]:
    """The regions, and a regional manager (区域经理) for each."""
    managers = []
    for code, name, codes, login in REGIONS:
        data = RegionCreate(code=code, name=name, store_ids=[store_ids[c] for c in codes])
        region = regions.create_region(session, SYSTEM, data)
        managers.append(
            StaffCreate(
                username=login,
                password=DEMO_PASSWORD,
                display_name=f"{name}经理",
                role=Role.regional_manager,
                region_ids=[region.id],
            )
        )
    return managers


def _messages(session: Session) -> None:
    """Messages go to the log (nothing leaves the machine); the notices' default templates and
    one marketing template to try consent, quiet hours and the weekly cap with."""
    for channel in (Channel.sms, Channel.email, Channel.wechat):
        channels.put(session, SYSTEM, channel, "log", True, {})
    message_templates.ensure_defaults(session)
    session.add(
        MessageTemplate(
            code="new_season",
            channel=Channel.sms.value,
            purpose=Purpose.marketing.value,
            name="新品上市",
            body="{{ name }}，春季新品已到店，会员专享9折。回T退订",
        )
    )
    session.flush()


def logins() -> list[tuple[str, str, str]]:
    rows = [(u, DEMO_PASSWORD, f"{r.value} (all stores)") for u, r, _ in HQ_LOGINS]
    rows += [
        (store_login(prefix, SAMPLE_STORE), DEMO_PASSWORD, f"{role.value} ({SAMPLE_STORE})")
        for prefix, role, _ in STORE_ROLES[:3]
    ]
    rows += [
        (login, DEMO_PASSWORD, f"{Role.regional_manager.value} ({code} {name})")
        for code, name, _, login in REGIONS
        if code == SAMPLE_REGION
    ]
    return rows


def print_logins(console: Console) -> None:
    table = Table(
        title="Demo logins (every store has manager.<code>, cashier.<code>, guide1/guide2.<code>;"
        " every region region.<code>)"
    )
    for column in ("username", "password", "role"):
        table.add_column(column)
    for row in logins():
        table.add_row(*row)
    console.print(table)


def print_member_login(console: Console, mobile: str | None, base_url: str) -> None:
    """How to sign in to the member page as a demo member: their mobile, and where the code is."""
    if mobile:
        console.print(
            f"member page: {base_url}/m/login as {mobile.removeprefix('+86')} "
            '(the code is in the server\'s log, "template": "member_sign_in_code")'
        )
