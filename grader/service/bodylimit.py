"""Refuse oversized uploads before they are read: a declared Content-Length over the limit gets 413 at once,
and a body streamed without one (chunked) is cut off as soon as it passes the limit. Refuse slow ones too: a
body that has not all arrived ``timeout`` seconds after the request began gets 408, so a client trickling a
byte a second cannot hold a connection (and a spooled upload) for ever.

FastAPI parses a multipart body completely (spooling it to disk) before a route runs, so the route's own
size check would come only after a 1 GB upload had been received; this sits in front of that parser.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader.service.errors import error_response


class BodyLimit:
    """ASGI middleware capping the request body of POSTs to ``paths`` at ``max_bytes``."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, file_limit: int, paths: Collection[str], timeout: float = 30.0
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = frozenset(paths)
        self.timeout = timeout
        self.message = f"The upload is larger than the limit of {file_limit:,} bytes for nn.py."
        self.slow = f"The request body did not arrive within {timeout:g} seconds: check your connection and retry."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await error_response(413, self.message)(scope, receive, send)
            return

        received = 0
        refused = False
        complete = False
        deadline = time.monotonic() + self.timeout

        async def limited_receive() -> Message:
            nonlocal received, refused, complete
            if refused:
                return {"type": "http.disconnect"}
            if complete:  # the body is in: what is left to hear is a disconnect, however late it comes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                refused = True
                await error_response(408, self.slow, {"Connection": "close"})(scope, receive, send)
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                complete = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    await error_response(413, self.message)(scope, receive, send)
                    # The parser sees a disconnect and gives up; whatever it answers is dropped below.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
