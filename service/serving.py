"""The front door: uvicorn's httptools protocol with the limits an open port needs.

uvicorn (the fastest of the servers measured in ``bench/serving_bench.py``) has no
header-read timeout and, with httptools, no header size limit. This protocol adds
them, in the API process itself (``make run`` and compose alike):

* **header-read timeout**: a connection must finish its request line and headers
  within ``header_timeout_s`` of opening (or of the first byte of its next request);
  otherwise it gets a 408 and is closed. A connection that sends nothing is closed
  the same way, and an idle keep-alive connection after ``keep_alive_s``.
* **header size**: more than ``max_header_bytes`` of request line and headers, or
  more than ``max_headers`` header fields, is a 431 (counted while reading, so an
  unterminated 100 MB header costs at most one read buffer past the limit).
* **connections**: at most ``max_connections`` open at once (kept below the file
  descriptor limit, which is raised to its hard cap at start-up). A new connection
  past the bound evicts the oldest connection still reading its headers, the one a
  slowloris holds; when every connection is in a request, the new one gets a 503
  and is closed. So no client can exhaust the descriptors, and ``/healthz`` on a
  fresh connection is always served.

Every refusal is the one JSON error shape (``{"error": {"code", "message"}}``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import resource
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("verirl.serving")

#: Descriptors kept for everything that is not a client connection (Redis, verifier pipes, SQLite, logs).
FD_RESERVE = 256

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


class _HeadersTooLarge(Exception):
    pass


def raise_fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one (capped at 1M); return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard if hard != resource.RLIM_INFINITY else 1 << 20, 1 << 20)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


def connection_bound(max_connections: int) -> int:
    """``max_connections``, lowered to fit under the descriptor limit with room to spare."""
    soft = raise_fd_limit()
    bound = min(max_connections, max(16, soft - FD_RESERVE))
    if bound < max_connections:
        log.warning("VERIRL_MAX_CONNECTIONS=%d lowered to %d: the descriptor limit is %d (raise `ulimit -n`)",
                    max_connections, bound, soft)
    return bound


def _error_bytes(status: int, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, _REASONS[status], len(body))
    )
    return head + body


class _Limits:
    """Shared by every connection of one server: the limits and the connections still reading headers."""

    def __init__(self, header_timeout_s: float, max_header_bytes: int, max_headers: int, max_connections: int) -> None:
        self.header_timeout_s = header_timeout_s
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_connections = max_connections
        self.reading: collections.OrderedDict[int, GuardedProtocol] = collections.OrderedDict()  # oldest first
        self.evicted = 0


class GuardedProtocol(HttpToolsProtocol):
    limits: _Limits  # set on the subclass :func:`protocol_class` makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._parsed_bytes = 0
        self._nheaders = 0
        self._in_headers = False
        self._refused = False

    # -- header phase ----------------------------------------------------------

    def _start_headers(self) -> None:
        if self._in_headers:
            return
        self._in_headers = True
        self._header_bytes = 0
        self._parsed_bytes = 0
        self._nheaders = 0
        self.limits.reading[id(self)] = self
        self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._header_timeout)

    def _end_headers(self) -> None:
        self._in_headers = False
        self.limits.reading.pop(id(self), None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._end_headers()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self.transport.write(_error_bytes(status, code, message))
        self.transport.close()

    def _header_timeout(self) -> None:
        self._header_timer = None
        self._refuse(408, "request_timeout", f"request headers not received within {self.limits.header_timeout_s:g} s")

    # -- protocol interface ----------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        lim = self.limits
        if len(self.connections) > lim.max_connections:
            victim = next(iter(lim.reading.values()), None)
            if victim is None:
                self._refuse(503, "too_many_connections",
                             f"{lim.max_connections} connections are open and all are in a request; retry later")
                return
            lim.evicted += 1
            victim._end_headers()
            victim.transport.abort()  # no goodbye: it is holding a slot without sending
        self._start_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_headers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_headers and self.cycle is not None and self.cycle.response_complete and not self.pipeline:
            self._start_headers()  # the first bytes of the next request on a keep-alive connection
        if self._in_headers:
            self._header_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadersTooLarge):
                self._refuse(431, "headers_too_large", str(exc.__context__))
                return
            self._bad_request()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431, "headers_too_large",
                         f"request line and headers larger than {self.limits.max_header_bytes} bytes")

    def _bad_request(self) -> None:
        self._end_headers()
        if not self._refused and not self.transport.is_closing():
            self._refused = True
            self.send_400_response("Invalid HTTP request received.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_headers()

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        self._check_size()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._nheaders += 1
        if self._nheaders > self.limits.max_headers:
            raise _HeadersTooLarge(f"more than {self.limits.max_headers} header fields")
        self._parsed_bytes += len(name) + len(value) + 4
        self._check_size()
        super().on_header(name, value)

    def _check_size(self) -> None:
        """Headers that arrive in one read are complete before data_received can count them."""
        if self._parsed_bytes > self.limits.max_header_bytes:
            raise _HeadersTooLarge(f"request line and headers larger than {self.limits.max_header_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._end_headers()
        super().on_headers_complete()


def protocol_class(header_timeout_s: float, max_header_bytes: int, max_headers: int, max_connections: int) -> type:
    """A :class:`GuardedProtocol` bound to one server's limits (uvicorn's ``http=`` takes a class)."""
    limits = _Limits(header_timeout_s, max_header_bytes, max_headers, max_connections)
    return type("VerirlHttpProtocol", (GuardedProtocol,), {"limits": limits})
