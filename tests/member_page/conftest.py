"""The member page's tests read sign-in codes from the SMS log as member sign-in's tests do."""

from __future__ import annotations

from tests.member_auth.conftest import (  # noqa: F401 (fixtures)
    SmsLog,
    _deliveries_in_test_transaction,
    sms_log,
    sms_on,
)

__all__ = ["SmsLog"]
