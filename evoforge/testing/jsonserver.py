"""A tiny HTTP/1.1 JSON server on asyncio streams (stdlib only).

Enough protocol for OpenAI clients (keep-alive, Content-Length bodies) and cheap
enough for hundreds of requests per second and thousands of idle connections:
one coroutine per connection, no thread per request, so a "hanging" request
costs nothing but a socket.
"""
from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any, Awaitable, Callable

# handler(method, path, headers, body, reader) -> (status, payload, extra headers), or None to
# drop the connection without answering (the handler has already waited for the client to leave).
Reply = tuple[int, Any, dict[str, str]]
Handler = Callable[[str, str, dict[str, str], bytes, asyncio.StreamReader], Awaitable[Reply | None]]


def encode_response(status: int, payload: Any, headers: dict[str, str], keep_alive: bool) -> bytes:
    body = json.dumps(payload).encode()
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Status"
    lines = [f"HTTP/1.1 {status} {phrase}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class JSONServer:
    """Serves `handler` on host:port (port 0 picks a free one; see `.port`)."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0):
        self.handler, self.host, self.port = handler, host, port
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):  # 3.11's wait_closed does not wait for open connections
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # client went away mid-request
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # clean close between requests
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = request_line.split(" ", 2)
        except ValueError:
            writer.write(encode_response(400, {"error": {"message": "bad request line"}}, {}, False))
            await writer.drain()
            return False
        headers = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            writer.write(encode_response(411, {"error": {"message": "chunked bodies are not supported"}}, {}, False))
            await writer.drain()
            return False
        body = await reader.readexactly(int(headers.get("content-length") or 0))
        keep_alive = version.upper() == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        reply = await self.handler(method.upper(), target.split("?", 1)[0], headers, body, reader)
        if reply is None:
            return False
        status, payload, extra = reply
        writer.write(encode_response(status, payload, extra, keep_alive))
        await writer.drain()
        return keep_alive


async def wait_for_disconnect(reader: asyncio.StreamReader) -> None:
    """Never answer: return once the client closes the connection (e.g. its timeout fired)."""
    while await reader.read(65536):
        pass
