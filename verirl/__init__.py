"""verirl: verifiable rewards and data curation for RL of reasoning LLMs.

The public face is this module's ``__all__``; everything else is private.
"""

from verirl._version import __version__
from verirl.client import AsyncClient, Client
from verirl.errors import (
    ClientError,
    InvalidInput,
    IsolationUnavailable,
    NotFound,
    Overloaded,
    ServiceUnavailable,
    Unauthorized,
    VerirlError,
)

__all__ = [
    "__version__",
    "AsyncClient",
    "Client",
    "ClientError",
    "InvalidInput",
    "IsolationUnavailable",
    "NotFound",
    "Overloaded",
    "ServiceUnavailable",
    "Unauthorized",
    "VerirlError",
]
