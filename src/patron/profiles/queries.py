"""What other domains read of member profiles (segment rules), without reaching into the table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select

from patron.profiles.models import MemberProfile


def facts() -> Select[int, datetime | None, int, int, int, str | None, str, int | None]:
    """One row per member with a profile: member_id, last_purchase_at, orders_window,
    monetary_window, aov, rfm_class, lifecycle, clv_365. A member without a row has made no
    purchase the profiles know of (a prospect: no recency, zero counts and money)."""
    return select(
        MemberProfile.member_id,
        MemberProfile.last_purchase_at,
        MemberProfile.orders_window,
        MemberProfile.monetary_window,
        MemberProfile.aov,
        MemberProfile.rfm_class,
        MemberProfile.lifecycle,
        MemberProfile.clv_365,
    )
