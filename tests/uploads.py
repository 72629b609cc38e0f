"""What import tests share: uploading a file through the API and waiting for the import it
became (polling its record, never sleeping a fixed time), and batches for the importers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from patron.core.batches import Batches

UNFINISHED = ("queued", "running")


def batches(sessions: Callable[[], Session], size: int = 1000) -> Batches:
    return Batches(sessions, size)


def wait_for_import(
    client: TestClient, accepted: Response, headers: dict[str, str], timeout: float = 60.0
) -> dict[str, Any]:
    """The record of the import a 202 answer accepted, once it ended (done, failed or
    interrupted); fails the test past `timeout` seconds."""
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["Location"]
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = client.get(location, headers=headers).json()
        if record["status"] not in UNFINISHED:
            return record
        if time.monotonic() > deadline:
            pytest.fail(f"import {record['id']} still {record['status']} after {timeout} s")
        time.sleep(0.05)


def upload(
    client: TestClient,
    path: str,
    content: bytes,
    headers: dict[str, str],
    filename: str = "upload.csv",
    dry_run: bool | None = None,
) -> dict[str, Any]:
    """POST a file to an import endpoint (`dry_run` left to its default when None) and wait
    for the import to end: its record."""
    files = {"file": (filename, content, "text/csv")}
    params = {} if dry_run is None else {"dry_run": str(dry_run).lower()}
    accepted = client.post(path, files=files, params=params, headers=headers)
    return wait_for_import(client, accepted, headers)


def report_of(record: dict[str, Any]) -> dict[str, Any]:
    """The report of an import that ended well."""
    assert record["status"] == "done", record
    report: dict[str, Any] = record["report"]
    return report
