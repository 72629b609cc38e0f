"""Text that cannot be stored or shown as sent (NUL and the other control characters,
bidirectional overrides, invisible names) is refused with 422 naming the field wherever it enters
through the API: bodies, query strings, paths, headers, the sign-in and import files. Nothing of
it reaches the database: PostgreSQL answered 500 for a NUL, SQLite stored it."""

from __future__ import annotations

import itertools
import re
import sys
import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema_rs import validator_for
from pydantic import AfterValidator, BaseModel, BeforeValidator, TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import text
from patron.core.db import Base
from patron.core.reasons import Reason
from patron.core.settings import Settings
from patron.core.text import TEXT_CHECKS, Unchecked, refusal, trim
from patron.stores.models import Store
from tests.factories import make_member, make_staff, make_store, order_body, staff_headers
from tests.uploads import report_of, upload

CONTROL = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]
LINE_BREAKS = ["\t", "\n", "\r"]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
_seq = itertools.count(1)


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("char", CONTROL)
def test_single_line_text_refuses_every_control_character(char: str) -> None:
    found = refusal(f"ab{char}c")
    assert found is not None
    assert found.code is Reason.control_character
    assert f"U+{ord(char):04X} at character 3" in found.message


@pytest.mark.parametrize("char", sorted(set(CONTROL) - set(LINE_BREAKS)))
def test_multi_line_text_refuses_the_control_characters_but_tab_and_line_breaks(char: str) -> None:
    found = refusal(f"ab{char}c", multiline=True)
    assert found is not None
    assert found.code is Reason.control_character
    assert refusal("first line\r\nsecond\tline", multiline=True) is None


@pytest.mark.parametrize("char", BIDI)
def test_bidirectional_overrides_and_isolates_are_refused_in_any_text(char: str) -> None:
    for multiline in (False, True):
        found = refusal(f"invoice{char}fdp.exe", multiline=multiline)
        assert found is not None
        assert found.code is Reason.bidi_override


@pytest.mark.parametrize(
    "value", ["张伟", "Zoë O'Brien", "👨\u200d👩\u200d👧 家", "می\u200cخواهم", "\u200e(LRM)", "a b"]
)
def test_ordinary_text_passes(value: str) -> None:
    assert refusal(value) is None


def test_line_separators_are_line_breaks() -> None:
    for separator in ("\u2028", "\u2029"):
        assert refusal(f"a{separator}b") is not None
        assert refusal(f"a{separator}b", multiline=True) is None


def test_trim_removes_whitespace_and_zero_width_characters_at_the_ends_only() -> None:
    assert trim(" \ufeff\u200b 张\u200d伟\u2060 \n") == "张\u200d伟"
    assert trim("".join(ZERO_WIDTH)) == ""


# --- the rule as the OpenAPI document publishes it ----------------------------------------------

# Text near the rule's edges (blank names, refused characters among others), and anything else.
BLANK = [*ZERO_WIDTH, " ", "\xa0", "\u3000", "\u2028", "\u2029"]
edgy_text = st.one_of(
    st.text(alphabet=st.sampled_from([*BLANK, "a"]), max_size=6),
    st.text(alphabet=st.sampled_from([*CONTROL, *BIDI, *BLANK, "a", "店", "\u200e"]), max_size=8),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
)
TEXT_TYPES = {
    name: getattr(text, name)
    for name in (
        "SingleLine",
        "MultiLine",
        "Label",
        "Name",
        "SingleLineOrNone",
        "LabelOrNone",
        "NameOrNone",
    )
}


def published_pattern(kind: Any) -> str:
    schema = TypeAdapter(kind).json_schema()
    [pattern] = {
        option["pattern"] for option in schema.get("anyOf", [schema]) if "pattern" in option
    }
    return pattern


@pytest.mark.parametrize("kind", TEXT_TYPES.values(), ids=TEXT_TYPES.keys())
@settings(max_examples=300, deadline=None)
@given(value=edgy_text)
def test_a_text_type_publishes_the_pattern_of_exactly_what_its_check_takes(
    kind: Any, value: str
) -> None:
    """Read as JSON Schema reads it (ECMA-262; jsonschema_rs, schemathesis' validator) and as
    Python's re reads it, the pattern matches the strings the type takes and no other."""
    pattern = published_pattern(kind)
    try:
        TypeAdapter(kind).validate_python(value)
        taken = True
    except ValidationError:
        taken = False
    assert validator_for({"type": "string", "pattern": pattern}).is_valid(value) is taken
    assert (re.fullmatch(pattern, value) is not None) is taken


