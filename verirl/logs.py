"""Structured JSON logs, one object a line, with the request id when there is one.

:data:`request_id_var` is the id of the HTTP request being served. It lives in the
core so that both deployables use it without importing each other: the API's
middleware sets it, the dispatcher sends it with RQ chunks, and every log record
written while it is set carries it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time

#: The id of the HTTP request being served (set by the API's middleware; sent with RQ chunks).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("verirl_request_id", default=None)


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
