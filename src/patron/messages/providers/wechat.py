"""WeChat subscribe messages (订阅消息, `cgi-bin/message/subscribe/send`) with the access token
fetched by app id and secret and cached until shortly before it expires.

The template body names the WeChat template's fields, one per line: `thing1: {{ name }}`."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx2

from patron.messages.errors import ProviderFailed
from patron.messages.models import Message, MessageTemplate
from patron.messages.providers import HTTP_TIMEOUT, ConfigField, template_code

TOKEN_MARGIN_SECONDS = 300
EXPIRED_TOKEN = {40001, 40014, 42001}
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def forget_tokens() -> None:
    with _lock:
        _tokens.clear()


def message_data(body: str) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = {}
    for line in body.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().isidentifier():
            data[key.strip()] = {"value": value.strip()[:20]}
    return data or {"thing1": {"value": body.strip()[:20]}}


class WeChatSubscribe:
    name = "wechat"
    fields: tuple[ConfigField, ...] = (
        ConfigField("app_id"),
        ConfigField("app_secret", secret=True),
        ConfigField("page", required=False),
        ConfigField("base_url", required=False, url=True, default="https://api.weixin.qq.com"),
    )

    def _base(self, config: dict[str, str]) -> str:
        return (config.get("base_url") or "https://api.weixin.qq.com").rstrip("/")

    def access_token(self, config: dict[str, str], fresh: bool = False) -> str:
        key = (self._base(config), config["app_id"])
        with _lock:
            cached = _tokens.get(key)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
            answer = self._call(
                "GET",
                f"{key[0]}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": config["app_id"],
                    "secret": config["app_secret"],
                },
            )
            token = answer.get("access_token")
            if not token:
                raise ProviderFailed(
                    f"wechat token: {answer.get('errcode')} {answer.get('errmsg')}"
                )
            ttl = int(answer.get("expires_in", 7200)) - TOKEN_MARGIN_SECONDS
            _tokens[key] = (str(token), time.monotonic() + max(ttl, 60))
            return str(token)

    def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = httpx2.request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
            answer = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise ProviderFailed(f"wechat: {type(exc).__name__}") from exc
        if not isinstance(answer, dict):
            raise ProviderFailed("wechat: unexpected answer")
        return answer

    def send(
        self, message: Message, template: MessageTemplate | None, config: dict[str, str]
    ) -> str:
        template_id = template_code(template)
        if not template_id:
            raise ProviderFailed("the template has no WeChat template id", retry=False)
        body: dict[str, Any] = {
            "touser": message.recipient or "",
            "template_id": template_id,
            "data": message_data(message.body),
        }
        if config.get("page"):
            body["page"] = config["page"]
        answer: dict[str, Any] = {}
        for attempt in range(2):
            token = self.access_token(config, fresh=attempt > 0)
            answer = self._call(
                "POST",
                f"{self._base(config)}/cgi-bin/message/subscribe/send",
                params={"access_token": token},
                json=body,
            )
            if answer.get("errcode") not in EXPIRED_TOKEN:
                break
        code = answer.get("errcode", 0)
        if code != 0:
            # 43101: the member has not subscribed (or used up the subscription): no retry.
            retry = code in (-1, 45009)
            raise ProviderFailed(f"wechat: {code} {answer.get('errmsg', '')}", retry=retry)
        return str(answer.get("msgid", ""))
