from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from patron.catalog import permissions, service
from patron.catalog.models import ProductStatus
from patron.catalog.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    ProductCreate,
    ProductOut,
    ProductUpdate,
)
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import ActorDep, OneHopRouter, SessionDep, require

router = OneHopRouter(tags=["catalog"])
Merchandiser = Annotated[Actor, Depends(require(permissions.EDIT))]


@router.get("/categories", response_model=Page[CategoryOut])
def list_categories(
    session: SessionDep,
    actor: ActorDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
) -> Page[CategoryOut]:
    page = service.page_categories(session, cursor, limit)
    return Page(
        items=[CategoryOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/categories/{category_id}",
    response_model=CategoryOut,
    responses=errors(service.CategoryNotFound),
)
def get_category(category_id: int, session: SessionDep, actor: ActorDep) -> CategoryOut:
    return CategoryOut.model_validate(service.get_category(session, category_id))


@router.post(
    "/categories",
    response_model=CategoryOut,
    status_code=201,
    responses=errors(service.CodeTaken),
)
def create_category(data: CategoryCreate, session: SessionDep, actor: Merchandiser) -> CategoryOut:
    return CategoryOut.model_validate(service.create_category(session, actor, data))


@router.patch(
    "/categories/{category_id}",
    response_model=CategoryOut,
    responses=errors(service.CategoryNotFound),
)
def update_category(
    category_id: int, data: CategoryUpdate, session: SessionDep, actor: Merchandiser
) -> CategoryOut:
    return CategoryOut.model_validate(service.update_category(session, actor, category_id, data))


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    session: SessionDep,
    actor: ActorDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    category_id: int | None = None,
    status: ProductStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ProductOut]:
    filters = service.ProductFilter(q=q, category_id=category_id, status=status)
    page = service.list_products(session, filters, cursor, limit)
    return Page(
        items=[ProductOut.model_validate(p) for p in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/products", response_model=ProductOut, status_code=201, responses=errors(service.CodeTaken)
)
def create_product(data: ProductCreate, session: SessionDep, actor: Merchandiser) -> ProductOut:
    return ProductOut.model_validate(service.create_product(session, actor, data))


@router.get(
    "/products/{product_id}", response_model=ProductOut, responses=errors(service.ProductNotFound)
)
def get_product(product_id: int, session: SessionDep, actor: ActorDep) -> ProductOut:
    return ProductOut.model_validate(service.get_product(session, product_id))


@router.patch(
    "/products/{product_id}",
    response_model=ProductOut,
    responses=errors(service.ProductNotFound),
)
def update_product(
    product_id: int, data: ProductUpdate, session: SessionDep, actor: Merchandiser
) -> ProductOut:
    return ProductOut.model_validate(service.update_product(session, actor, product_id, data))
