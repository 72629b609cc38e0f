from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from patron.core.settings import ConfigurationError, Settings, get_settings, resolve_secret


def test_production_refuses_a_missing_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not set"):
        resolve_secret(Settings(env="production", secret_key="", data_dir=tmp_path))


@pytest.mark.parametrize(
    "secret", ["changeme", "short-secret", "a" * 40, "abababababababababababababababab"]
)
def test_production_refuses_a_weak_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigurationError):
        resolve_secret(Settings(env="production", secret_key=secret, data_dir=tmp_path))


def test_production_accepts_a_strong_secret(tmp_path: Path) -> None:
    secret = "k3J9-vQ2xL8pZr4T0wYb6NcH1sFmDgA7"
    assert (
        resolve_secret(Settings(env="production", secret_key=secret, data_dir=tmp_path)).secret_key
        == secret
    )


def test_development_keeps_one_generated_secret(tmp_path: Path) -> None:
    first = resolve_secret(Settings(env="development", data_dir=tmp_path))
    second = resolve_secret(Settings(env="development", data_dir=tmp_path))
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_settings_come_from_patron_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_DATABASE_URL", "postgresql://db.example/patron")
    monkeypatch.setenv("PATRON_TIMEZONE", "Asia/Urumqi")
    monkeypatch.setenv("PATRON_MAX_UPLOAD_MB", "8")
    settings = Settings()
    assert settings.database_url == "postgresql://db.example/patron"
    assert settings.tz.key == "Asia/Urumqi"
    assert settings.max_upload_bytes == 8 * 1024 * 1024


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PATRON_DATABASE_URL", "PATRON_TIMEZONE", "PATRON_MAX_UPLOAD_MB"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite:///var/patron.db"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.max_upload_mb == 50


def test_the_embedded_database_lives_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PATRON_DATABASE_URL", raising=False)
    assert Settings(data_dir=tmp_path).database_url == f"sqlite:///{tmp_path / 'patron.db'}"


def test_a_secret_set_outside_production_is_used_as_it_is(tmp_path: Path) -> None:
    settings = Settings(env="development", secret_key="my-dev-secret", data_dir=tmp_path)
    assert resolve_secret(settings).secret_key == "my-dev-secret"
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PATRON_LOG_LEVEL", "verbose"),
        ("PATRON_LOGIN_RATE_LIMIT", "lots"),
        ("PATRON_ENV", "prod"),
        ("PATRON_DATABASE_URL", "not-a-url"),
        ("PATRON_DATABASE_URL", "mysql+nodriver://db/patron"),
        ("PATRON_MAX_UPLOAD_MB", "0"),
    ],
)
def test_unusable_settings_are_refused_when_read(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match=variable):
        get_settings()
    get_settings.cache_clear()


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Settings(timezone="Mars/Olympus")
