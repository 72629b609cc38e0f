"""A journey version's steps drawn as a flow: boxes in rows by how far they are from the trigger,
arrows between them, each box with what its step did. Laid out here and drawn by the template as
SVG (attributes, no inline style: the console's CSP allows none), so the page needs no script."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from patron.journeys.definitions import successors

BOX_WIDTH = 232
BOX_HEIGHT = 76
COLUMN = 264  # a box and the gap beside it
ROW = 124  # a box and the gap under it
MARGIN = 24
# Arrows looping back (a wait that repeats) run in a lane on the right.
LOOP_LANE = 36
START = "_start"
# Enough characters of a rule or a template to tell them apart; the box's tooltip has the rest.
LINE_CHARS = 26

Describe = Callable[[Mapping[str, Any]], tuple[str, str]]


@dataclass(frozen=True)
class Box:
    key: str
    kind: str  # trigger | wait | condition | branch | action | exit
    title: str
    detail: str  # shortened to fit; `full` has all of it
    full: str
    counts: str
    x: int
    y: int

    @property
    def cx(self) -> int:
        return self.x + BOX_WIDTH // 2


@dataclass(frozen=True)
class Arrow:
    path: str
    label: str  # "yes" / "no" on a branch's arrows, else empty
    label_x: int
    label_y: int
    loop: bool


@dataclass(frozen=True)
class Flow:
    boxes: list[Box]
    arrows: list[Arrow]
    width: int
    height: int


Edges = set[tuple[str, str]]


def _order(steps: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, list[str]], Edges]:
    """The keys in the order a walk from the trigger meets them (yes before no), the graph with
    the trigger as its root, and the arrows that go back to a step on the walk (loops)."""
    graph = {START: [steps[0]["key"]] if steps else []} | successors(steps)
    seen: list[str] = []
    state: dict[str, int] = {}
    back: Edges = set()

    def walk(key: str) -> None:
        state[key] = 1
        seen.append(key)
        for nxt in graph.get(key, []):
            if state.get(nxt) == 1:
                back.add((key, nxt))
            elif nxt not in state:
                walk(nxt)
        state[key] = 2

    walk(START)
    # Steps nothing leads to still show, at the top beside the trigger.
    for step in steps:
        if step["key"] not in state:
            walk(step["key"])
    return seen, graph, back


def _rows(seen: list[str], graph: dict[str, list[str]], back: Edges) -> dict[str, int]:
    """Each key's row: the longest way from the trigger, loops left out."""
    row = dict.fromkeys(seen, 0)
    indegree = dict.fromkeys(seen, 0)
    for key in seen:
        for nxt in graph.get(key, []):
            if (key, nxt) not in back:
                indegree[nxt] += 1
    ready = [key for key in seen if indegree[key] == 0]
    while ready:
        key = ready.pop(0)
        for nxt in graph.get(key, []):
            if (key, nxt) in back:
                continue
            row[nxt] = max(row[nxt], row[key] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return row


def layout(
    steps: Sequence[Mapping[str, Any]],
    trigger: tuple[str, str, str],
    describe: Describe,
    counts: Mapping[str, str],
    words: Mapping[str, str],
) -> Flow:
    """The flow of `steps` under a trigger box (title, detail, counts); `describe` names a step,
    `counts` says what each step did, `words` holds the labels of a branch's arrows."""
    seen, graph, back = _order(steps)
    rows = _rows(seen, graph, back)
    by_row: dict[int, list[str]] = {}
    for key in seen:
        by_row.setdefault(rows[key], []).append(key)
    columns = max(len(keys) for keys in by_row.values())
    inner = columns * COLUMN - (COLUMN - BOX_WIDTH)
    width = inner + 2 * MARGIN + LOOP_LANE
    positions: dict[str, tuple[int, int]] = {}
    for row, keys in by_row.items():
        offset = MARGIN + (inner - (len(keys) * COLUMN - (COLUMN - BOX_WIDTH))) // 2
        for index, key in enumerate(keys):
            positions[key] = (offset + index * COLUMN, MARGIN + row * ROW)
    by_key = {step["key"]: step for step in steps}
    boxes = [_box(key, by_key.get(key), trigger, describe, counts, positions[key]) for key in seen]
    placed = {box.key: box for box in boxes}
    arrows = [
        _arrow(placed[key], placed[nxt], _label(by_key.get(key), nxt, index, words), width)
        for key in seen
        for index, nxt in enumerate(graph.get(key, []))
    ]
    height = MARGIN * 2 + (max(by_row) + 1) * ROW - (ROW - BOX_HEIGHT)
    return Flow(boxes, arrows, width, height)


def _box(
    key: str,
    step: Mapping[str, Any] | None,
    trigger: tuple[str, str, str],
    describe: Describe,
    counts: Mapping[str, str],
    at: tuple[int, int],
) -> Box:
    if step is None:
        title, detail, said = trigger
        return Box(key, "trigger", title, _short(detail), detail, said, *at)
    title, detail = describe(step)
    return Box(key, step["type"], title, _short(detail), detail, counts.get(key, ""), *at)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def _label(step: Mapping[str, Any] | None, nxt: str, index: int, words: Mapping[str, str]) -> str:
    if step is None or step["type"] != "branch":
        return ""
    # A branch whose yes and no lead to the same step draws one arrow per answer all the same.
    return words["yes"] if index == 0 else words["no"]


def _arrow(source: Box, target: Box, label: str, width: int) -> Arrow:
    x1, y1 = source.cx, source.y + BOX_HEIGHT
    if target.y <= source.y:
        # Back up to an earlier step: out to the right lane, up, and in from the right.
        lane = width - LOOP_LANE // 2
        x2, y2 = target.x + BOX_WIDTH, target.y + BOX_HEIGHT // 2
        path = f"M{source.x + BOX_WIDTH},{source.y + BOX_HEIGHT // 2} H{lane} V{y2} H{x2 + 6}"
        return Arrow(path, label, lane - 4, (y1 + y2) // 2, True)
    x2, y2 = target.cx, target.y - 6
    middle = (y1 + y2) // 2
    path = f"M{x1},{y1} C{x1},{middle} {x2},{middle} {x2},{y2}"
    return Arrow(path, label, (x1 + x2) // 2 + 6, middle, False)
