"""The campaigns' minute job and task: start the scheduled campaigns whose time has come
(their audience frozen in the job's transaction) and hand every running one to the queue, which
treats it batch after batch (`launch.run`). A runner that died mid-campaign is resumed here:
its committed batches stay done, the rest follow."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.campaigns import launch
from patron.campaigns.models import CampaignStatus
from patron.core.actor import SYSTEM
from patron.core.tasks import after_commit, huey
from patron.schedule.registry import EVERY_MINUTE, Job, register
from patron.segments.errors import InvalidRule

log = logging.getLogger(__name__)


@huey.task(retries=0)
def treat(campaign_id: int) -> None:
    launch.run(campaign_id)


def scheduled(session: Session, now: datetime) -> str:
    started = launch.due(session, now)
    for campaign in started:
        try:
            with session.begin_nested():
                launch.start(session, campaign, now)
        except InvalidRule as exc:  # its segment's rule changed since and no longer parses
            log.warning("campaign %s not started: %s", campaign.id, exc.detail)
            campaign.status, campaign.cancelled_at = CampaignStatus.cancelled.value, now
        audit.record(
            session,
            SYSTEM,
            "campaign.start",
            "campaign",
            campaign.id,
            after={
                "status": campaign.status,
                "audience_size": campaign.audience_size,
                "control_size": campaign.control_size,
            },
        )
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
