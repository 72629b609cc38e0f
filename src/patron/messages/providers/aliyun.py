"""Alibaba Cloud SMS (阿里云短信, dysmsapi 2017-05-25 SendSms) with the RPC signature:
HMAC-SHA1 over the sorted, percent-encoded parameters, keyed with the AccessKey secret + "&"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from urllib.parse import quote

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

VERSION = "2017-05-25"


def percent_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def signature(secret: str, method: str, params: dict[str, str]) -> str:
    digest = hmac.new(
        f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


class AliyunSms:
    name = "aliyun"
    fields: tuple[ConfigField, ...] = (
        ConfigField("access_key_id"),
        ConfigField("access_key_secret", secret=True),
        ConfigField("sign_name", required=False),
        ConfigField("region", required=False, default="cn-hangzhou"),
        ConfigField("base_url", required=False, url=True, default="https://dysmsapi.aliyuncs.com"),
        INBOUND_TOKEN,
    )

    def send(
        self, message: Message, template: MessageTemplate | None, config: dict[str, str]
    ) -> str:
        code = template_code(template)
        if not code:
            raise ProviderFailed("the template has no Alibaba Cloud template code", retry=False)
        params = {
            "AccessKeyId": config["access_key_id"],
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": config.get("region") or "cn-hangzhou",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": VERSION,
            "PhoneNumbers": (message.recipient or "").removeprefix("+86"),
            "SignName": sign_name(template, config),
            "TemplateCode": code,
            "TemplateParam": json.dumps(
                {k: str(message.variables.get(k, "")) for k in variable_names(template.body)}
                if template is not None
                else {},
                ensure_ascii=False,
            ),
        }
        params["Signature"] = signature(config["access_key_secret"], "POST", params)
        url = (config.get("base_url") or "https://dysmsapi.aliyuncs.com").rstrip("/") + "/"
        try:
            response = httpx2.post(url, data=params, timeout=HTTP_TIMEOUT)
            answer = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise ProviderFailed(f"aliyun: {type(exc).__name__}") from exc
        if not isinstance(answer, dict) or answer.get("Code") != "OK":
            code = answer.get("Code", response.status_code) if isinstance(answer, dict) else ""
            text = answer.get("Message", "") if isinstance(answer, dict) else ""
            # Throttling and service errors pass; a refused number or template does not.
            retry = str(code).startswith(("isv.BUSINESS_LIMIT", "isp.", "Throttling"))
            raise ProviderFailed(f"aliyun: {code} {text}", retry=retry)
        return str(answer.get("BizId", ""))