@settings(max_examples=500, deadline=None)
@given(value=edgy_text)
def test_the_patterns_and_refusal_agree(value: str) -> None:
    assert (re.fullmatch(text.SINGLE_LINE_PATTERN, value) is not None) is (refusal(value) is None)
    multi = re.fullmatch(text.MULTI_LINE_PATTERN, value) is not None
    assert multi is (refusal(value, multiline=True) is None)
    named = re.fullmatch(text.NAME_PATTERN, value) is not None
    assert named is (refusal(value) is None and trim(value) != "")


def test_space_is_what_str_strip_removes() -> None:
    every = [chr(c) for c in range(sys.maxunicode + 1)]
    space = re.compile(f"[{text.SPACE}]")
    assert [c for c in every if space.match(c)] == [c for c in every if c.isspace()]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | edgy_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(edgy_text, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(edgy_text, json_values, max_size=3))
def test_a_text_map_publishes_what_it_takes_at_any_depth(value: dict[str, Any]) -> None:
    adapter = TypeAdapter(text.TextMap)
    try:
        adapter.validate_python(value)
        taken = True
    except ValidationError:
        taken = False
    assert validator_for(adapter.json_schema()).is_valid(value) is taken


# --- every request schema's text is checked ----------------------------------------------------


def _is_check(metadata: object) -> bool:
    if isinstance(metadata, Unchecked):
        return True
    validators = (BeforeValidator, AfterValidator)
    return isinstance(metadata, validators) and metadata.func in TEXT_CHECKS


def _holes(annotation: Any, metadata: list[Any], where: str, seen: set[type]) -> list[str]:
    """The places under `annotation` where text arrives without a check."""
    if any(_is_check(m) for m in metadata):
        return []
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *more = get_args(annotation)
        return _holes(inner, more, where, seen)
    if annotation is str or annotation is Any:
        return [where]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_holes(annotation, seen)
    if origin is Literal:
        return []
    return [
        hole
        for n, arg in enumerate(get_args(annotation))
        for hole in _holes(arg, [], f"{where}[{n}]", seen)
    ]


def model_holes(model: type[BaseModel], seen: set[type] | None = None) -> list[str]:
    seen = set() if seen is None else seen
    if model in seen:
        return []
    seen.add(model)
    return [
        hole
        for name, field in model.model_fields.items()
        for hole in _holes(field.annotation, field.metadata, f"{model.__name__}.{name}", seen)
    ]


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def routes(app: FastAPI) -> list[RouteContext]:
    """Every API and console route, with its full path."""
    return [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)]


def request_models(app: FastAPI) -> set[type[BaseModel]]:
    models: set[type[BaseModel]] = set()
    for route in routes(app):
        for dependant in _dependants(route.dependant):
            for param in dependant.body_params:
                annotation = param.field_info.annotation
                candidates = [annotation, *get_args(annotation)]
                models |= {
                    c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)
                }
    return models


def test_every_text_field_of_every_request_body_is_checked(app: FastAPI) -> None:
    models = request_models(app)
    assert {"StoreCreate", "MemberCreate", "OrderCreate", "RuleIn", "LoginRequest"} <= {
        m.__name__ for m in models
    }
    assert [hole for model in models for hole in model_holes(model)] == []


def test_the_schema_walk_finds_unchecked_text() -> None:
    class Careless(BaseModel):
        note: str
        tags: list[str] | None = None
        extra: dict[str, Any] = {}
        count: int = 0

    assert model_holes(Careless) == [
        "Careless.note",
        "Careless.tags[0][0]",
        "Careless.extra[0]",
        "Careless.extra[1]",
    ]


# --- path, query and headers: every text parameter of every route -----------------------------


def _is_text(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_text(a) for a in get_args(annotation))
    return annotation is str


def text_params(app: FastAPI) -> list[tuple[str, str, str, str]]:
    """(method, path template, location, name) of every text parameter a route reads."""
    found = set()
    for route in routes(app):
        method = sorted(route.methods or ["GET"])[0]
        for dependant in _dependants(route.dependant):
            for location, params in (
                ("path", dependant.path_params),
                ("query", dependant.query_params),
                ("header", dependant.header_params),
            ):
                found |= {
                    (method, route.path_format, location, param.alias)
                    for param in params
                    if _is_text(param.field_info.annotation)
                }
    return sorted(found)


