"""The campaigns' minute job and task: start the scheduled campaigns whose time has come and hand
every running one to the queue, which freezes its audience if not yet and treats it batch after
batch (`launch.run`). A runner that died mid-campaign is resumed here: a committed freeze and
committed batches stay done, the rest follow."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from patron.campaigns import launch
from patron.core.tasks import after_commit, huey
from patron.schedule.registry import EVERY_MINUTE, Job, register


@huey.task(retries=0)
def treat(campaign_id: int) -> None:
    launch.run(campaign_id, lanes=launch.LANES)


def scheduled(session: Session, now: datetime) -> str:
    started = launch.due(session, now)
    for campaign in started:
        launch.start(session, campaign, now)
    running = launch.running_ids(session)
    for campaign_id in running:
        after_commit(session, partial(treat, campaign_id))
    return f"{len(started)} started, {len(running)} running"


register(
    Job(
        "campaigns.launch",
        EVERY_MINUTE,
        scheduled,
        "Start scheduled campaigns when due; treat (or resume) running ones in batches",
    )
)
