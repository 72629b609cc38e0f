"""A fast local webhook receiver for the webhooks bench and the worker-kill test: HTTP/1.1 with
keep-alive on asyncio, answering every POST 200 at once. It prints `listening <port>` when
ready. `--log FILE` appends each request's webhook-id (one a line, as it arrives); `--hold-first`
never answers the first request of each webhook-id (a receiver that hangs mid-delivery).

    python bench/webhook_receiver.py --port 0 [--log FILE] [--hold-first]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import IO

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class Receiver(asyncio.Protocol):
    seen: set[bytes] = set()
    log: IO[bytes] | None = None
    hold_first = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            webhook_id = b""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    webhook_id = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if self.log is not None:
                self.log.write(webhook_id + b"\n")
                self.log.flush()
            if self.hold_first and webhook_id not in self.seen:
                self.seen.add(webhook_id)
                self.buffer = b""
                return  # hold it: no answer on this connection
            self.transport.write(OK)  # type: ignore[attr-defined]


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log")
    parser.add_argument("--hold-first", action="store_true")
    args = parser.parse_args()
    Receiver.log = open(args.log, "ab") if args.log else None  # noqa: SIM115 (open for life)
    Receiver.hold_first = args.hold_first
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
