"""The HTTP layer of `mctsr serve`: uvicorn's h11 protocol with a deadline for each request's headers, so a
slow client (one that opens a connection and sends nothing, or dribbles its headers a byte at a time) cannot
hold a connection forever.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive` seconds, but any byte cancels that
timer and nothing bounds the time until the request's headers are complete. Here a timer starts when a
connection opens and again when each response completes; if the next request's headers have not arrived
when it fires, the connection is closed. The body has its own deadline (`serve.read_body`, a 408), and
h11's `max_incomplete_event_size` bounds the headers' size (a 400 beyond it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HeaderDeadlineH11", "uvicorn_config", "MAX_HEADER_BYTES"]

_log = logging.getLogger("mctsr_native.serve")  # serve's own log (uvicorn's says only what goes wrong)
MAX_HEADER_BYTES = 16 << 10  # request line and headers together; an OpenAI request needs far less


class HeaderDeadlineH11(H11Protocol):
    """H11Protocol that closes a connection whose next request's headers take longer than `header_timeout`."""

    header_timeout: float = 10.0  # set on a subclass by `uvicorn_config`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _headers_late(self) -> None:
        self._header_timer = None
        waiting = self.cycle is None or self.cycle.response_complete  # no request in progress
        if waiting and not self.transport.is_closing():
            _log.info("%s:%s - closed: no complete request headers within %g s",
                             *(self.client or ("?", "?")), self.header_timeout)
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request (keep-alive) gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


def uvicorn_config(app: Any, *, host: str, port: int, header_timeout: float, **kw: Any) -> Any:
    """A uvicorn.Config serving `app` with the header deadline, a bounded header size and a short keep-alive."""
    import uvicorn

    protocol = type("HeaderDeadline", (HeaderDeadlineH11,), {"header_timeout": float(header_timeout)})
    kw.setdefault("timeout_keep_alive", 5)
    return uvicorn.Config(app, host=host, port=port, http=protocol, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                          **kw)
