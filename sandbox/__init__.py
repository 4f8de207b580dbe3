"""Isolation for untrusted programs: namespaces, rlimits, cgroups, seccomp, no network.

Knows nothing of HTTP, Redis or rewards. The public interface:
:class:`Sandbox`, :class:`Limits`, :class:`RunResult`, :class:`IsolationUnavailable`.
"""

from sandbox.client import IsolationUnavailable, RunResult, Sandbox, Submission
from sandbox.policy import LANGUAGES, Limits, available_languages, resolve_language

__all__ = [
    "LANGUAGES",
    "IsolationUnavailable",
    "Limits",
    "RunResult",
    "Sandbox",
    "Submission",
    "available_languages",
    "resolve_language",
]
