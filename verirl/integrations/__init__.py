"""Drop-in reward functions for trainers: ``verirl.integrations.verl`` and ``verirl.integrations.trl``.

Both talk to a running verirl server through :mod:`verirl.client` only (httpx),
so a training environment needs only the ``verirl`` package (``pip install /path/to/verirl``
from a clone), not the server stack.
"""
