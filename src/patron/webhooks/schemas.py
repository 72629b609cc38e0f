from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from patron.core.inputs import Input
from patron.core.text import Label, SingleLine

Pii = Literal["masked", "full"]
DeliveryStatus = Literal["pending", "succeeded", "failed"]
EventTypes = list[SingleLine]
URL_FIELD = Field(
    min_length=1, max_length=2000, description="http or https; internal hosts refused (SSRF)."
)
TYPES_FIELD = Field(
    min_length=1,
    max_length=100,
    description='Event types delivered to this endpoint (`order.completed`, …), or `["*"]`.',
)
PII_FIELD = Field(description="`masked` (mobiles, names, e-mails masked) or `full`.")


class WebhookCreate(Input):
    url: SingleLine = URL_FIELD
    event_types: EventTypes = TYPES_FIELD
    description: Label = Field(default="", max_length=200)
    enabled: bool = True
    pii: Pii = Field(default="masked", description=PII_FIELD.description)


class WebhookUpdate(Input):
    url: SingleLine | None = Field(default=None, min_length=1, max_length=2000)
    event_types: EventTypes | None = Field(default=None, min_length=1, max_length=100)
    description: Label | None = Field(default=None, max_length=200)
    enabled: bool | None = Field(
        default=None, description="true again clears a disabling for failures."
    )
    pii: Pii | None = None


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    pii: Pii
    failing_since: datetime | None = Field(description="Every delivery has failed since then.")
    disabled_reason: str = Field(description='"failing" when disabled after 3 days of failures.')
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_…: signs every delivery. Shown once.")


class SecretRotated(BaseModel):
    id: int
    secret: str = Field(description="The new whsec_… secret, in use at once. Shown once.")


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event_id: str = Field(description="The webhook-id header: evt_<n>, the same on every retry.")
    event_type: str
    status: DeliveryStatus
    attempts: int
    response_code: int | None = Field(description="Of the last attempt; none on network errors.")
    duration_ms: int | None = Field(description="Of the last attempt.")
    error: str
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