def test_every_text_parameter_of_every_route_refuses_what_text_cannot_hold(
    app: FastAPI, client: TestClient
) -> None:
    params = text_params(app)
    assert {
        ("GET", "/api/v1/member-codes/{code}", "path", "code"),
        ("GET", "/api/v1/stores", "query", "city"),
        ("GET", "/api/v1/members", "query", "q"),
        ("GET", "/api/v1/audit", "query", "entity_type"),
        ("POST", "/api/v1/orders", "header", "idempotency-key"),
        ("GET", "/console/members", "query", "q"),
    } <= set(params)
    wrong = [
        (method, path, name, bad, answer)
        for method, path, location, name in params
        for bad in ("a\x00b", "a\x1bb", "a\u202eb")
        if (answer := _refusal_of(client, method, path, location, name, bad)) is not None
    ]
    assert wrong == []


def _refusal_of(
    client: TestClient, method: str, path: str, location: str, name: str, bad: str
) -> str | None:
    """None when the request is refused as it should be, else what it answered."""
    values = {p: "1" for p in _placeholders(path)}
    params: dict[str, str] = {}
    headers: dict[str, bytes] = {}
    seen = bad
    if location == "path":
        values[name] = quote(bad)
    elif location == "query":
        params[name] = bad
    else:  # sent as UTF-8, read as Latin-1 (as HTTP headers are)
        headers[name] = bad.encode()
        seen = headers[name].decode("latin-1")
    response = client.request(method, path.format(**values), params=params, headers=headers)
    if response.status_code != 422:
        return f"{response.status_code} {response.text[:200]}"
    expected = refusal(seen)
    assert expected is not None
    errors = [(e["field"].lower(), e["code"]) for e in response.json()["errors"]]
    return None if errors == [(name.lower(), expected.code)] else str(errors)


