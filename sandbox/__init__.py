"""Isolation for untrusted programs: namespaces, rlimits, cgroups, seccomp, no network.

Knows nothing of HTTP, Redis or rewards. The public interface:
:class:`Sandbox`, :class:`Limits`, :class:`RunResult`, :class:`IsolationUnavailable`.
"""

from sandbox.client import IsolationUnavailable, RunResult, Sandbox, Submission
from sandbox.policy import (
    LANGUAGES,
    LIBRARIES,
    Limits,
    available_languages,
    missing_libraries,
    resolve_language,
)

__all__ = [
    "LANGUAGES",
    "LIBRARIES",
    "IsolationUnavailable",
    "Limits",
    "RunResult",
    "Sandbox",
    "Submission",
    "available_languages",
    "missing_libraries",
    "resolve_language",
]
