from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class NamedOut(BaseModel):
    id: int
    code: str
    name: str


class RfmOut(BaseModel):
    r: int | None = Field(description="1-5, high = recent; null outside the RFM window.")
    f: int | None
    m: int | None
    rfm_class: str | None = Field(
        alias="class",
        description="important_value, important_develop, important_retain, important_winback, "
        "general_value, general_develop, general_retain or general_winback.",
    )

    model_config = {"populate_by_name": True}


class ClvOut(BaseModel):
    p_alive: float | None
    expected_purchases_365: float | None
    clv_365: int | None = Field(description="Expected value of the next 365 days, fen.")


class ProfileOut(BaseModel):
    member_id: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    recency_days: int | None = Field(description="Business days since the last purchase.")
    orders_lifetime: int
    monetary_lifetime: int = Field(description="Net of refunds, fen.")
    orders_window: int
    monetary_window: int
    window_days: int
    aov: int
    purchase_days: int
    lifecycle: str = Field(description="prospect, new, active, at_risk, dormant or churned.")
    rfm: RfmOut
    clv: ClvOut
    preferred_stores: list[NamedOut]
    preferred_channels: list[str]
    preferred_categories: list[NamedOut]
    preferred_weekday: int | None = Field(description="0 = Monday, business time.")
    preferred_hour: int | None
    similar_categories: list[NamedOut]
    facts_at: datetime | None
    refreshed_at: datetime | None


class BgNbdParams(BaseModel):
    r: float
    alpha: float
    a: float
    b: float


class GammaGammaParams(BaseModel):
    p: float
    q: float
    gamma: float


class ClvFitOut(BaseModel):
    model: str
    time_unit: str
    params: BgNbdParams
    spend_params: GammaGammaParams
    customers: int
    fitted_at: datetime
    data_until: datetime
