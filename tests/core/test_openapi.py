"""The OpenAPI document tells what the routes answer (patron.core.openapi); the live behaviour is
held to it by the schemathesis probe in tests/api."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import text
from patron.core.ids import MAX_ROW_ID
from patron.core.settings import Settings
from tests.factories import make_staff, make_store, order_body, staff_headers

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from patron.app import create_app

    settings = Settings(env="test", database_url="sqlite://", secret_key="s" * 40)
    return create_app(settings).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def codes(operation: dict[str, Any], status: str) -> list[str]:
    schema = operation["responses"][status]["content"][PROBLEM]["schema"]
    return schema["allOf"][1]["properties"]["code"]["enum"]


def test_every_error_answer_is_a_problem_listing_its_codes(document: dict[str, Any]) -> None:
    assert set(document["components"]["schemas"]["Problem"]["required"]) >= {
        "type",
        "title",
        "status",
        "detail",
        "code",
        "instance",
        "request_id",
    }
    for method, path, operation in operations(document):
        errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
        assert errors, (method, path)
        for status, response in errors.items():
            assert list(response["content"]) == [PROBLEM], (method, path, status)
            assert codes(operation, status), (method, path, status)
            for code in codes(operation, status):
                assert f"`{code}`" in response["description"]
            assert "X-Request-ID" in response["headers"]


def test_statuses_follow_from_what_a_route_depends_on(document: dict[str, Any]) -> None:
    paths = document["paths"]
    me = paths["/api/v1/auth/me"]["get"]
    # The token is looked up; a query string holding a control character is refused (422).
    assert sorted(me["responses"]) == ["200", "401", "422", "503"]
    assert me["security"] == [{"bearer": []}]
    assert "WWW-Authenticate" in me["responses"]["401"]["headers"]
    create_store = paths["/api/v1/stores"]["post"]
    assert sorted(create_store["responses"]) == ["201", "400", "401", "403", "409", "422", "503"]
    assert codes(create_store, "409") == ["store_code_exists"]
    assert "Retry-After" in create_store["responses"]["503"]["headers"]
    get_member = paths["/api/v1/members/{member_id}"]["get"]
    assert codes(get_member, "404") == ["member_not_found"]
    assert "403" not in get_member["responses"]  # any caller; the scope hides, as 404
    upload = paths["/api/v1/imports/members"]["post"]
    assert codes(upload, "413") == ["payload_too_large"]
    assert upload["responses"]["202"]["headers"]["Location"]["required"] is True
    assert "imports_busy" in codes(upload, "503")
    assert "Retry-After" in upload["responses"]["503"]["headers"]
    assert codes(paths["/api/v1/imports/{import_id}"]["get"], "404") == ["import_not_found"]
    login = paths["/api/v1/auth/token"]["post"]
    assert "security" not in login
    assert codes(login, "401") == ["invalid_credentials"]
    assert codes(login, "429") == ["rate_limited"]
    assert codes(paths["/healthz"]["get"], "503") == ["database_unavailable"]


def test_a_route_with_a_path_id_names_what_it_does_not_find(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if "{" in path:
            assert set(codes(operation, "404")) - {"not_found"}, (method, path)


def test_idempotent_calls_require_the_key_and_document_the_replay(
    document: dict[str, Any],
) -> None:
    idempotent = [
        ("/api/v1/orders", "post"),
        ("/api/v1/orders/{order_id}/refunds", "post"),
        ("/api/v1/checkout/commit", "post"),
        ("/api/v1/members/{member_id}/points/burns", "post"),
        ("/api/v1/members/{member_id}/points/adjustments", "post"),
        ("/api/v1/coupon-templates/{template_id}/issue", "post"),
        ("/api/v1/coupon-templates/{template_id}/issue/upload", "post"),
        ("/api/v1/coupons/{code}/transfer", "post"),
        ("/api/v1/me/coupons/{code}/transfer", "post"),
        ("/api/v1/coupons/{code}/void", "post"),
        ("/api/v1/members/{member_id}/stored-value/recharges", "post"),
        ("/api/v1/members/{member_id}/count-cards", "post"),
        ("/api/v1/count-cards/{card_id}/uses", "post"),
        ("/api/v1/members/{member_id}/stored-value/adjustments", "post"),
        ("/api/v1/members/{member_id}/paid-memberships", "post"),
        ("/api/v1/campaigns/{campaign_id}/launch", "post"),
        ("/api/v1/me/check-ins", "post"),
        ("/api/v1/members/{member_id}/mall/redemptions", "post"),
        ("/api/v1/me/mall/redemptions", "post"),
        ("/api/v1/mall/redemptions/{redemption_id}/cancel", "post"),
    ]
    found = []
    for method, path, operation in operations(document):
        keys = [p for p in operation.get("parameters", []) if p["name"] == "idempotency-key"]
        if not keys:
            continue
        found.append((path, method.lower()))
        assert keys[0]["required"] is True
        assert keys[0]["schema"]["maxLength"] == 128
        responses = operation["responses"]
        assert responses["200"]["content"] == responses["201"]["content"]
        assert {"idempotency_conflict", "conflict"} <= set(codes(operation, "409"))
    assert sorted(found) == sorted(idempotent)


def test_ids_have_the_range_the_server_enforces(
    document: dict[str, Any], client: TestClient, session: Session, settings: Settings
) -> None:
    parameters = [
        p
        for _, _, operation in operations(document)
        for p in operation.get("parameters", [])
        if p["name"].endswith("_id") and p["schema"].get("type") == "integer"
    ]
    assert {p["name"] for p in parameters} >= {"member_id", "store_id", "order_id", "rule_id"}
    for parameter in parameters:
        assert parameter["schema"]["minimum"] == 1
        assert parameter["schema"]["maximum"] == MAX_ROW_ID
    body_id = document["components"]["schemas"]["ApiKeyCreate"]["properties"]["store_ids"]
    assert body_id["items"]["maximum"] == MAX_ROW_ID
    headers = staff_headers(make_staff(session), settings)
    for outside in (0, -1, MAX_ROW_ID + 1):
        response = client.get(f"/api/v1/stores/{outside}", headers=headers)
        assert response.status_code == 422, outside
        assert response.json()["errors"][0]["code"] == "out_of_range"
    assert client.get(f"/api/v1/stores/{MAX_ROW_ID}", headers=headers).status_code == 404


def test_a_405_allows_every_method_of_the_path(client: TestClient) -> None:
    member = client.options("/api/v1/members/7")
    assert member.status_code == 405
    assert member.headers["allow"] == "GET, PATCH"
    assert member.headers["content-type"] == PROBLEM
    assert client.delete("/api/v1/stores/7").headers["allow"] == "GET, PATCH"
    # /members/merge matches /members/{member_id} too, but "merge" is no member id.
    assert client.delete("/api/v1/members/merge").headers["allow"] == "POST"


def test_a_replayed_order_answers_200_with_the_first_answer(
    make_app: Any, session: Session, settings: Settings
) -> None:
    app: FastAPI = make_app()
    store = make_store(session)
    headers = {**staff_headers(make_staff(session), settings), "Idempotency-Key": "k-1"}
    body = order_body(store)
    with TestClient(app) as client:
        first = client.post("/api/v1/orders", json=body, headers=headers)
        again = client.post("/api/v1/orders", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


def test_request_bodies_take_values_in_their_json_type(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    refused = [
        ("/api/v1/api-keys", {"name": "POS", "all_stores": 1}),
        ("/api/v1/products", {"sku": "S1", "name": "x", "list_price": False}),
        ("/api/v1/points/preview", {"member_id": 1, "store_id": 1, "occurred_at": 0.5}),
    ]
    for path, body in refused:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert "wrong_type" in {e["code"] for e in response.json()["errors"]}, path
    listed = client.get("/api/v1/orders", params={"until": "0.5"}, headers=headers)
    assert listed.status_code == 422
    assert listed.json()["errors"][0]["code"] == "not_a_datetime"


def test_text_is_published_with_the_rule_the_server_holds_it_to(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    store = schemas["StoreCreate"]["properties"]
    assert store["name"]["pattern"] == text.NAME_PATTERN
    assert store["city"]["pattern"] == text.SINGLE_LINE_PATTERN
    assert store["code"]["allOf"] == [{"pattern": text.SINGLE_LINE_PATTERN}]  # beside its own
    adjustment = schemas["AdjustmentIn"]["properties"]
    assert adjustment["reason"]["pattern"] == text.MULTI_LINE_PATTERN
    attributes = schemas["MemberCreate"]["properties"]["attributes"]
    assert attributes["propertyNames"] == {"pattern": text.SINGLE_LINE_PATTERN}
    assert "patternProperties" not in str(document)  # it would let other keys through
    text_parameters = [
        (path, parameter)
        for _, path, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] in ("path", "query") and parameter["schema"].get("type") == "string"
    ]
    assert {(path, p["name"]) for path, p in text_parameters} >= {
        ("/api/v1/members", "q"),
        ("/api/v1/stores", "city"),
        ("/api/v1/member-codes/{code}", "code"),
    }
    for path, parameter in text_parameters:
        schema = parameter["schema"]
        assert text.SINGLE_LINE_PATTERN in (
            schema.get("pattern"),
            *(p["pattern"] for p in schema.get("allOf", [])),
        ), (path, parameter["name"])
    for method, path, operation in operations(document):
        assert "`control_character`" in operation["responses"]["422"]["description"], (
            method,
            path,
        )


def test_any_route_refuses_a_query_string_holding_a_control_character(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    response = client.get("/api/v1/auth/me?note=%00", headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "control_character"


def test_a_patch_field_that_may_not_be_null_says_so_and_is_refused_null(
    document: dict[str, Any], client: TestClient, session: Session, settings: Settings
) -> None:
    schemas = document["components"]["schemas"]
    for model, field in [
        ("StoreUpdate", "name"),
        ("StoreUpdate", "type"),
        ("MemberUpdate", "name"),
    ]:
        assert "null" not in str(schemas[model]["properties"][field]), (model, field)
    headers = staff_headers(make_staff(session), settings)
    store = make_store(session)
    for field in ("name", "type", "city"):
        response = client.patch(f"/api/v1/stores/{store.id}", json={field: None}, headers=headers)
        assert response.status_code == 422
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, "missing")]
    too_long = client.patch(f"/api/v1/stores/{store.id}", json={"name": "x" * 101}, headers=headers)
    assert [e["field"] for e in too_long.json()["errors"]] == ["name"]
