from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.crypto import blind_index
from patron.core.settings import Settings
from patron.members import attributes, privacy, registry
from patron.members import merge as member_merge
from patron.members.models import Member
from patron.members.schemas import AttributeCreate, normalize_mobile
from tests.factories import make_member, make_staff, make_store, staff_headers


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+86 138-1234-5678",
        "+8613812345678",
        "138 1234 5678",
        "(+86)13812345678",  # as POS systems write it
        "0086 13812345678",
        "１３８１２３４５６７８",  # full-width, as Chinese input methods type it
        "＋86 138.1234.5678",
    ],
)
def test_mobile_forms_normalize_to_e164(raw: str) -> None:
    assert normalize_mobile(raw) == "+8613812345678"


@pytest.mark.parametrize(
    "raw", ["12812345678", "1381234567", "+1 415 555 0100", "abc", "0213456789"]
)
def test_non_mainland_mobiles_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="mobile|phone"):
        normalize_mobile(raw)


@pytest.mark.parametrize(
    "raw",
    ["138-1234-ABCD", "1381234567O", "13812345678 ext. 99", "13812345678;ext=99", "13812345678#9"],
)
def test_letters_and_extensions_are_not_mobiles(raw: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        normalize_mobile(raw)


def register(client: TestClient, headers: dict[str, str], **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/members", json={"mobile": "13812345678", "name": "张三", **body}, headers=headers
    )
    return {**response.json(), "http": response.status_code}


def test_register_and_duplicate_mobile(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    headers = staff_headers(make_staff(session), settings)
    first = register(
        client,
        headers,
        store_id=store.id,
        gender="male",
        birthday="1990-05-12",
        consents={"sms": True},
    )
    assert first["http"] == 201
    assert first["mobile"] == "13812345678"
    assert first["consents"][0]["channel"] == "sms"
    again = register(client, headers, mobile="+86 138-1234-5678", name="李四")
    assert again["http"] == 409
    assert again["code"] == "member_exists"
    assert again["member_id"] == first["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mobile": "12345"}, "mobile"),
        ({"birthday": "2999-01-01"}, "birthday"),
        ({"store_id": 987654}, "store_id"),
        ({"guide_id": 987654}, "guide_id"),
        ({"email": "not-an-email"}, "email"),
        ({"store_id": 2**31}, "store_id"),
        ({"guide_id": 2**31}, "guide_id"),
    ],
)
def test_invalid_registrations_name_the_field(
    client: TestClient,
    session: Session,
    settings: Settings,
    body: dict,
    field: str,  # type: ignore[type-arg]
) -> None:
    headers = staff_headers(make_staff(session), settings)
    result = register(client, headers, **body)
    assert result["http"] == 422
    assert result["errors"][0]["field"] == field
    assert session.scalar(select(Member.id)) is None


def test_cashier_registration_defaults_to_their_store_and_is_masked(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    cashier = make_staff(session, Role.cashier, [store])
    result = register(client, staff_headers(cashier, settings))
    assert result["store_id"] == store.id
    assert result["mobile"] == "138****5678"
    assert result["name"] == "张*"
    assert result["pii_masked"] is True


def test_masked_or_full_by_role_and_reveal_is_audited(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session), make_store(session)
    member = make_member(session, a, mobile="13912345678", name="欧阳娜娜", birthday="1995-03-08")
    seen = {}
    for key, user in {
        "admin": make_staff(session),
        "manager_a": make_staff(session, Role.store_manager, [a]),
        "marketing": make_staff(session, Role.hq_marketing),
        "cashier_a": make_staff(session, Role.cashier, [a]),
    }.items():
        seen[key] = client.get(
            f"/api/v1/members/{member.id}", headers=staff_headers(user, settings)
        ).json()
    assert seen["admin"]["mobile"] == seen["manager_a"]["mobile"] == "13912345678"
    assert seen["admin"]["name"] == "欧阳娜娜"
    assert seen["marketing"]["mobile"] == seen["cashier_a"]["mobile"] == "139****5678"
    assert seen["marketing"]["name"] == "欧***"
    assert seen["marketing"]["birthday"] == "****-03-08"
    manager_b = make_staff(session, Role.store_manager, [b])
    assert (
        client.get(
            f"/api/v1/members/{member.id}", headers=staff_headers(manager_b, settings)
        ).status_code
        == 404
    )
    reveals = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "member.reveal_pii")
    ).all()
    assert len(reveals) == 2


