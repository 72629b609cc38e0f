"""The console's journey screens over HTTP: the editor's step rows added, moved and removed
without script, refusals shown beside the row and field they concern, a journey created,
activated and walked, its flow drawn with each step's counts, and the list's figures; and the
flow's layout on its own (rows by distance from the trigger, a branch's two arrows, a loop)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.console import journey_flow, journey_form
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.demo import journeys as demo_journeys
from patron.journeys import runner
from patron.journeys import service as journeys
from patron.members import registration
from patron.members.schemas import MemberCreate
from tests.factories import make_coupon_template, make_store

DEFINITION = ("trigger", "entry_limit", "entry_days", "control_percent", "goal", "steps", "version")


def _form(csrf: str, **extra: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "name": "新客礼",
        "description": "",
        "trigger_event": "member.registered",
        "entry_limit": "once",
        "control_percent": "0",
        "goal_type": "purchase",
        "goal_days": "14",
    } | extra


def _boxes(html: str) -> dict[str, str]:
    """Each flow box's key and its counts line."""
    return dict(
        re.findall(
            r'<g class="flow-box[^"]*" data-step="([^"]+)".*?data-testid="flow-counts">([^<]*)<',
            html,
            re.S,
        )
    )


def test_edit_steps_create_activate_and_count(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    store = make_store(session)
    template = make_coupon_template(session, name="新客满100减20")
    marketing = signed_in(Role.hq_marketing)
    csrf = marketing.headers["x-csrf"]

    assert "还没有旅程" in marketing.get("/console/journeys").text
    added = marketing.post("/console/journeys/new", data=_form(csrf, op="add:wait"))
    assert added.status_code == 200
    assert 'name="steps-0-kind" value="wait"' in added.text
    assert 'name="steps-0-key" value="s1"' in added.text
    rows = _form(
        csrf,
        op="add:issue_coupon",
        **{"steps-0-kind": "wait", "steps-0-key": "s1", "steps-0-days": "1"},
    )
    two = marketing.post("/console/journeys/new", data=rows)
    assert 'name="steps-1-kind" value="issue_coupon"' in two.text
    moved = marketing.post(
        "/console/journeys/new",
        data=rows | {"op": "up:1", "steps-1-kind": "issue_coupon", "steps-1-key": "s2"},
    )
    assert moved.text.index('value="s2"') < moved.text.index('value="s1"')
    removed = marketing.post(
        "/console/journeys/new",
        data=rows | {"op": "remove:0", "steps-1-kind": "issue_coupon", "steps-1-key": "s2"},
    )
    assert 'name="steps-0-key" value="s2"' in removed.text
    assert 'name="steps-1-kind"' not in removed.text

    # Refusals beside their row: a coupon not chosen, a wait of nothing.
    refused = marketing.post(
        "/console/journeys/new",
        data=_form(
            csrf,
            op="save",
            **{
                "steps-0-kind": "wait",
                "steps-0-key": "s1",
                "steps-1-kind": "issue_coupon",
                "steps-1-key": "s2",
                "steps-1-template_id": "",
            },
        ),
    )
    assert refused.status_code == 422
    assert refused.text.count('class="field-error"') >= 2
    assert "journey-step journey-step-wait has-error" in refused.text

    # A service refusal names its step's field (a tag nobody made); the trigger's days are asked
    # for when the event takes them.
    unknown = marketing.post(
        "/console/journeys/new",
        data=_form(
            csrf,
            op="save",
            trigger_event="dormant",
            **{"steps-0-kind": "tag_add", "steps-0-key": "s1", "steps-0-tag": "无此标签"},
        ),
    )
    assert unknown.status_code == 422
    assert re.search(r'name="trigger_days"[^>]*>\s*<small class="field-error">', unknown.text)
    dormant = marketing.post(
        "/console/journeys/new",
        data=_form(
            csrf,
            op="save",
            trigger_event="dormant",
            trigger_days="90",
            **{"steps-0-kind": "tag_add", "steps-0-key": "s1", "steps-0-tag": "无此标签"},
        ),
    )
    assert dormant.status_code == 422
    assert re.search(
        r'name="steps-0-tag"[^>]*>\s*<small class="field-error">没有这个名称的标签', dormant.text
    )

    for data in ('{"coupon": ', "[1, 2]"):
        webhook = marketing.post(
            "/console/journeys/new",
            data=_form(
                csrf,
                op="save",
                **{"steps-0-kind": "webhook", "steps-0-key": "s1", "steps-0-data": data},
            ),
        )
        assert webhook.status_code == 422
        assert re.search(
            r'name="steps-0-data".*?</textarea>\s*<small class="field-error">', webhook.text, re.S
        )

    created = marketing.post(
        "/console/journeys/new",
        data=_form(
            csrf,
            op="save",
            **{
                "steps-0-kind": "issue_coupon",
                "steps-0-key": "s1",
                "steps-0-template_id": str(template.id),
                "steps-1-kind": "exit",
                "steps-1-key": "s2",
            },
        ),
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    draft = marketing.get(url)
    assert "旅程“新客礼”已创建" in draft.text
    assert _boxes(draft.text) == {"_start": "已进入 0", "s1": "尚未执行", "s2": "尚未执行"}
    assert "新客满100减20" in draft.text

    activated = marketing.post(f"{url}/activate", data={"csrf": csrf}, follow_redirects=False)
    assert activated.status_code == 303
    data = MemberCreate(mobile="13912345601", name="新会员", store_id=store.id)
    registration.register_member(session, SYSTEM, data)
    runner.advance(session, clock.now())
    walked = marketing.get(url).text
    assert "运行中" in walked
    assert _boxes(walked) == {"_start": "已进入 1", "s1": "完成 1", "s2": "完成 1"}
    listed = marketing.get("/console/journeys").text
    assert re.search(r'data-testid="journey-entries">1<', listed)
    assert f'href="{url}/report/export?format=xlsx"' in walked
    assert re.search(r'data-testid="treated-redemptions">0<', walked)
    exported = marketing.get(f"{url}/report/export?format=csv")
    assert exported.status_code == 200
    assert exported.text.splitlines()[0].startswith("\ufefffigure,treated,control")
    assert "coupon_redemptions,0,0" in exported.text

    # A change to a journey members entered is a new version: its flow starts afresh, while
    # the journey's entries still count the member inside the first.
    edit = marketing.get(f"{url}/edit").text
    assert 'name="steps-0-template_id"' in edit
    assert "已在旅程中的会员按其进入时的版本走完" in edit
    changed = marketing.post(
        f"{url}/edit",
        data=_form(
            csrf,
            op="save",
            **{
                "steps-0-kind": "wait",
                "steps-0-key": "s0",
                "steps-0-hours": "2",
                "steps-1-kind": "issue_coupon",
                "steps-1-key": "s1",
                "steps-1-template_id": str(template.id),
                "steps-2-kind": "exit",
                "steps-2-key": "s2",
            },
        ),
    )
    assert changed.status_code == 200
    assert "旅程“新客礼”已保存" in changed.text
    assert re.search(r'data-testid="journey-entry-count">1<', changed.text)
    assert _boxes(changed.text) == {
        "_start": "已进入 0",
        "s0": "尚未执行",
        "s1": "尚未执行",
        "s2": "尚未执行",
    }
    assert "v2" in changed.text
    older = marketing.get(f"{url}?version=1").text
    assert _boxes(older) == {"_start": "已进入 1", "s1": "完成 1", "s2": "完成 1"}
    assert 'data-testid="journey-older-version"' in older
    assert re.search(r'aria-current="page">v1<', older)
    assert 'aria-current="page">v2<' in changed.text
    assert marketing.get(f"{url}?version=3").status_code == 404

    english = signed_in(Role.hq_marketing, lang="en").get(url).text
    assert "Issue coupon" in english
    assert "0 entered" in english


def test_store_staff_read_and_cashiers_are_refused(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    store = make_store(session)
    manager = signed_in(Role.store_manager, [store])
    assert manager.get("/console/journeys").status_code == 200
    assert manager.get("/console/journeys/new").status_code == 403
    assert manager.get("/console/journeys/999999/report/export").status_code == 404
    assert signed_in(Role.cashier, [store]).get("/console/journeys").status_code == 403


def _describe(step: Any) -> tuple[str, str]:
    return step["type"], step.get("rule", "")


def test_the_flow_puts_each_step_below_the_steps_that_lead_to_it() -> None:
    steps: list[dict[str, Any]] = [
        {"key": "w", "type": "wait", "days": 1},
        {"key": "b", "type": "branch", "rule": "points > 100", "yes": "big", "no": "small"},
        {"key": "big", "type": "action", "action": "grant_points", "next": "end"},
        {"key": "small", "type": "action", "action": "tag_add", "next": "again"},
        {"key": "end", "type": "exit"},
        {"key": "again", "type": "wait", "days": 7, "next": "w"},
        {"key": "lonely", "type": "exit"},
    ]
    flow = journey_flow.layout(
        steps, ("trigger", "registered", "1"), _describe, {}, {"yes": "Y", "no": "N"}
    )
    rows = {box.key: box.y for box in flow.boxes}
    assert rows["_start"] < rows["w"] < rows["b"] < rows["big"] == rows["small"] < rows["end"]
    boxes = {box.key: box for box in flow.boxes}
    assert boxes["big"].x < boxes["small"].x
    assert [a.label for a in flow.arrows if a.label] == ["Y", "N"]
    # The wait that leads back up to "w" does so in the loop lane on the right.
    assert [
        (a.loop, a.path.startswith(f"M{boxes['again'].x + journey_flow.BOX_WIDTH},"))
        for a in flow.arrows
        if a.loop
    ] == [(True, True)]
    # A step nothing leads to still shows, beside the trigger, with no arrow to it.
    assert rows["lonely"] == rows["_start"]
    assert len(flow.arrows) == 7
    assert flow.width >= max(box.x for box in flow.boxes) + journey_flow.BOX_WIDTH
    assert flow.height >= max(box.y for box in flow.boxes) + journey_flow.BOX_HEIGHT


def _flat(values: dict[str, Any], csrf: str) -> dict[str, str]:
    """The editor's values as the browser posts them."""
    data = {name: value for name, value in values.items() if name != "steps"}
    for index, row in enumerate(values["steps"]):
        data |= {f"steps-{index}-{name}": value for name, value in row.items()}
    return data | {"csrf": csrf, "op": "save"}


def test_the_demo_journeys_show_and_save_unchanged(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    demo_journeys.load(session)
    marketing = signed_in(Role.hq_marketing)
    listed = marketing.get("/console/journeys").text
    for name in ("新客礼", "生日礼", "沉睡唤醒", "积分到期提醒"):
        assert name in listed
    for journey in journeys.list_journeys(session, None, 10).items:
        before = journeys.journey_out(session, journey).model_dump()
        shown = marketing.get(f"/console/journeys/{journey.id}")
        assert shown.status_code == 200
        assert len(_boxes(shown.text)) == len(before["steps"]) + 1
        assert marketing.get(f"/console/journeys/{journey.id}/edit").status_code == 200
        values = journey_form.values_of(journey.name, journey.description, before)
        saved = marketing.post(
            f"/console/journeys/{journey.id}/edit",
            data=_flat(values, marketing.headers["x-csrf"]),
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        after = journeys.journey_out(session, journey).model_dump()
        assert {k: after[k] for k in DEFINITION} == {k: before[k] for k in DEFINITION}
