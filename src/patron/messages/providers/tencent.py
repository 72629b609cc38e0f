"""Tencent Cloud SMS (腾讯云短信, SendSms API 2021-01-11) signed with TC3-HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx2

from patron.core import clock
from patron.messages.errors import ProviderFailed
from patron.messages.models import Message, MessageTemplate
from patron.messages.providers import (
    HTTP_TIMEOUT,
    INBOUND_TOKEN,
    ConfigField,
    sign_name,
    template_code,
)
from patron.messages.rendering import variable_names

SERVICE = "sms"
VERSION = "2021-01-11"
ACTION = "SendSms"
CONTENT_TYPE = "application/json; charset=utf-8"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def authorization(secret_id: str, secret_key: str, host: str, payload: str, timestamp: int) -> str:
    """The Authorization header of TC3-HMAC-SHA256 for a POST of `payload` to `host`."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    signed_headers = "content-type;host;x-tc-action"
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{ACTION.lower()}\n",
            signed_headers,
            hashlib.sha256(payload.encode()).hexdigest(),
        ]
    )
    scope = f"{day}/{SERVICE}/tc3_request"
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), SERVICE), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


class TencentSms:
    name = "tencent"
    fields: tuple[ConfigField, ...] = (
        ConfigField("secret_id"),
        ConfigField("secret_key", secret=True),
        ConfigField("sdk_app_id"),
        ConfigField("sign_name", required=False),
        ConfigField("region", required=False, default="ap-guangzhou"),
        ConfigField(
            "base_url", required=False, url=True, default="https://sms.tencentcloudapi.com"
        ),
        INBOUND_TOKEN,
    )

    def send(
        self, message: Message, template: MessageTemplate | None, config: dict[str, str]
    ) -> str:
        code = template_code(template)
        if not code:
            raise ProviderFailed("the template has no Tencent Cloud template id", retry=False)
        # Tencent fills its template by position: the variables in the order our body names them.
        names = variable_names(template.body) if template is not None else []
        body = {
            "PhoneNumberSet": [message.recipient or ""],
            "SmsSdkAppId": config["sdk_app_id"],
            "SignName": sign_name(template, config),
            "TemplateId": code,
            "TemplateParamSet": [str(message.variables.get(n, "")) for n in names],
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        url = config.get("base_url") or "https://sms.tencentcloudapi.com"
        host = urlsplit(url).netloc
        timestamp = int(clock.wall().timestamp())
        headers = {
            "Authorization": authorization(
                config["secret_id"], config["secret_key"], host, payload, timestamp
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": VERSION,
            "X-TC-Region": config.get("region") or "ap-guangzhou",
        }
        try:
            response = httpx2.post(
                url.rstrip("/") + "/",
                content=payload.encode(),
                headers=headers,
                timeout=HTTP_TIMEOUT,
            )
            answer: Any = response.json().get("Response", {})
        except (httpx2.HTTPError, ValueError, AttributeError) as exc:
            raise ProviderFailed(f"tencent: {type(exc).__name__}") from exc
        if "Error" in answer:
            error = answer["Error"]
            retry = str(error.get("Code", "")).startswith(("InternalError", "LimitExceeded"))
            raise ProviderFailed(f"tencent: {error.get('Code')} {error.get('Message')}", retry)
        statuses = answer.get("SendStatusSet") or [{}]
        status = statuses[0]
        if status.get("Code") != "Ok":
            raise ProviderFailed(
                f"tencent: {status.get('Code')} {status.get('Message')}", retry=False
            )
        return str(status.get("SerialNo", ""))
