"""Structured JSON logs, one object a line, with the request id when there is one.

:data:`request_id_var` is the id of the HTTP request being served. It lives in the
core so that both deployables use it without importing each other: the API's
middleware sets it, the dispatcher sends it with RQ chunks, and every log record
written while it is set carries it.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import time

#: The id of the HTTP request being served (set by the API's middleware; sent with RQ chunks).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("verirl_request_id", default=None)


_ID_PREFIX = os.urandom(4).hex()
_ID_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))


def new_request_id() -> str:
    """A new request id: 16 hex characters, unique within the process (a random prefix per
    process, then a counter), with no system call per request."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFF:08x}"


def _reseed() -> None:  # a forked child must not repeat its parent's ids
    global _ID_PREFIX
    _ID_PREFIX = os.urandom(4).hex()


os.register_at_fork(after_in_child=_reseed)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "job_id", "chunk"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


class _RequestIdFilter(logging.Filter):
    """Stamp the id of the HTTP request being served on every record logged while serving it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            rid = request_id_var.get()
            if rid is not None:
                record.request_id = rid
        return True


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("math_verify").setLevel(logging.ERROR)
