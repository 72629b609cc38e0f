"""The catalog: products (list, create, edit, import) and the category tree (list, create,
rename and move). Everyone reads it; HQ admins and HQ marketing keep it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.catalog import permissions as catalog_policy
from patron.catalog import service as catalog
from patron.catalog.models import Category, Product, ProductStatus
from patron.catalog.schemas import (
    CategoryCreate,
    CategoryUpdate,
    ProductCreate,
    ProductImportReport,
    ProductUpdate,
)
from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_enum, parse_id
from patron.console.i18n import Translator
from patron.console.uploads import (
    ImportScreen,
)
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    first_page_url,
    lang_of,
    next_page_url,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import clock, export
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.core.money import fen_to_yuan, yuan_to_fen
from patron.imports.models import ImportKind

router = APIRouter()
PAGE_SIZE = 20
PRODUCTS_URL = f"{PREFIX}/products"
CATEGORIES_URL = f"{PREFIX}/categories"
PRODUCT_FIELDS = ("sku", "name", "category_id", "list_price", "member_price", "status")
# Prices are INTEGER columns: on PostgreSQL at most 2³¹ − 1 fen.
MAX_FEN = 2**31 - 1
# The service's reasons (English, for API callers), as the console says them.
# --- the category tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryNode:
    category: Category
    depth: int
    parent_code: str | None
    children: int


def category_tree(categories: list[Category]) -> list[CategoryNode]:
    """Every category, each parent followed by its children (by code), with its depth."""
    known = {c.id: c for c in categories}
    children: dict[int | None, list[Category]] = {}
    for category in categories:
        parent = category.parent_id if category.parent_id in known else None
        children.setdefault(parent, []).append(category)
    nodes: list[CategoryNode] = []
    seen: set[int] = set()

    def walk(category: Category, depth: int) -> None:
        if category.id in seen:
            return
        seen.add(category.id)
        below = sorted(children.get(category.id, []), key=lambda c: c.code)
        parent = known.get(category.parent_id) if category.parent_id else None
        nodes.append(CategoryNode(category, depth, parent.code if parent else None, len(below)))
        for child in below:
            walk(child, depth + 1)

    for root in sorted(children.get(None, []), key=lambda c: c.code):
        walk(root, 0)
    # A loop the service should never let in is still listed, flat.
    for category in categories:
        walk(category, 0)
    return nodes


def _descendants(nodes: list[CategoryNode], category_id: int) -> set[int]:
    """The category and everything under it: where it may not be moved."""
    found = {category_id}
    for node in nodes:
        if node.category.parent_id in found:
            found.add(node.category.id)
    return found


@router.get("/categories")
def category_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    return _categories_page(request, session, {"parent_id": ""}, NO_ERRORS)


@router.post("/categories")
def category_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, catalog_policy.EDIT)
    values = {name: text(form, name) for name in ("code", "name", "parent_id")}
    try:
        data = CategoryCreate.model_validate(values | {"parent_id": parse_id(values["parent_id"])})
        with attempt(session):
            category = catalog.create_category(session, actor, data)
    except (ValidationError, PatronError) as error:
        return _categories_page(request, session, values, form_errors(error, t_for(request)))
    return redirect(CATEGORIES_URL, "flash.category_created", name=category.name)


def _categories_page(
    request: Request, session: Session, values: dict[str, str], errors: FormErrors
) -> HTMLResponse:
    return render(
        request,
        "catalog/categories.html",
        status=errors.status,
        nodes=category_tree(catalog.list_categories(session)),
        values=values,
        errors=errors,
    )


@router.get("/categories/{category_id:int}/edit")
def category_edit(
    request: Request, category_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, catalog_policy.EDIT)
    category = _get_category(session, category_id)
    values = {"name": category.name, "parent_id": str(category.parent_id or "")}
    return _category_form(request, session, category, values, NO_ERRORS)


@router.post("/categories/{category_id:int}/edit")
def category_update(
    request: Request, category_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, catalog_policy.EDIT)
    category = _get_category(session, category_id)
    values = {name: text(form, name) for name in ("name", "parent_id")}
    try:
        # Both fields always: an empty parent moves the category to the top.
        data = CategoryUpdate.model_validate(
            {"name": values["name"], "parent_id": parse_id(values["parent_id"])}
        )
        with attempt(session):
            catalog.update_category(session, actor, category.id, data)
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t_for(request))
        return _category_form(request, session, category, values, errors)
    return redirect(CATEGORIES_URL, "flash.category_updated", name=values["name"])


def _get_category(session: Session, category_id: int) -> Category:
    with error_page_on(NotFound):
        category = catalog.get_category(session, category_id)
    return category


def _category_form(
    request: Request,
    session: Session,
    category: Category,
    values: dict[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    nodes = category_tree(catalog.list_categories(session))
    blocked = _descendants(nodes, category.id)
    return render(
        request,
        "catalog/category_form.html",
        status=errors.status,
        category=category,
        parents=[node for node in nodes if node.category.id not in blocked],
        values=values,
        errors=errors,
    )


# --- products ---------------------------------------------------------------------------------


@router.get("/products")
def product_list(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    q: str = "",
    category: str = "",
    status: str = "",
    cursor: str = "",
) -> HTMLResponse:
    nodes = category_tree(catalog.list_categories(session))
    filters = catalog.ProductFilter(
        q=q.strip()[:100] or None,
        category_id=parse_id(category),
        status=parse_enum(ProductStatus, status),
    )
    with error_page_on(InvalidInput):
        page = catalog.list_products(session, filters, cursor or None, PAGE_SIZE)
    return render(
        request,
        "catalog/products.html",
        products=page.items,
        categories={node.category.id: node.category for node in nodes},
        nodes=nodes,
        filters={"q": q, "category": category, "status": status},
        statuses=list(ProductStatus),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


# The export's columns: the import's own headers in the page's language, so the file reads back.
EXPORT_HEADERS = {
    "zh": ("商品编码", "商品名称", "品类编码", "零售价", "会员价", "状态"),
    "en": ("sku", "name", "category_code", "list_price", "member_price", "status"),
}
EXPORT_STATUS = {"zh": {"active": "在售", "inactive": "停售"}, "en": {}}
EXPORT_BATCH = 200  # the largest page list_products gives


@router.get("/products/export")
def product_export(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    file_format: Annotated[str, Query(alias="format")] = "csv",
    q: str = "",
    category: str = "",
    status: str = "",
) -> Response:
    """The products the list's filters select, as CSV or .xlsx (prices in yuan), in the
    columns the product import reads."""
    fmt = parse_enum(export.Format, file_format)
    if fmt is None:
        raise ErrorPage(404)
    filters = catalog.ProductFilter(
        q=q.strip()[:100] or None,
        category_id=parse_id(category),
        status=parse_enum(ProductStatus, status),
    )
    lang = lang_of(request)
    rows = _export_rows(session, filters, EXPORT_STATUS[lang])
    stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
    return export.download(fmt, f"products-{stamp}", EXPORT_HEADERS[lang], rows)


def _export_rows(
    session: Session, filters: catalog.ProductFilter, statuses: dict[str, str]
) -> Iterator[tuple[export.Cell, ...]]:
    cursor = None
    while True:
        page = catalog.list_products(session, filters, cursor, EXPORT_BATCH)
        codes = catalog.category_codes(session, (p.category_id for p in page.items))
        for p in page.items:
            yield (
                p.sku,
                p.name,
                codes.get(p.category_id) if p.category_id else None,
                Decimal(fen_to_yuan(p.list_price)),
                Decimal(fen_to_yuan(p.member_price)) if p.member_price is not None else None,
                statuses.get(p.status, p.status),
            )
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@router.get("/products/new")
def product_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, catalog_policy.EDIT)
    values = {"status": ProductStatus.active.value, "list_price": "", "category_id": ""}
    return _product_form(request, session, None, values, NO_ERRORS)


@router.post("/products/new")
def product_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, catalog_policy.EDIT)
    t = t_for(request)
    values = {name: text(form, name) for name in PRODUCT_FIELDS}
    payload, problems = _product_payload(values, t)
    try:
        data = ProductCreate.model_validate(payload | {"sku": values["sku"]})
        if problems:
            raise _Refused()
        with attempt(session):
            product = catalog.create_product(session, actor, data)
    except (ValidationError, PatronError) as error:
        errors = _with_problems(form_errors(error, t), problems)
    except _Refused:
        errors = FormErrors(message=t("error.form"), fields=problems, status=422)
    else:
        return redirect(PRODUCTS_URL, "flash.product_created", name=product.name)
    return _product_form(request, session, None, values, errors)


@router.get("/products/{product_id:int}/edit")
def product_edit(
    request: Request, product_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, catalog_policy.EDIT)
    product = _get_product(session, product_id)
    values = {
        "sku": product.sku,
        "name": product.name,
        "category_id": str(product.category_id or ""),
        "list_price": fen_to_yuan(product.list_price),
        "member_price": fen_to_yuan(product.member_price)
        if product.member_price is not None
        else "",
        "status": product.status,
    }
    return _product_form(request, session, product, values, NO_ERRORS)


@router.post("/products/{product_id:int}/edit")
def product_update(
    request: Request, product_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, catalog_policy.EDIT)
    t = t_for(request)
    product = _get_product(session, product_id)
    values = {name: text(form, name) for name in PRODUCT_FIELDS if name != "sku"}
    values["sku"] = product.sku
    payload, problems = _product_payload(values, t)
    try:
        # Every field, so that an emptied member price or category is cleared.
        data = ProductUpdate.model_validate(payload)
        if problems:
            raise _Refused()
        with attempt(session):
            catalog.update_product(session, actor, product.id, data)
    except (ValidationError, PatronError) as error:
        errors = _with_problems(form_errors(error, t), problems)
    except _Refused:
        errors = FormErrors(message=t("error.form"), fields=problems, status=422)
    else:
        return redirect(PRODUCTS_URL, "flash.product_updated", name=values["name"])
    return _product_form(request, session, product, values, errors)


class _Refused(Exception):
    """Inputs refused before the service was asked."""


def _product_payload(
    values: dict[str, str], t: Translator
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields the product schemas take (prices in fen), and the inputs that do not parse."""
    problems: dict[str, str] = {}
    prices: dict[str, int | None] = {}
    for name in ("list_price", "member_price"):
        raw = values[name]
        if not raw:
            prices[name] = 0 if name == "list_price" else None
            continue
        try:
            fen = yuan_to_fen(raw)
        except ValueError:
            problems[name] = t("reason.amount")
            continue
        if fen > MAX_FEN:
            problems[name] = t("reason.amount_too_large")
            continue
        prices[name] = fen
    payload: dict[str, Any] = {
        "name": values["name"],
        "category_id": parse_id(values["category_id"]),
        "list_price": prices.get("list_price", 0),
        "member_price": prices.get("member_price"),
        "status": values["status"] or ProductStatus.active.value,
    }
    return payload, problems


def _with_problems(errors: FormErrors, problems: dict[str, str]) -> FormErrors:
    if not problems:
        return errors
    return FormErrors(
        message=errors.message,
        detail=errors.detail,
        fields=errors.fields | problems,
        status=max(errors.status, 422),
    )


def _get_product(session: Session, product_id: int) -> Product:
    with error_page_on(NotFound):
        product = catalog.get_product(session, product_id)
    return product


def _product_form(
    request: Request,
    session: Session,
    product: Product | None,
    values: dict[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "catalog/product_form.html",
        status=errors.status,
        product=product,
        values=values,
        errors=errors,
        nodes=category_tree(catalog.list_categories(session)),
        statuses=list(ProductStatus),
    )


# --- import -------------------------------------------------------------------------------------


ImportScreen(
    kind=ImportKind.products,
    path="/products/import",
    url=f"{PREFIX}/products/import",
    permission=catalog_policy.EDIT,
    template="catalog/import.html",
    report=ProductImportReport,
    headers=catalog.PRODUCT_HEADERS,
    required=("sku", "name"),
).add_to(router)