def _placeholders(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def test_a_refused_query_names_the_parameter_and_carries_the_request_id(
    client: TestClient,
) -> None:
    response = client.get("/api/v1/stores", params={"city": "上海\x00"})
    body = response.json()
    assert (response.status_code, body["code"]) == (422, "validation_error")
    assert body["errors"][0]["field"] == "city"
    assert body["request_id"] == response.headers["x-request-id"]
    odd_key = client.get("/api/v1/stores?ci%00ty=x")
    assert (odd_key.status_code, odd_key.json()["errors"][0]["field"]) == (422, "query")


# --- bodies through the API, and nothing stored ------------------------------------------------


def row_counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


@pytest.fixture
def admin(client: TestClient, session: Session, settings: Settings) -> TestClient:
    client.headers.update(staff_headers(make_staff(session), settings))
    return client


def _bodies(session: Session) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, body, refused field) per kind of text a body carries."""
    store = make_store(session)
    member = make_member(session, store)
    n = next(_seq)
    staff = {"password": "Secret#2026", "role": "hq_admin", "all_stores": True}
    return [
        ("POST", "/api/v1/stores", {"code": f"N{n}", "name": "店\x00", "type": "owned"}, "name"),
        ("PATCH", f"/api/v1/stores/{store.id}", {"city": "上\x00海"}, "city"),
        ("PATCH", f"/api/v1/stores/{store.id}", {"address": "南京路\n1号"}, "address"),
        ("POST", "/api/v1/categories", {"code": f"C{n}", "name": "洗\x00护"}, "name"),
        ("POST", "/api/v1/products", {"sku": f"SKU{n}\x00", "name": "毛巾"}, "sku"),
        ("POST", "/api/v1/products", {"sku": f"P{n}", "name": "毛\x7f巾"}, "name"),
        (
            "POST",
            "/api/v1/staff",
            {**staff, "username": f"user{n}", "display_name": "\x1b[31m王"},
            "display_name",
        ),
        ("POST", "/api/v1/staff", {**staff, "username": f"user\x00{n}"}, "username"),
        ("POST", "/api/v1/api-keys", {"name": "POS\x00"}, "name"),
        (
            "POST",
            "/api/v1/points/rules",
            {"name": "双倍\x00", "effect": "multiply", "amount": 200},
            "name",
        ),
        (
            "POST",
            "/api/v1/points/rules",
            {
                "name": "r",
                "effect": "add_per_order",
                "amount": 5,
                "conditions": {"skus": ["A\x00"]},
            },
            "conditions.skus.0",
        ),
        ("POST", "/api/v1/members", {"mobile": "13900000000", "name": "张\x00伟"}, "name"),
        (
            "POST",
            "/api/v1/members",
            {"mobile": "13900000000", "name": "张伟", "attributes": {"note": "a\x00"}},
            "attributes.note",
        ),
        ("PATCH", f"/api/v1/members/{member.id}", {"email": "a\x00@b.cn"}, "email"),
        (
            "POST",
            f"/api/v1/members/{member.id}/identities",
            {"type": "card_no", "value": "C\x00001"},
            "value",
        ),
        (
            "PUT",
            f"/api/v1/members/{member.id}/guide",
            {"guide_id": None, "reason": "\x00"},
            "reason",
        ),
        ("POST", "/api/v1/orders", _order_with_sku(store, "S\x00"), "items.0.sku"),
        (
            "POST",
            f"/api/v1/members/{member.id}/points/adjustments",
            {"points": 10, "reason": "补偿\x00"},
            "reason",
        ),
        ("POST", "/api/v1/auth/token", {"username": "admin\x00", "password": "x"}, "username"),
    ]


def _order_with_sku(store: Store, sku: str) -> dict[str, Any]:
    body = order_body(store)
    items: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]
    body["items"] = [{**items[0], "sku": sku}]
    return body


def test_every_kind_of_body_text_is_refused_naming_the_field_and_nothing_is_stored(
    admin: TestClient, session: Session
) -> None:
    cases = _bodies(session)
    before = row_counts(session)
    for method, path, body, field in cases:
        headers = {"Idempotency-Key": f"k{next(_seq)}"}
        response = admin.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        errors = response.json()["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, "control_character")], path
    assert row_counts(session) == before


def test_a_sign_in_with_a_nul_is_refused_before_any_account_is_looked_up(
    client: TestClient, session: Session
) -> None:
    user = make_staff(session, username="cashier7")
    response = client.post("/api/v1/auth/token", json={"username": "cashier7\x00", "password": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "username"
    session.refresh(user)
    assert user.failed_logins == 0


def test_the_sign_in_password_is_only_compared_with_a_hash(
    client: TestClient, session: Session
) -> None:
    make_staff(session, username="cashier8")
    response = client.post("/api/v1/auth/token", json={"username": "cashier8", "password": "\x00"})
    assert response.status_code == 401


def test_a_nul_in_the_idempotency_key_moves_nothing(admin: TestClient, session: Session) -> None:
    store = make_store(session)
    before = row_counts(session)
    response = admin.post(
        "/api/v1/orders", json=order_body(store), headers={"Idempotency-Key": "k\x00"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert row_counts(session) == before


def test_tab_and_line_breaks_pass_in_multi_line_text_only(
    admin: TestClient, session: Session
) -> None:
    member = make_member(session, make_store(session))
    reason = "客诉补偿\n工单 A-17\t已核实"
    adjusted = admin.post(
        f"/api/v1/members/{member.id}/points/adjustments",
        json={"points": 10, "reason": reason},
        headers={"Idempotency-Key": "multi-line"},
    )
    assert adjusted.status_code == 201, adjusted.text
    assert adjusted.json()["reason"] == reason
    named = admin.post("/api/v1/stores", json={"code": "TAB1", "name": "a\tb", "type": "owned"})
    assert named.status_code == 422


def test_a_bidirectional_override_is_refused(admin: TestClient, session: Session) -> None:
    response = admin.post("/api/v1/products", json={"sku": "BIDI-1", "name": "free\u202egnp.exe"})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "name",
        "code": "bidi_override",
        "message": "contains a bidirectional override (U+202E at character 5)",
        "type": "bidi_override",
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/stores", {"code": "ZW1", "type": "owned"}),
        ("/api/v1/categories", {"code": "ZW2"}),
        ("/api/v1/products", {"sku": "ZW3"}),
        ("/api/v1/members", {"mobile": "13900000099"}),
    ],
)
def test_a_name_of_zero_width_characters_only_is_blank(
    admin: TestClient, path: str, body: dict[str, Any]
) -> None:
    response = admin.post(path, json={**body, "name": " \u200b\ufeff\u2060 "})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "missing"


def test_names_are_trimmed_of_invisible_characters_at_the_ends(
    admin: TestClient, session: Session
) -> None:
    response = admin.post(
        "/api/v1/stores",
        json={"code": "ZW9", "name": "\ufeff 静安\u200d店\u200b ", "type": "owned"},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "静安\u200d店"


# --- imports: a refused cell is its row's error ------------------------------------------------


def _upload(client: TestClient, kind: str, content: str) -> dict[str, Any]:
    """The report of the import of `content` (the client's headers authenticate it)."""
    path = f"/api/v1/imports/{kind}"
    return report_of(upload(client, path, content.encode(), {}, f"{kind}.csv", dry_run=False))


def test_member_import_refuses_a_cell_with_a_nul(admin: TestClient, session: Session) -> None:
    report = _upload(admin, "members", "手机号,姓名\n13800000101,张三\n13800000102,李\x00四\n")
    assert report["created"] == 1
    assert [(e["row"], e["field"], e["code"]) for e in report["errors"]] == [
        (3, "name", "control_character")
    ]


def test_order_import_refuses_a_nul_in_the_order_number(
    admin: TestClient, session: Session
) -> None:
    make_store(session, "IMPNUL")
    header = "store,external_id,occurred_at,sku,name,quantity,unit_price,paid\n"
    good = "IMPNUL,A-1,2026-01-05T10:00:00+08:00,S1,毛巾,1,10,10\n"
    bad = "IMPNUL,A-\x002,2026-01-05T10:00:00+08:00,S1,毛巾,1,10,10\n"
    report = _upload(admin, "orders", header + good + bad + bad + good.replace("A-1", "A-3"))
    assert (report["created"], report["orders"]) == (2, 2)
    assert [(e["row"], e["field"], e["code"]) for e in report["errors"]] == [
        (3, "external_id", "control_character")
    ]


def test_product_import_refuses_a_bidirectional_override(
    admin: TestClient, session: Session
) -> None:
    report = _upload(admin, "products", "sku,name\nP-OK,毛巾\nP-BAD,免费\u202e礼品\nP-ZW,\u200b\n")
    assert report["created"] == 1
    assert [(e["row"], e["field"], e["code"]) for e in report["errors"]] == [
        (3, "name", "bidi_override"),
        (4, "name", "missing"),
    ]


def multipart(filename: bytes, content: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    """A multipart body written by hand: test clients escape what a hostile one would send."""
    parts = [
        b'--B\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value.encode())
        for name, value in fields.items()
    ]
    parts.append(
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
        b"Content-Type: text/csv\r\n\r\n%s\r\n" % (filename, content)
    )
    return b"".join(parts) + b"--B--\r\n", {"content-type": "multipart/form-data; boundary=B"}


def test_an_upload_whose_file_name_is_not_text_is_refused(
    admin: TestClient, session: Session
) -> None:
    before = row_counts(session)
    body, headers = multipart(b"products\x00.csv", "sku,name\nP-FN,毛巾\n".encode())
    response = admin.post(
        "/api/v1/imports/products", params={"dry_run": "false"}, content=body, headers=headers
    )
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("file", "control_character")
    ]
    assert row_counts(session) == before


# --- random text never answers 500 and never stores what text cannot hold ----------------------

odd_text = st.text(
    alphabet=st.sampled_from([*CONTROL, *BIDI, *ZERO_WIDTH, "a", "店", " ", "\u2028"]),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=odd_text, city=odd_text)
def test_random_text_never_fails_and_is_stored_only_when_clean(
    admin: TestClient, session: Session, name: str, city: str
) -> None:
    code = f"H{next(_seq)}"
    created = admin.post(
        "/api/v1/stores", json={"code": code, "name": name, "type": "owned", "city": city}
    )
    assert created.status_code in (201, 422), created.text
    listed = admin.get("/api/v1/stores", params={"q": name})
    assert listed.status_code in (200, 422), listed.text
    stored = session.scalar(select(Store).where(Store.code == code))
    if created.status_code == 201:
        assert stored is not None
        assert refusal(stored.name) is None
        assert refusal(stored.city) is None
        assert stored.name == trim(stored.name) != ""
    else:
        assert stored is None
