"""The catalog: a tree of categories and the products sold. A POS never fails on a new product:
an order line with an unknown sku creates it from the line's name and category code."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from sqlalchemy import Select, String, Table, bindparam, func, or_, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.catalog.models import Category, Product, ProductStatus
from patron.catalog.schemas import (
    CATEGORY_CODE_LENGTH,
    CategoryCreate,
    CategoryUpdate,
    ProductCreate,
    ProductImportReport,
    ProductUpdate,
)
from patron.core import clock
from patron.core.actor import Actor
from patron.core.batches import Batches
from patron.core.db import insert_or_skip, unique_or
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.money import MAX_FEN, yuan_to_fen
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.core.statements import Prepared
from patron.core.tabular import (
    DEFAULT_LIMITS,
    FileLimits,
    RowError,
    cell_text,
    check_key,
    read_table,
    row_error,
)

PRODUCTS = cast(Table, Product.__table__)
CATEGORIES = cast(Table, Category.__table__)


class CategoryNotFound(NotFound):
    code = "category_not_found"
    title = "Category not found"


class ProductNotFound(NotFound):
    code = "product_not_found"
    title = "Product not found"


class CodeTaken(Conflict):
    code = "code_taken"
    title = "This code is taken"


# --- categories -------------------------------------------------------------------------------


def list_categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).order_by(Category.code)))


def page_categories(session: Session, cursor: str | None, limit: int) -> PageResult[Category]:
    return paginate(session, select(Category), Category.id, cursor, limit)


def get_category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None:
        raise CategoryNotFound(f"no category {category_id}")
    return category


def _check_parent(session: Session, category_id: int | None, parent_id: int | None) -> None:
    seen = {category_id}
    while parent_id is not None:
        if parent_id in seen:
            raise InvalidInput(
                "parent_id", "a category cannot sit under itself", code=Reason.category_cycle
            )
        seen.add(parent_id)
        parent = session.get(Category, parent_id)
        if parent is None:
            raise InvalidInput(
                "parent_id", f"no category {parent_id}", code=Reason.unknown_category
            )
        parent_id = parent.parent_id


def create_category(session: Session, actor: Actor, data: CategoryCreate) -> Category:
    _check_parent(session, None, data.parent_id)
    category = Category(code=data.code, name=data.name, parent_id=data.parent_id)
    taken = CodeTaken(f"category code {data.code} is taken", field="code")
    with unique_or(session, {"uq_categories_code": taken}):
        session.add(category)
    audit.record(
        session, actor, "category.create", "category", category.id, after=data.model_dump()
    )
    return category


def update_category(
    session: Session, actor: Actor, category_id: int, data: CategoryUpdate
) -> Category:
    category = get_category(session, category_id)
    changes = data.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        _check_parent(session, category.id, data.parent_id)
        category.parent_id = data.parent_id
    if data.name is not None:
        category.name = data.name
    session.flush()
    audit.record(session, actor, "category.update", "category", category.id, after=changes)
    return category


def descendant_ids(session: Session, category_id: int) -> set[int]:
    """The category and everything under it."""
    children: dict[int | None, list[int]] = {}
    for cid, parent_id in session.execute(select(Category.id, Category.parent_id)):
        children.setdefault(parent_id, []).append(cid)
    found, frontier = {category_id}, [category_id]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


# --- products ---------------------------------------------------------------------------------


@dataclass
class ProductFilter:
    q: str | None = None
    category_id: int | None = None
    status: ProductStatus | None = None


def list_products(
    session: Session, filters: ProductFilter, cursor: str | None, limit: int
) -> PageResult[Product]:
    query = select(Product)
    if filters.q:
        pattern = f"%{filters.q.lower()}%"
        query = query.where(
            or_(func.lower(Product.sku).like(pattern), func.lower(Product.name).like(pattern))
        )
    if filters.category_id is not None:
        query = query.where(Product.category_id.in_(descendant_ids(session, filters.category_id)))
    if filters.status is not None:
        query = query.where(Product.status == filters.status.value)
    return paginate(session, query, Product.id, cursor, limit)


def get_product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    return product


def _check_category(session: Session, category_id: int | None) -> None:
    if category_id is not None and session.get(Category, category_id) is None:
        raise InvalidInput(
            "category_id", f"no category {category_id}", code=Reason.unknown_category
        )


def create_product(session: Session, actor: Actor, data: ProductCreate) -> Product:
    _check_category(session, data.category_id)
    product = Product(**data.model_dump(mode="json"))
    with unique_or(session, {"uq_products_sku": CodeTaken(f"sku {data.sku} exists", field="sku")}):
        session.add(product)
    audit.record(
        session, actor, "product.create", "product", product.id, after=data.model_dump(mode="json")
    )
    return product


def update_product(session: Session, actor: Actor, product_id: int, data: ProductUpdate) -> Product:
    product = get_product(session, product_id)
    changes = data.model_dump(mode="json", exclude_unset=True)
    if "category_id" in changes:
        _check_category(session, data.category_id)
    for field in ("name", "list_price", "status"):
        if changes.get(field, None) is None:
            changes.pop(field, None)
    before = {k: getattr(product, k) for k in changes}
    for field, value in changes.items():
        setattr(product, field, value)
    session.flush()
    audit.record(
        session, actor, "product.update", "product", product.id, before=before, after=changes
    )
    return product


@dataclass(frozen=True)
class LineProduct:
    """What an order line says about its product."""

    sku: str
    name: str
    category_code: str | None


def ensure_products(session: Session, lines: Iterable[LineProduct]) -> dict[str, Product]:
    """The products for these lines by sku, creating any the catalog does not know yet (and
    their categories, named by code until HQ names them). Safe when two orders bring the same
    new sku at once: the insert skips what another transaction just created."""
    wanted = {line.sku: line for line in lines}
    known = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(wanted)))}
    missing = [line for sku, line in wanted.items() if sku not in known]
    if not missing:
        return known
    codes = {line.category_code for line in missing if line.category_code}
    categories = ensure_categories(session, codes)
    rows = [
        {
            "sku": line.sku,
            "name": line.name,
            "category_id": categories[line.category_code].id if line.category_code else None,
            "list_price": 0,
            "status": ProductStatus.active.value,
            "created_at": clock.now(),
            "updated_at": clock.now(),
        }
        for line in sorted(missing, key=lambda line: line.sku)  # one lock order for all orders
    ]
    _insert_missing(session, PRODUCTS, rows, "sku")
    created = session.scalars(
        select(Product).where(Product.sku.in_([line.sku for line in missing]))
    )
    return known | {p.sku: p for p in created}


def products_by_sku(session: Session, skus: list[str]) -> dict[str, Product]:
    return {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}


@dataclass(frozen=True)
class SkuCategory:
    """A known sku's product and its category, as a till prices it."""

    product_id: int
    category_id: int | None
    category_code: str | None


