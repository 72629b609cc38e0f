"""Local fake servers for the message providers: each checks what the real service checks
(the request's signature, the access token) and answers as the real one does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, Any]]]


@contextmanager
def serve(handle: Handler) -> Iterator[str]:
    """An HTTP server on a free local port answering with `handle(method, path, headers,
    body)`; yields its base URL."""

    class Request(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = handle(self.command, self.path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Request)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class FakeAliyun:
    """dysmsapi SendSms: the RPC signature (HMAC-SHA1 over the sorted, encoded parameters)."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id, self.secret = key_id, secret
        self.sent: list[dict[str, str]] = []

    def __call__(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        params = dict(parse_qsl(body.decode()))
        given = params.pop("Signature", "")

        def enc(s: str) -> str:
            return quote(s, safe="~")  # RFC 3986, as Alibaba Cloud's docs give it

        query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
        to_sign = f"{method}&{enc('/')}&{enc(query)}"
        mac = hmac.new(f"{self.secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
        if params.get("AccessKeyId") != self.key_id or not hmac.compare_digest(
            given, base64.b64encode(mac).decode()
        ):
            return 200, {"Code": "SignatureDoesNotMatch", "Message": "bad signature"}
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            return 200, {"Code": "InvalidAction", "Message": "?"}
        self.sent.append(params)
        return 200, {"Code": "OK", "Message": "OK", "BizId": f"biz-{len(self.sent)}"}


class FakeTencent:
    """SendSms 2021-01-11 with TC3-HMAC-SHA256, recomputed from the request as sent."""

    def __init__(self, secret_id: str, secret_key: str) -> None:
        self.secret_id, self.secret_key = secret_id, secret_key
        self.sent: list[dict[str, Any]] = []

    def __call__(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        auth = headers.get("authorization", "")
        timestamp = int(headers.get("x-tc-timestamp", "0"))
        day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        canonical_headers = (
            f"content-type:{headers['content-type']}\nhost:{headers['host']}\n"
            f"x-tc-action:{headers['x-tc-action'].lower()}\n"
        )
        canonical = (
            f"{method}\n/\n\n{canonical_headers}\ncontent-type;host;x-tc-action\n"
            + hashlib.sha256(body).hexdigest()
        )
        scope = f"{day}/sms/tc3_request"
        to_sign = (
            f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n"
            + hashlib.sha256(canonical.encode()).hexdigest()
        )

        def sign(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        key = sign(sign(sign(("TC3" + self.secret_key).encode(), day), "sms"), "tc3_request")
        expected = (
            f"TC3-HMAC-SHA256 Credential={self.secret_id}/{scope}, "
            "SignedHeaders=content-type;host;x-tc-action, "
            f"Signature={hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()}"
        )
        if not hmac.compare_digest(auth, expected):
            error = {"Code": "AuthFailure.SignatureFailure", "Message": "bad signature"}
            return 200, {"Response": {"Error": error, "RequestId": "r"}}
        if headers.get("x-tc-version") != "2021-01-11" or headers["x-tc-action"] != "SendSms":
            return 200, {"Response": {"Error": {"Code": "InvalidAction"}, "RequestId": "r"}}
        payload = json.loads(body)
        self.sent.append(payload)
        status = {"SerialNo": f"serial-{len(self.sent)}", "Code": "Ok", "Message": "send success"}
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": "r"}}


class FakeWeChat:
    """cgi-bin/token and cgi-bin/message/subscribe/send; `expire()` invalidates the token."""

    def __init__(self, app_id: str, secret: str) -> None:
        self.app_id, self.secret = app_id, secret
        self.token_fetches = 0
        self.token = ""
        self.sent: list[dict[str, Any]] = []

    def expire(self) -> None:
        self.token = "expired"

    def __call__(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        url = urlsplit(path)
        query = dict(parse_qsl(url.query))
        if url.path == "/cgi-bin/token":
            if (query.get("appid"), query.get("secret")) != (self.app_id, self.secret):
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}
            self.token_fetches += 1
            self.token = f"token-{self.token_fetches}"
            return 200, {"access_token": self.token, "expires_in": 7200}
        if url.path == "/cgi-bin/message/subscribe/send":
            if query.get("access_token") != self.token or self.token == "expired":
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            self.sent.append(json.loads(body))
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": 1000 + len(self.sent)}
        return 404, {"errcode": 404}


class Receiver:
    """A webhook receiver that keeps what it got."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []

    def __call__(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        self.got.append((headers, body))
        return 200, {"ok": True}
