"""The OpenAPI document, told from the code: integrators generate clients from it.

FastAPI documents a route's success and its parameters. Everything else a route can answer is
derived here from what the route depends on, once for all routes:

- the request's session: 503 when the database stays busy (the ServiceUnavailable errors of
  patron.core; a domain's own, such as imports_busy, are declared by its routes), with
  `Retry-After`;
- the caller (`ActorDep`, or `MemberDep` for a member's own routes): 401 and the bearer security
  scheme; a `require(permission)`: 403;
- `IdempotentDep`: the `Idempotency-Key` header as required, 409 for a key reused with another
  body or still in flight, and the 200 of a replay beside the 201 of the first call;
- path parameters: 404; a body: 400 when it does not parse; an uploaded file: 413;
- every route: 422, since patron.middleware refuses text that holds what no text may (a control
  character, a bidirectional override) anywhere in the path, the query string (names too) or
  the Idempotency-Key, before any route sees the request, and the route's own validation follows;
- `*_id` integers in the path or query string: their range, which `app.bounded_ids` enforces;
  every other text parameter: the single-line pattern of patron.core.text, which the middleware
  enforces (body fields carry the pattern of their text type).

A route adds the errors of its own domain with `responses=errors(MemberNotFound, ...)`. Every
error answer is an RFC 9457 problem (`application/problem+json`) whose `code` is one of the codes
listed for that status: the classes' `code` attributes (patron.core.errors and each domain's).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.routing import BaseRoute

from patron.core import text
from patron.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PatronError,
    ServiceUnavailable,
    Unauthenticated,
)
from patron.core.idempotency import MAX_KEY_LENGTH, IdempotencyConflict
from patron.core.ids import MAX_ROW_ID, row_ids
from patron.core.reasons import Reason
from patron.core.uploads import PayloadTooLarge
from patron.deps import (
    IDEMPOTENCY_KEY_HELP,
    Guard,
    current_actor,
    current_member,
    get_session,
    idempotent,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
SECURITY_SCHEME = "bearer"
MEMBER_SECURITY_SCHEME = "memberBearer"
ROW_ID_RANGE = {"minimum": 1, "maximum": MAX_ROW_ID}
# Where `errors()` leaves a route's own problems in its `responses`, for `document` to merge.
_DECLARED = "x-patron-problems"
# PatronError itself: the status and code of a body that does not parse (problems.py).
_BAD_BODY = PatronError
# Field error codes a request that is valid by its schema may still get: their checks need stored
# rows, the clock or the caller, compare fields with each other, or read text more closely than a
# JSON Schema can (a mobile's numbering plan, a cursor the API issued, a file's contents).
BEYOND_SCHEMA = frozenset(
    {
        Reason.unknown_store,
        Reason.unknown_invite_code,
        Reason.own_invite_code,
        Reason.store_closed,
        Reason.unknown_region,
        Reason.unknown_table,  # a report's tables are its own
        Reason.store_required,  # a one-store report read by someone of several stores
        Reason.bonus_day_outside_cycle,
        Reason.unknown_member,
        Reason.unknown_guide,
        Reason.unknown_category,
        Reason.unknown_order,
        Reason.unknown_line,
        Reason.unknown_attribute,
        Reason.bad_cursor,
        Reason.stores_conflict,
        Reason.stores_missing,
        Reason.role_not_allowed,
        Reason.hq_needs_all_stores,
        Reason.regions_missing,
        Reason.regions_not_allowed,
        Reason.guide_not_in_store,
        Reason.issuer_required,
        Reason.member_of_other_store,
        Reason.merge_into_self,
        Reason.options_required,
        Reason.options_not_allowed,
        Reason.options_repeat,
        Reason.category_cycle,
        Reason.discount_exceeds_price,
        Reason.paid_mismatch,
        Reason.payments_mismatch,
        Reason.exceeds_amount_due,
        Reason.unknown_event_type,
        Reason.url_not_allowed,
        Reason.member_id_or_code,
        Reason.order_total_zero,
        Reason.order_total_too_large,
        Reason.refund_items_or_all,
        Reason.order_of_other_member,
        Reason.exceeds_order_share,
        Reason.below_min_burn,
        Reason.points_not_whole_fen,
        Reason.exceeds_points_cap,
        Reason.exceeds_category_cap,
        Reason.points_not_with_coupons,
        Reason.points_need_member,
        Reason.tenders_mismatch,
        Reason.tenders_exceed_paid,
        Reason.tier_discounts_mismatch,
        Reason.zero_points,
        Reason.balance_too_large,
        Reason.factor_not_above_one,
        Reason.in_future,
        Reason.out_of_range,  # times: before 2000, or without a UTC equivalent
        Reason.dates_reversed,
        Reason.not_a_mobile,
        Reason.file_empty,
        Reason.file_unreadable,
        Reason.columns_missing,
        Reason.duplicate_row,
        Reason.rows_not_together,
        Reason.needed_for_type,
        Reason.not_for_type,
        Reason.validity_missing,
        Reason.validity_conflict,
        Reason.members_or_mobiles,
        Reason.tag_or_tag_id,
        Reason.segment_or_rule,
        Reason.unknown_segment,
        Reason.control_reason_missing,
        Reason.budget_below_cost,
        Reason.step_key_taken,
        Reason.unknown_step,
        Reason.loop_without_wait,
        Reason.unknown_tag,
        Reason.rule_tag_is_computed,
        Reason.entry_days_needed,
        Reason.wait_kind,
        Reason.fulfilment_not_offered,
        Reason.fulfilment_details,
        # a journey condition's rule (a segment rule inside a body): its grammar is no schema's
        Reason.invalid_rule,
        Reason.transfer_to_self,
        Reason.amount_or_package,
        Reason.zero_adjustment,
        Reason.code_or_password,
        Reason.verification_without_stored_value,
        Reason.verifications_differ,
        Reason.stored_value_needs_member,
        Reason.password_too_simple,
        Reason.unknown_template,
        Reason.unknown_card_product,
        Reason.card_product_inactive,
        Reason.tier_code_taken,
        Reason.tier_rank_taken,
        Reason.retention_above_entry,
        Reason.base_tier_entry,
        Reason.base_tier_missing,
        Reason.thresholds_not_rising,
        Reason.unknown_tier,
        Reason.plan_grants_nothing,
        Reason.amount_not_for_tier,
        Reason.amount_needed,
        Reason.tier_discount_needs_member,
        Reason.tier_discount_exceeds_discounts,
        Reason.no_tier_discount,
        Reason.staff_no_tier_discount,
    }
)


def errors(*classes: type[PatronError]) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: the errors of its domain that it can answer, beyond those its
    dependencies imply (see the module docstring)."""
    declared: dict[int | str, dict[str, Any]] = {}
    for cls in classes:
        entry = declared.setdefault(cls.status, {"description": HTTPStatus(cls.status).phrase})
        entry.setdefault(_DECLARED, {})[cls.code] = cls.title
    return declared


