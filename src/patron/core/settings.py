"""Settings read from `PATRON_*` environment variables."""

from __future__ import annotations

import logging
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

QUIET_HOURS = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"  # "21:00-09:00"
# Imports: the row limit and the most an .xlsx may unpack to (spreadsheet bombs), by default.
IMPORT_MAX_ROWS = 1_000_000
IMPORT_MAX_UNPACKED_MB = 1024
WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "patron", "dev", "test"}
MIN_SECRET_LENGTH = 32


class ConfigurationError(RuntimeError):
    """The settings cannot be used to start Patron."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = ""  # empty: an SQLite file in data_dir
    secret_key: str = ""
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("./var")
    token_ttl_minutes: int = 12 * 60
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    login_rate_limit: str = "30/minute"
    rate_limit_storage: str = "memory://"
    log_level: str = "INFO"
    # Member sign-in (the member page and member API): how long a member token lasts, the
    # one-time codes a mobile may ask for (one per resend interval, and this rate), and the
    # codes one client address may ask for, whatever the mobiles.
    member_token_ttl_days: int = Field(default=30, ge=1)
    member_code_resend_seconds: int = Field(default=60, ge=1)
    member_code_rate: str = "5/hour"
    member_code_client_rate: str = "20/hour"
    outbox_retention_days: int = Field(default=30, ge=1)  # delivered events kept this long
    # Every uploaded file, API or console; larger files belong to the `patron import` commands.
    max_upload_mb: int = Field(default=50, ge=1)
    # Imports: the most data rows a file may hold, and what an .xlsx may unpack to.
    import_max_rows: int = Field(default=IMPORT_MAX_ROWS, ge=1)
    import_max_unpacked_mb: int = Field(default=IMPORT_MAX_UNPACKED_MB, ge=1)
    # Orders (order files) or rows (member and product files) an import commits at a time.
    import_batch_size: int = Field(default=1000, ge=1)
    # Imports run at a time per process, off the request threads; 0 runs each in the request
    # that uploads it (tests, and scripts that want the report in the answer).
    import_workers: int = Field(default=2, ge=0)
    # Requests a keep-alive connection serves before the server closes it, so that a client's
    # connections spread again over the worker processes (`patron serve`).
    requests_per_connection: int = Field(default=100, ge=1)
    # The console's counter sale (储值消费 at a till without a POS): its one order line's sku.
    counter_sale_sku: str = Field(default="COUNTER-SALE", min_length=1)
    # Coupons: how many one order may carry (an exclusive coupon always goes alone), and the sku
    # of the order line that is delivery, which shipping coupons take off.
    coupons_per_order: int = Field(default=1, ge=1)
    coupon_shipping_sku: str = Field(default="SHIPPING", min_length=1)
    # Stored value, after the prepaid-card rules (fen): the balance cap per member, the single
    # recharge from which real-name details are required, the cooling-off period, and whether
    # spending takes principal first (else principal and bonus in proportion to the balances).
    stored_value_cap: int = Field(default=500_000, ge=1)
    stored_value_real_name_from: int = Field(default=1_000_000, ge=1)
    stored_value_cooling_off_days: int = Field(default=7, ge=0)
    stored_value_principal_first: bool = False
    # Paying with stored value: wrong member codes or payment passwords in a row before
    # stored-value payments lock, and for how long; whether the bonus part of a payment earns
    # points (and growth value), else only its principal part does.
    stored_value_verify_max_failures: int = Field(default=5, ge=1)
    stored_value_lock_minutes: int = Field(default=15, ge=1)
    stored_value_bonus_earns: bool = False
    # Checkout: how long a quote may be committed (PATRON_QUOTE_TTL, seconds).
    quote_ttl: int = Field(default=300, ge=1)
    # Background work: the task queue's Redis (empty: SQLite in data_dir, consumed in-process by
    # `patron serve`), and the public address links in messages point at.
    redis_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    # Webhooks: seconds a delivery waits for its answer, and whether URLs resolving to loopback,
    # link-local or private addresses are allowed (unset: everywhere but production).
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_private_urls: bool | None = None
    # Marketing messages: business-time quiet hours (deferred, not dropped) and how many one
    # member may get per channel in 7 days.
    quiet_hours: str = Field(default="21:00-09:00", pattern=QUIET_HOURS)
    marketing_per_week: int = Field(default=2, ge=0)
    # Profiles: the RFM window (frequency and monetary "in the window"), and the lifecycle stage
    # by days since the last purchase: `fixed` (these days) or `rhythm` (multiples of the
    # member's own average gap between purchase days, 2x at risk, 4x dormant, 8x churned, never
    # sooner than new_days x 1, 2 and 4; a member with one purchase day falls back to fixed).
    profile_window_days: int = Field(default=365, ge=1)
    lifecycle_basis: Literal["fixed", "rhythm"] = "fixed"
    lifecycle_new_days: int = Field(default=30, ge=1)
    lifecycle_at_risk_days: int = Field(default=90, ge=1)
    lifecycle_dormant_days: int = Field(default=180, ge=1)
    lifecycle_churned_days: int = Field(default=365, ge=1)

    @model_validator(mode="after")
    def _lifecycle_in_order(self) -> Settings:
        days = (
            self.lifecycle_at_risk_days,
            self.lifecycle_dormant_days,
            self.lifecycle_churned_days,
        )
        if not days[0] < days[1] < days[2]:
            raise ValueError("lifecycle days must grow: at_risk < dormant < churned")
        return self

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r}: DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("login_rate_limit", "member_code_rate", "member_code_client_rate")
    @classmethod
    def _readable_rate(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate like '30/minute': {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _usable_url(cls, value: str) -> str:
        if value:
            try:
                make_url(value).get_dialect()
            except (ArgumentError, NoSuchModuleError) as exc:
                raise ValueError(f"not a database URL this install can use: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _embedded_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'patron.db'}"
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def secret_problem(secret: str) -> str | None:
    """Why `secret` is unfit to sign tokens and derive keys, or None when it is fit."""
    if not secret:
        return "PATRON_SECRET_KEY is not set"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"PATRON_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters"
    if secret.lower() in WEAK_SECRETS or len(set(secret)) < 8:
        return "PATRON_SECRET_KEY is too weak"
    return None


def resolve_secret(settings: Settings) -> Settings:
    """Refuse a missing or weak secret in production. Elsewhere a secret that is set is used as
    it is, and an unset one is generated once and kept under the data dir, so that tokens and
    encrypted PII survive restarts."""
    problem = secret_problem(settings.secret_key)
    if problem is None or (settings.secret_key and settings.env != "production"):
        return settings
    if settings.env == "production":
        raise ConfigurationError(problem)
    path = settings.data_dir / "secret_key"
    if path.exists():
        secret = path.read_text().strip()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret)
        path.chmod(0o600)
    return settings.model_copy(update={"secret_key": secret})


@lru_cache
def get_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PATRON_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(problems) from exc
    return resolve_secret(settings)