def test_lists_are_always_masked(client: TestClient, session: Session, settings: Settings) -> None:
    make_member(session, mobile="13912345678")
    items = client.get(
        "/api/v1/members", headers=staff_headers(make_staff(session), settings)
    ).json()["items"]
    assert items[0]["mobile"] == "139****5678"


def test_identities_find_the_member(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    member = make_member(session, mobile="13912345678")
    for identity in (
        {"type": "card_no", "value": "8800123"},
        {"type": "wechat_openid", "value": "oAbC123"},
        {"type": "wechat_unionid", "value": "uXyZ9"},
        {"type": "external_id", "issuer": "tmall", "value": "TM-1"},
    ):
        response = client.post(
            f"/api/v1/members/{member.id}/identities", json=identity, headers=headers
        )
        assert response.status_code == 201, response.json()
    for query in (
        "mobile=139-1234-5678",
        "card_no=8800123",
        "openid=oAbC123",
        "unionid=uXyZ9",
        "external_id=TM-1&issuer=tmall",
    ):
        items = client.get(f"/api/v1/members?{query}", headers=headers).json()["items"]
        assert [m["id"] for m in items] == [member.id], query
    assert (
        client.get("/api/v1/members?external_id=TM-1&issuer=jd", headers=headers).json()["items"]
        == []
    )
    other = make_member(session)
    taken = client.post(
        f"/api/v1/members/{other.id}/identities",
        json={"type": "card_no", "value": "8800123"},
        headers=headers,
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "identity_taken"


def test_search_by_name_prefix_and_filters(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session), make_store(session)
    headers = staff_headers(make_staff(session), settings)
    zhang = make_member(session, a, name="张伟")
    zhang_long = make_member(session, b, name="张小明")
    make_member(session, a, name="李娜")
    assert {
        m["id"] for m in client.get("/api/v1/members?q=张", headers=headers).json()["items"]
    } == {zhang.id, zhang_long.id}
    assert [
        m["id"] for m in client.get("/api/v1/members?q=张小", headers=headers).json()["items"]
    ] == [zhang_long.id]
    assert [
        m["id"]
        for m in client.get(f"/api/v1/members?q=张&store_id={a.id}", headers=headers).json()[
            "items"
        ]
    ] == [zhang.id]
    manager_b = staff_headers(make_staff(session, Role.store_manager, [b]), settings)
    assert [m["id"] for m in client.get("/api/v1/members", headers=manager_b).json()["items"]] == [
        zhang_long.id
    ]


def test_registration_date_filter_and_cursor(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ids = []
    for day in range(5):
        with clock.frozen(start + timedelta(days=day)):
            ids.append(make_member(session).id)
    window = {
        "registered_from": (start + timedelta(days=1)).isoformat(),
        "registered_to": (start + timedelta(days=3)).isoformat(),
    }
    found = client.get("/api/v1/members", params=window, headers=headers).json()["items"]
    assert [m["id"] for m in found] == [ids[2], ids[1]]
    page = client.get("/api/v1/members?limit=2", headers=headers).json()
    rest = client.get(
        f"/api/v1/members?limit=10&cursor={page['next_cursor']}", headers=headers
    ).json()
    assert [m["id"] for m in page["items"] + rest["items"]] == ids[::-1]


def test_member_code_is_short_lived(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    member = make_member(session)
    issued_at = datetime(2026, 6, 1, 12, 0, 10, tzinfo=UTC)
    with clock.frozen(issued_at):
        issued = client.post(f"/api/v1/members/{member.id}/code", headers=headers).json()
    assert issued["expires_at"].startswith("2026-06-01T12:02:00")
    code = issued["code"]
    for later, status in ((0, 200), (60, 200), (180, 404), (24 * 3600, 404)):
        with clock.frozen(issued_at + timedelta(seconds=later)):
            response = client.get(f"/api/v1/member-codes/{code}", headers=headers)
        assert response.status_code == status, later
    with clock.frozen(issued_at + timedelta(seconds=180)):
        assert (
            client.get(f"/api/v1/member-codes/{code}", headers=headers).json()["code"]
            == "member_code_invalid"
        )
    with clock.frozen(issued_at):
        assert client.get(f"/api/v1/member-codes/{code}", headers=headers).json()["id"] == member.id
        forged = code[:-1] + str((int(code[-1]) + 1) % 10)
        assert client.get(f"/api/v1/member-codes/{forged}", headers=headers).status_code == 404


def test_custom_attributes_are_validated(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    for body in (
        {
            "code": "skin",
            "label": "肤质",
            "type": "single_choice",
            "options": ["干性", "油性", "混合"],
        },
        {"code": "baby_birthday", "label": "宝宝生日", "type": "date"},
        {"code": "id_card", "label": "身份证号", "type": "text", "is_pii": True},
        {"code": "hobbies", "label": "爱好", "type": "multi_choice", "options": ["跑步", "瑜伽"]},
        {"code": "job", "label": "职业", "type": "text", "required": True},
    ):
        assert (
            client.post("/api/v1/member-attributes", json=body, headers=headers).status_code == 201
        )
    missing = register(client, headers, attributes={"skin": "干性"})
    assert missing["http"] == 422
    assert missing["errors"][0]["field"] == "attributes.job"
    wrong = register(client, headers, attributes={"job": "教师", "skin": "中性"})
    assert wrong["errors"][0]["field"] == "attributes.skin"
    ok = register(
        client,
        headers,
        attributes={
            "job": "教师",
            "skin": "干性",
            "baby_birthday": "2024-02-29",
            "id_card": "310101199001011234",
            "hobbies": ["瑜伽"],
        },
    )
    assert ok["http"] == 201
    assert ok["attributes"]["id_card"] == "310101199001011234"
    marketing = staff_headers(make_staff(session, Role.hq_marketing), settings)
    masked = client.get(f"/api/v1/members/{ok['id']}", headers=marketing).json()["attributes"]
    assert masked["id_card"] != "310101199001011234"
    assert masked["skin"] == "干性"


def test_consent_history_and_current_state(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    member = make_member(session, consents={"sms": True, "wechat": True})
    client.put(
        f"/api/v1/members/{member.id}/consents",
        json={"channel": "sms", "granted": False, "source": "短信退订"},
        headers=headers,
    )
    current = {
        c["channel"]: c["granted"]
        for c in client.get(f"/api/v1/members/{member.id}", headers=headers).json()["consents"]
    }
    assert current == {"sms": False, "wechat": True}
    history = client.get(f"/api/v1/members/{member.id}/consents/history", headers=headers).json()
    assert [(h["channel"], h["granted"]) for h in history] == [
        ("sms", True),
        ("wechat", True),
        ("sms", False),
    ]
    assert history[-1]["source"] == "短信退订"


def test_guide_reassignment_keeps_history(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    headers = staff_headers(make_staff(session), settings)
    first, second = (
        make_staff(session, Role.guide, [store]),
        make_staff(session, Role.guide, [store]),
    )
    member = make_member(session, store, guide_id=first.id)
    moved = client.put(
        f"/api/v1/members/{member.id}/guide",
        json={"guide_id": second.id, "reason": "离职交接"},
        headers=headers,
    )
    assert moved.json()["guide_id"] == second.id
    history = client.get(f"/api/v1/members/{member.id}/guide-history", headers=headers).json()
    assert [(h["previous_guide_id"], h["guide_id"]) for h in history] == [
        (None, first.id),
        (first.id, second.id),
    ]
    detail = client.get(f"/api/v1/members/{member.id}", headers=headers).json()
    assert detail["opening_guide_id"] == first.id
    assert [
        m["id"]
        for m in client.get(f"/api/v1/members?guide_id={second.id}", headers=headers).json()[
            "items"
        ]
    ] == [member.id]


def test_merge_moves_identities_consents_and_attributes(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    client.post(
        "/api/v1/member-attributes",
        json={"code": "skin", "label": "肤质", "type": "text"},
        headers=headers,
    )
    target = make_member(session, mobile="13900000001", consents={"sms": False})
    with clock.frozen(clock.now() + timedelta(minutes=5)):
        source = make_member(
            session,
            mobile="13900000002",
            consents={"sms": True, "email": True},
            identities=[{"type": "wechat_openid", "value": "oSRC"}],
            attributes={"skin": "油性"},
        )
    merged = client.post(
        "/api/v1/members/merge",
        json={"source_id": source.id, "target_id": target.id},
        headers=headers,
    )
    assert merged.status_code == 200
    body = merged.json()
    assert [i["value"] for i in body["identities"]] == ["oSRC"]
    assert {c["channel"]: c["granted"] for c in body["consents"]} == {"sms": True, "email": True}
    assert body["attributes"] == {"skin": "油性"}
    old = client.get(f"/api/v1/members/{source.id}", headers=headers).json()
    assert old["status"] == "merged"
    assert old["merged_into_id"] == target.id
    assert [
        m["id"] for m in client.get("/api/v1/members?openid=oSRC", headers=headers).json()["items"]
    ] == [target.id]
    assert [
        m["id"]
        for m in client.get("/api/v1/members?mobile=13900000002", headers=headers).json()["items"]
    ] == [target.id]
    assert register(client, headers, mobile="13900000002")["member_id"] == target.id
    again = client.post(
        "/api/v1/members/merge",
        json={"source_id": source.id, "target_id": target.id},
        headers=headers,
    )
    assert again.json()["code"] == "member_not_active"
    assert (
        session.scalar(select(AuditEntry.id).where(AuditEntry.action == "member.merge")) is not None
    )


def test_merge_runs_what_other_domains_register(session: Session) -> None:
    moved: list[tuple[int, int]] = []

    @member_merge.on_merge.register("test.domain")
    def _move(_: Session, source: Member, target: Member) -> None:
        moved.append((source.id, target.id))

    try:
        a, b = make_member(session), make_member(session)
        member_merge.merge_members(session, SYSTEM, a.id, b.id)
    finally:
        member_merge.on_merge.unregister("test.domain")
    assert moved == [(a.id, b.id)]


def test_erase_frees_the_mobile_and_leaves_no_readable_pii(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    member = make_member(
        session,
        mobile="13912345678",
        name="王小丫",
        email="wxy@example.com",
        birthday="1990-01-02",
        identities=[{"type": "card_no", "value": "CARD-1"}],
        consents={"sms": True},
    )
    exported = client.get(f"/api/v1/members/{member.id}/export", headers=headers).json()
    assert exported["member"]["mobile"] == "+8613912345678"
    assert exported["identities"][0]["value"] == "CARD-1"
    assert exported["consent_history"][0]["granted"] is True

    erased = client.post(f"/api/v1/members/{member.id}/erase", json={}, headers=headers)
    assert erased.json()["status"] == "erased"
    assert register(client, headers, mobile="13912345678")["http"] == 201
    assert client.get("/api/v1/members?card_no=CARD-1", headers=headers).json()["items"] == []
    after = client.get(f"/api/v1/members/{member.id}/export", headers=headers).json()
    assert after["member"]["mobile"] is None
    assert after["member"]["name"] is None


def _dump(session: Session) -> str:
    tables = ("members", "member_identities", "member_attribute_values", "audit_entries")
    return " ".join(
        str(row) for table in tables for row in session.execute(text(f"SELECT * FROM {table}"))
    )


SECRETS = (
    "13912345678",
    "王小丫",
    "wxy@example.com",
    "1990-01-02",
    "CARD-777",
    "310101199001021234",
)


def _member_with_pii(session: Session) -> Member:
    attributes.create_attribute(
        session,
        SYSTEM,
        AttributeCreate(code="id_card", label="身份证号", type="text", is_pii=True),
    )
    return make_member(
        session,
        mobile="13912345678",
        name="王小丫",
        email="wxy@example.com",
        birthday="1990-01-02",
        identities=[{"type": "card_no", "value": "CARD-777"}],
        attributes={"id_card": "310101199001021234"},
    )


def test_database_holds_no_readable_pii(session: Session) -> None:
    _member_with_pii(session)
    session.flush()
    dump = _dump(session)
    for secret in SECRETS:
        assert secret not in dump


def test_erasure_leaves_no_pii_anywhere(session: Session) -> None:
    member = _member_with_pii(session)
    privacy.erase_member(session, SYSTEM, member.id, "本人申请注销")
    session.flush()
    assert blind_index("mobile", "+8613912345678") not in _dump(session)  # no lookup left
    assert registry.find_by_mobile(session, "+8613912345678") is None
    erased = session.get(Member, member.id)
    assert erased is not None
    assert (erased.name, erased.email, erased.birthday) == (None, None, None)
    assert attributes.attributes_of(session, member.id) == {}


def test_timeline_collects_what_happened(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    headers = staff_headers(make_staff(session), settings)
    guide = make_staff(session, Role.guide, [store])
    with clock.frozen(datetime(2026, 1, 1, tzinfo=UTC)):
        member = make_member(session, store, consents={"sms": True})
    with clock.frozen(datetime(2026, 2, 1, tzinfo=UTC)):
        client.put(
            f"/api/v1/members/{member.id}/guide", json={"guide_id": guide.id}, headers=headers
        )
    events = client.get(f"/api/v1/members/{member.id}/timeline", headers=headers).json()
    assert events[0]["kind"] == "guide"
    assert events[0]["data"]["guide_id"] == guide.id
    assert {(e["kind"], e["summary"]) for e in events[1:]} == {
        ("registered", "registered"),
        ("consent", "consent_granted"),
    }


def test_staff_of_several_stores_must_name_the_registering_store(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session), make_store(session)
    headers = staff_headers(make_staff(session, Role.store_manager, [a, b]), settings)
    assert register(client, headers)["errors"][0]["field"] == "store_id"
    assert register(client, headers, store_id=b.id)["store_id"] == b.id


@pytest.mark.parametrize(
    "code",
    [
        "0000000001" + "١٢٣٤٥٦٧٨",  # Arabic-Indic digits pass str.isdigit()
        "²" * 18,
        "999999999912345678",  # a member id beyond the id column's range
    ],
)
def test_member_codes_are_ascii_digits_with_a_possible_id(
    client: TestClient, session: Session, settings: Settings, code: str
) -> None:
    headers = staff_headers(make_staff(session), settings)
    make_member(session)
    response = client.get(f"/api/v1/member-codes/{code}", headers=headers)
    assert response.status_code == 404
    assert response.json()["code"] == "member_code_invalid"


def test_guide_must_work_in_the_members_store(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session), make_store(session)
    guide_b = make_staff(session, Role.guide, [b])
    cashier_a = staff_headers(make_staff(session, Role.cashier, [a]), settings)
    refused = register(client, cashier_a, guide_id=guide_b.id)
    assert refused["http"] == 422
    assert refused["errors"][0]["field"] == "guide_id"
    member = make_member(session, a)
    manager_a = staff_headers(make_staff(session, Role.store_manager, [a]), settings)
    moved = client.put(
        f"/api/v1/members/{member.id}/guide", json={"guide_id": guide_b.id}, headers=manager_a
    )
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "guide_id"
    guide_a = make_staff(session, Role.guide, [a, b])
    assert register(client, cashier_a, guide_id=guide_a.id)["guide_id"] == guide_a.id


def test_erase_also_erases_members_merged_into_it(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    first = make_member(session, mobile="13911116661", name="赵六")
    second = make_member(session, mobile="13911116662", name="赵六")
    survivor = make_member(session, mobile="13911116663", name="赵六")
    member_merge.merge_members(session, SYSTEM, first.id, second.id)
    member_merge.merge_members(session, SYSTEM, second.id, survivor.id)
    erased = client.post(f"/api/v1/members/{survivor.id}/erase", json={}, headers=headers)
    assert erased.status_code == 200
    for mobile in ("13911116661", "13911116662"):
        assert register(client, headers, mobile=mobile)["http"] == 201
    for member in (first, second):
        session.refresh(member)
        assert (member.name, member.mobile, member.status) == (None, None, "erased")
    erasures = session.scalars(
        select(AuditEntry.entity_id).where(AuditEntry.action == "member.erase")
    ).all()
    assert sorted(erasures) == sorted(str(m.id) for m in (first, second, survivor))


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity"])
def test_number_attributes_are_finite(
    client: TestClient, session: Session, settings: Settings, value: bytes
) -> None:
    headers = staff_headers(make_staff(session), settings)
    client.post(
        "/api/v1/member-attributes",
        json={"code": "height", "label": "身高", "type": "number"},
        headers=headers,
    )
    response = client.post(
        "/api/v1/members",
        content=b'{"mobile": "13911117771", "name": "x", "attributes": {"height": %s}}' % value,
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "attributes.height"


def test_blank_name_on_update_is_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    member = make_member(session, name="张伟")
    response = client.patch(f"/api/v1/members/{member.id}", json={"name": "   "}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"
    session.refresh(member)
    assert member.name == "张伟"


@pytest.mark.parametrize(
    ("body", "reason"),
    [({}, "member request (PIPL)"), (None, "member request (PIPL)"), ({"reason": "本人"}, "本人")],
    ids=["empty json", "no body", "reason"],
)
def test_erase_takes_an_empty_or_missing_body(
    client: TestClient,
    session: Session,
    settings: Settings,
    body: dict[str, str] | None,
    reason: str,
) -> None:
    headers = staff_headers(make_staff(session), settings)
    member = make_member(session)
    erased = client.post(f"/api/v1/members/{member.id}/erase", json=body, headers=headers)
    assert erased.status_code == 200, erased.text
    entry = client.get(
        "/api/v1/audit",
        params={"entity_type": "member", "entity_id": str(member.id), "action": "member.erase"},
        headers=headers,
    ).json()["items"][0]
    assert entry["after"]["reason"] == reason