def install(app: FastAPI) -> None:
    """Serve the document `document` makes of FastAPI's own, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(FastAPI.openapi(app), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(schema: dict[str, Any], routes: list[BaseRoute]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(_problem_schemas())
    components["headers"] = _HEADERS
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A staff token from POST /api/v1/auth/token, or an API key (pk_...).",
    }
    components["securitySchemes"][MEMBER_SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A member token from POST /api/v1/member-auth/token (the /me routes).",
    }
    for route in iter_route_contexts(routes):
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema):
            continue
        for method in route.methods or ():
            _document_operation(route, schema["paths"][route.path_format][method.lower()])
    return schema


_CORE = "patron.core."


def _subclasses(cls: type[PatronError]) -> Iterator[type[PatronError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _document_operation(route: RouteContext, operation: dict[str, Any]) -> None:
    calls = [d.call for d in _dependants(route.dependant)]
    problems: dict[int, dict[str, str]] = {}

    def answers(*classes: type[PatronError]) -> None:
        for cls in classes:
            problems.setdefault(cls.status, {})[cls.code] = cls.title

    for status, response in route.responses.items():
        if _DECLARED in response:
            problems.setdefault(int(status), {}).update(response[_DECLARED])
    headers: dict[int, dict[str, Any]] = {}
    if get_session in calls:
        answers(*(c for c in _subclasses(ServiceUnavailable) if c.__module__.startswith(_CORE)))
        headers[ServiceUnavailable.status] = {"Retry-After": _header("Retry-After")}
    # A staff or integration caller, or a member with a member token (`/me/...`): both bearers.
    if current_actor in calls or current_member in calls:
        answers(Unauthenticated)
        operation["security"] = [{SECURITY_SCHEME: []}]
    if current_member in calls:
        answers(Unauthenticated)
        operation["security"] = [{MEMBER_SECURITY_SCHEME: []}]
    if any(isinstance(call, Guard) for call in calls):
        answers(Forbidden)
    if idempotent in calls:
        answers(IdempotencyConflict, Conflict)
        _idempotency(route, operation)
    parameters = operation.get("parameters", [])
    body = operation.get("requestBody")
    if any(p["in"] == "path" for p in parameters) and NotFound.status not in problems:
        answers(NotFound)
    answers(InvalidInput)
    if body:
        answers(_BAD_BODY)
        if "multipart/form-data" in body.get("content", {}):
            answers(PayloadTooLarge)
    _parameters(route, parameters)
    responses = operation.setdefault("responses", {})
    for status in [key for key in responses if key.isdigit() and int(key) >= 400]:
        del responses[status]
    for status, codes in sorted(problems.items()):
        responses[str(status)] = _problem_response(status, codes, headers.get(status, {}))
    if Unauthenticated.status in problems:
        responses["401"]["headers"]["WWW-Authenticate"] = _header("WWW-Authenticate")
    for response in responses.values():
        response.setdefault("headers", {})["X-Request-ID"] = _header("X-Request-ID")


def _idempotency(route: RouteContext, operation: dict[str, Any]) -> None:
    """The key is required; a replay answers 200 with the first call's body."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() == "idempotency-key":
            parameter["required"] = True
            parameter["description"] = IDEMPOTENCY_KEY_HELP
            # Text (the middleware) with a character that is not a space (`check_key`): a name's
            # rule, whose blank characters beyond Latin-1 no header holds.
            parameter["schema"] = {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_KEY_LENGTH,
                "pattern": text.NAME_PATTERN,
            }
    responses = operation["responses"]
    first = responses[str(route.status_code)]
    responses["200"] = {
        **copy.deepcopy(first),
        "description": "A replay: the same Idempotency-Key and body answer the first result "
        f"again (first answered {route.status_code}).",
    }


