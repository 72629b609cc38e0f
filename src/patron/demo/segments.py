"""The demo's saved segments (人群), counted once loaded: they run after the profiles they read
(RFM classes and lifecycle stages come from `profiles refresh`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.segments import service
from patron.segments.schemas import SegmentIn

SEGMENTS = (
    (
        "高价值沉睡",
        "重要保持与重要挽留：花得多、最近没来",
        'rfm_class in ("important_winback", "important_retain")',
    ),
    (
        "母婴高消费金卡",
        "金卡及以上，90 天母婴消费满 ¥500，没有投诉",
        # The example.
        'tier in ("gold", "diamond")\nand spent(category="母婴", days=90) >= 50000\n'
        'and not tag("投诉")',
    ),
    (
        "短信可召回",
        "有流失风险或沉睡、同意短信的会员",
        'lifecycle in ("at_risk", "dormant") and consent("sms")',
    ),
)


def load(session: Session) -> dict[str, int]:
    """Create the demo segments that are missing, then count every segment: name -> count."""
    now = clock.now()
    have = {segment.name for segment in service.all_segments(session)}
    for name, description, rule in SEGMENTS:
        if name not in have:
            service.create(
                session, SYSTEM, SegmentIn(name=name, description=description, rule=rule), now
            )
    service.refresh_all(session, now)
    return {s.name: s.member_count or 0 for s in service.all_segments(session)}
