"""The member's own page at /m/ (会员中心): server-rendered, mobile-first, over the same services
as the member API. Each domain's pages are a router of their own, included here."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from patron.member_page import auth_pages, check_in_pages, mall_pages, me_pages, referral_pages
from patron.member_page.web import PREFIX, STATIC_DIR, MemberLoginRequired, login_redirect


def router() -> APIRouter:
    pages = APIRouter(prefix=PREFIX, include_in_schema=False)
    for domain_pages in (
        auth_pages.router,
        me_pages.router,
        check_in_pages.router,
        mall_pages.router,
        referral_pages.router,
    ):
        pages.include_router(domain_pages)
    return pages


def mount(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="member-static")
    app.include_router(router())
    app.add_exception_handler(MemberLoginRequired, login_redirect)
