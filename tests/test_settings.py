from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from patron.core.settings import ConfigurationError, Settings, resolve_secret


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
    settings = Settings()
    assert settings.database_url == "postgresql://db.example/patron"
    assert settings.tz.key == "Asia/Urumqi"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PATRON_DATABASE_URL", "PATRON_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite:///./var/patron.db"
    assert settings.timezone == "Asia/Shanghai"


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Settings(timezone="Mars/Olympus")
