"""A request head must arrive in time: uvicorn's HTTP/1.1 protocol with a header timeout.

uvicorn bounds the size of a request head (``h11_max_incomplete_event_size``) and how long a kept-alive
connection may sit idle between requests (``timeout_keep_alive``), but not how long a head may take to arrive:
its keep-alive timer is cancelled by the first byte of the next request, and a new connection has no timer at
all. A client sending a header byte every few seconds would hold a connection for ever (slowloris). This
protocol starts a timer when a connection opens and whenever a new request begins, and answers 408 and closes
when the head is not complete in time. The body has its own deadline (:mod:`grader.service.bodylimit`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_BODY = b'{"detail": "The request headers did not arrive in time."}'
RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class HeaderTimeoutProtocol(H11Protocol):
    """:class:`H11Protocol` that gives each request head ``header_timeout`` seconds from its first byte (or from
    the connection's opening)."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # h11 says IDLE for the client until a whole request head has been parsed.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()
        else:
            self._disarm()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self.cycle is None or self.cycle.response_complete:  # never talk over a response in progress
                self.transport.write(RESPONSE)
            self.transport.close()


def protocol_with(header_timeout: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class with this timeout (uvicorn takes a class, not an instance)."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": header_timeout})