# Prepared per number of skus, up to this many (a basket's); more go through Session.execute.
PREPARED_SKUS = 16
_sku_categories: dict[int, Prepared] = {}


def sku_categories(session: Session, skus: list[str]) -> dict[str, SkuCategory]:
    """The product and category of each sku the catalog knows, in one statement."""
    if not skus:
        return {}
    params = {f"sku_{n}": sku for n, sku in enumerate(skus)}
    rows: Sequence[Any]
    if len(skus) > PREPARED_SKUS:
        rows = session.execute(_sku_categories_query(len(skus)), params).all()
    else:
        statement = _sku_categories.get(len(skus))
        if statement is None:
            count = len(skus)
            statement = _sku_categories[count] = Prepared(lambda _: _sku_categories_query(count))
        rows = statement.rows(session, params)
    return {sku: SkuCategory(pid, cid, code) for sku, pid, cid, code in rows}


def _sku_categories_query(count: int) -> Select[tuple[str, int, int | None, str | None]]:
    skus = [bindparam(f"sku_{n}", type_=String()) for n in range(count)]
    joined = PRODUCTS.outerjoin(CATEGORIES, CATEGORIES.c.id == PRODUCTS.c.category_id)
    columns = (PRODUCTS.c.sku, PRODUCTS.c.id, PRODUCTS.c.category_id, CATEGORIES.c.code)
    return select(*columns).select_from(joined).where(PRODUCTS.c.sku.in_(skus))


def ensure_categories(session: Session, codes: set[str]) -> dict[str, Category]:
    known = {c.code: c for c in session.scalars(select(Category).where(Category.code.in_(codes)))}
    missing = codes - set(known)
    if missing:
        now = clock.now()
        rows = [
            {"code": c, "name": c, "created_at": now, "updated_at": now} for c in sorted(missing)
        ]
        _insert_missing(session, CATEGORIES, rows, "code")
        created = session.scalars(select(Category).where(Category.code.in_(missing)))
        known |= {c.code: c for c in created}
    return known


def _insert_missing(session: Session, table: Table, rows: list[dict[str, Any]], key: str) -> None:
    session.execute(
        insert_or_skip(session, table).on_conflict_do_nothing(index_elements=[key]), rows
    )


def category_codes(session: Session, category_ids: Iterable[int | None]) -> dict[int, str]:
    ids = {cid for cid in category_ids if cid is not None}
    if not ids:
        return {}
    rows = session.execute(select(Category.id, Category.code).where(Category.id.in_(ids)))
    return {cid: code for cid, code in rows}


