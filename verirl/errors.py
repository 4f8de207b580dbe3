"""verirl's exceptions.

    VerirlError                  base of everything verirl raises on purpose
    ├── InvalidInput             the caller sent something we cannot use (4xx)
    │   └── PayloadTooLarge      over a configured size limit (413)
    ├── Overloaded               the queue is full; retry later (429)
    ├── NotFound                 an id that does not exist (404)
    ├── Unauthorized             missing or wrong API key (401)
    ├── ServiceUnavailable       the queue or store cannot be reached (503)
    ├── IsolationUnavailable     the sandbox cannot provide the isolation asked for
    └── ClientError              raised by verirl.Client for a 4xx answer

A wrong answer is never an exception: it is the verdict ``incorrect``. A
verifier that fails or runs out of time yields the verdicts ``error`` and
``timeout``, which are also values, not exceptions.
"""

from __future__ import annotations


class VerirlError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(VerirlError):
    status_code = 422
    code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    status_code = 413
    code = "payload_too_large"


class Overloaded(VerirlError):
    status_code = 429
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotFound(VerirlError):
    status_code = 404
    code = "not_found"


class Unauthorized(VerirlError):
    status_code = 401
    code = "unauthorized"


class ServiceUnavailable(VerirlError):
    status_code = 503
    code = "unavailable"


class IsolationUnavailable(VerirlError):
    status_code = 503
    code = "isolation_unavailable"


class ClientError(VerirlError):
    """A 4xx answer seen by :class:`verirl.Client`; carries the server's error body."""

    def __init__(self, status_code: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status_code} {code}: {message}" + (f" (field {field})" if field else ""), field=field)
        self.status_code = status_code
        self.code = code