def _parameters(route: RouteContext, parameters: list[dict[str, Any]]) -> None:
    """Ids get their range, text the single-line rule; a parameter outside the body is absent,
    never null."""
    ids = {field.alias for field in row_ids(route)}
    for parameter in parameters:
        schema = parameter.get("schema", {})
        options = schema.get("anyOf")
        if options and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            schema.pop("anyOf")
            schema.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        if parameter["in"] not in ("path", "query"):
            continue
        if parameter["name"] in ids:
            schema.update({"type": "integer", **ROW_ID_RANGE})
        elif schema.get("type") == "string":
            text.add_pattern(schema, text.SINGLE_LINE_PATTERN)


def _problem_response(
    status: int, codes: dict[str, str], headers: dict[str, Any]
) -> dict[str, Any]:
    listed = "; ".join(f"`{code}`: {title}" for code, title in sorted(codes.items()))
    description = f"{HTTPStatus(status).phrase}. Codes: {listed}."
    if status == InvalidInput.status:
        beyond = ", ".join(f"`{reason}`" for reason in sorted(BEYOND_SCHEMA))
        description += (
            " Each entry of `errors` names a field and its reason (FieldError.code). Text that"
            " holds a control character or a bidirectional override is refused wherever it is"
            " (`control_character`, `bidi_override`; the patterns of the text fields and"
            " parameters say which characters), in the path and query string of any route."
            f" Besides what the schema states, the server checks what no schema can: {beyond}."
        )
    return {
        "description": description,
        "headers": dict(headers),
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {
                    "allOf": [
                        {"$ref": PROBLEM_REF},
                        {
                            "properties": {
                                "status": {"const": status},
                                "code": {"enum": sorted(codes)},
                            }
                        },
                    ]
                }
            }
        },
    }


_HEADERS: dict[str, Any] = {
    "X-Request-ID": {
        "description": "This request's id, also in the log lines and in a problem's `request_id`.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}},
}


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _problem_schemas() -> dict[str, Any]:
    return {
        "Problem": {
            "title": "Problem",
            "description": "An RFC 9457 problem: `code` is stable, `detail` is for people.",
            "type": "object",
            "required": ["type", "title", "status", "detail", "code", "instance", "request_id"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "instance": {"type": "string", "description": "The request's path."},
                "request_id": {"type": "string"},
                "errors": {
                    "type": "array",
                    "description": "What was wrong with the input, field by field (422).",
                    "items": {"$ref": "#/components/schemas/FieldError"},
                },
                "field": {"type": "string", "description": "The field a conflict is about."},
                "line": {
                    "type": "integer",
                    "description": "`invalid_rule`: the line (from 1) where the rule fails.",
                },
                "column": {
                    "type": "integer",
                    "description": "`invalid_rule`: the column (from 1) where the rule fails.",
                },
                "expected": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "`invalid_rule`: what the rule could have had there.",
                },
            },
        },
        "FieldError": {
            "title": "FieldError",
            "type": "object",
            "required": ["field", "code", "message"],
            "properties": {
                "field": {"type": "string"},
                "code": {"type": "string", "enum": [reason.value for reason in Reason]},
                "message": {"type": "string"},
                "type": {"type": "string", "description": "The validator's own error type."},
            },
        },
    }