def category_names(session: Session, category_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Each category's code and name, by id (profiles name a member's preferred categories)."""
    ids = set(category_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Category.id, Category.code, Category.name).where(Category.id.in_(ids))
    )
    return {cid: (code, name) for cid, code, name in rows}


# --- import -----------------------------------------------------------------------------------

PRODUCT_HEADERS = {
    "sku": "sku", "商品编码": "sku", "条码": "sku",
    "name": "name", "商品名称": "name", "名称": "name",
    "category_code": "category_code", "category": "category_code", "品类编码": "category_code",
    "品类": "category_code",
    "list_price": "list_price", "零售价": "list_price",
    "member_price": "member_price", "会员价": "member_price",
    "status": "status", "状态": "status",
}  # fmt: skip


def import_products(
    batches: Batches,
    actor: Actor,
    content: bytes,
    filename: str,
    dry_run: bool,
    limits: FileLimits = DEFAULT_LIMITS,
) -> ProductImportReport:
    """Create or update products by sku from a file, prices in yuan, `batches.size` products
    per transaction. Re-running is a no-op."""
    report = ProductImportReport(
        dry_run=dry_run, rows=0, created=0, updated=0, skipped=0, errors=[]
    )
    rows = read_table(content, filename, PRODUCT_HEADERS, ("sku", "name"), limits)
    parsed = list(_parse_products(rows, report))
    for start in range(0, len(parsed), batches.size):
        chunk = parsed[start : start + batches.size]
        work = partial(_write_products, parsed=chunk, dry_run=dry_run)
        batches.write(work, report.rows).add_to(report)
    if not dry_run:
        after = report.model_dump(include={"rows", "created", "updated", "skipped"})
        batches.write(
            lambda session: audit.record(
                session, actor, "product.import", "product_import", filename, after=after
            ),
            report.rows,
        )
    return report


@dataclass
class ProductOutcome:
    """What one batch of an import did, added to the report once it commits."""

    created: int = 0
    updated: int = 0
    skipped: int = 0

    def add_to(self, report: ProductImportReport) -> None:
        report.created += self.created
        report.updated += self.updated
        report.skipped += self.skipped


def _write_products(
    session: Session, parsed: list[dict[str, Any]], dry_run: bool
) -> ProductOutcome:
    outcome = ProductOutcome()
    categories = (
        {}
        if dry_run
        else ensure_categories(session, {p["category_code"] for p in parsed if p["category_code"]})
    )
    existing = {
        p.sku: p
        for p in session.scalars(select(Product).where(Product.sku.in_([p["sku"] for p in parsed])))
    }
    for row in parsed:
        values = {k: v for k, v in row.items() if k != "category_code"}
        code = row["category_code"]
        product = existing.get(row["sku"])
        if product is None:
            outcome.created += 1
            if not dry_run:
                session.add(Product(**values, category_id=categories[code].id if code else None))
            continue
        target_category = categories[code].id if code and not dry_run else product.category_id
        changes = {k: v for k, v in values.items() if getattr(product, k) != v}
        if code and not dry_run and product.category_id != target_category:
            changes["category_id"] = target_category
        if not changes:
            outcome.skipped += 1
            continue
        outcome.updated += 1
        if not dry_run:
            for field, value in changes.items():
                setattr(product, field, value)
    session.flush()
    return outcome


def _parse_products(
    rows: Iterator[tuple[int, dict[str, Any]]], report: ProductImportReport
) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    for number, row in rows:
        report.rows += 1
        try:
            item = _parse_product(row)
        except RowError as error:
            report.errors.append(error.as_report(number))
            continue
        if item["sku"] in seen:
            report.errors.append(
                row_error(number, "sku", Reason.duplicate_row, "repeats an earlier row")
            )
            continue
        seen.add(item["sku"])
        yield item


def _parse_product(row: dict[str, Any]) -> dict[str, Any]:
    sku, name = cell_text(row.get("sku")), cell_text(row.get("name"))
    check_key("sku", sku)
    if not name:
        raise RowError("name", "missing", code=Reason.missing)
    category_code = cell_text(row.get("category_code")) or None
    if category_code is not None and len(category_code) > CATEGORY_CODE_LENGTH:
        reason = f"longer than {CATEGORY_CODE_LENGTH} characters"
        raise RowError("category_code", reason, code=Reason.too_long)
    item: dict[str, Any] = {"sku": sku, "name": name[:200], "category_code": category_code}
    for field in ("list_price", "member_price"):
        text = cell_text(row.get(field))
        if text:
            try:
                item[field] = yuan_to_fen(text)
            except ValueError as exc:
                raise RowError(field, str(exc), code=Reason.not_an_amount) from exc
            if not 0 <= item[field] <= MAX_FEN:
                reason = f"negative or above {MAX_FEN} fen"
                raise RowError(field, reason, code=Reason.out_of_range)
    status = cell_text(row.get("status")).lower()
    if status:
        if status not in {"active", "inactive", "在售", "停售"}:
            raise RowError("status", "active/inactive (在售/停售)", code=Reason.not_a_status)
        item["status"] = "inactive" if status in {"inactive", "停售"} else "active"
    return item


def category_ids_matching(session: Session, code_or_name: str) -> set[int]:
    """The categories whose code or name is the given text, and everything under them (segment
    rules name a category either way); empty when none matches."""
    roots = session.scalars(
        select(Category.id).where(or_(Category.code == code_or_name, Category.name == code_or_name))
    ).all()
    found: set[int] = set()
    for root in roots:
        if root not in found:
            found |= descendant_ids(session, root)
    return found
